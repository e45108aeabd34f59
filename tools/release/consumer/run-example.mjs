// Runs a module with console.log captured, then prints what it logged as one line of JSON: the
// install check runs the README's example this way in the repository and in the installed project,
// and compares the two.
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const logged = [];
const log = console.log;
console.log = (...args) => logged.push(args);
try {
  await import(pathToFileURL(resolve(process.argv[2])).href);
} finally {
  console.log = log;
}
console.log(JSON.stringify(logged));
