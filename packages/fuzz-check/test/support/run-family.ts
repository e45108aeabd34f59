/**
 * The child process of one fuzz family (isolated.ts starts it and watches it):
 *
 *   node --conditions=@kiln/source --import tsx run-family.ts <family> <seed> <runs> [<path>]
 *
 * Before each case it writes `case <n>` to stdout (a pipe: written synchronously on Linux), so that
 * if the process dies or hangs in a case the parent knows which; at the end `done <runs>`. A case
 * that fails its check (a defect that did not crash) makes fast-check shrink it here and print
 * `fail <message>` with the seed and path that replay it.
 */
import { writeSync } from 'node:fs';
import fc from 'fast-check';
import '@kiln/autograd';
import { families } from '../families/index.js';

const [name, seedText, runsText, path] = process.argv.slice(2) as [string, string, string, string | undefined];
const fam = families[name];
if (!fam) {
  writeSync(1, `fail unknown family ${name}\n`);
  process.exit(1);
}
let n = 0;
const property = fc.property(fam.arbitrary, (input) => {
  writeSync(1, `case ${n++}\n`);
  // KILN_FUZZ_PRINT=1: each case's input too (to see what a crashing case was)
  if (process.env.KILN_FUZZ_PRINT) writeSync(1, `input ${fc.stringify(input)}\n`);
  fam.check(input);
});
try {
  fc.assert(property, { seed: Number(seedText), numRuns: Number(runsText), ...(path ? { path } : {}) });
  writeSync(1, `done ${n}\n`);
} catch (e) {
  const cause = (e as Error).cause;
  const detail = cause instanceof Error ? `\n${cause.message}` : '';
  writeSync(1, `fail ${JSON.stringify((e as Error).message + detail)}\n`);
  process.exitCode = 1;
}
