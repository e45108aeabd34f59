// Runs a TypeScript module in a worker thread, against the packages' sources: registers tsx in this
// thread (Node 20 does not pass the main thread's loaders on to workers) and imports the module
// named by workerData.module (a file URL). Start the worker with execArgv ['--conditions=@kiln/source']
// so that '@kiln/*' imports resolve to the sources, as in the tests:
//
//   new Worker(new URL('../../../tools/test-support/ts-entry.mjs', import.meta.url), {
//     execArgv: ['--conditions=@kiln/source'], workerData: { module: new URL('./job.ts', import.meta.url).href, ... },
//   });
import { register } from 'tsx/esm/api';
import { workerData } from 'node:worker_threads';

register();
await import(workerData.module);
