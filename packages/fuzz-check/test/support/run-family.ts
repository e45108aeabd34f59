/**
 * The child process of one fuzz family (isolated.ts starts it and watches it):
 *
 *   node --conditions=@kiln/source --import tsx run-family.ts <family> <seed> <runs> [<path>]
 *
 * Before each case it writes `case <n>` to stdout (a pipe, written synchronously: emit), so that
 * if the process dies or hangs in a case the parent knows which; at the end `done <runs>`. A case
 * that fails its check (a defect that did not crash) makes fast-check shrink it here and print
 * `fail <message>` with the seed and path that replay it.
 */
import { writeSync } from 'node:fs';
import fc from 'fast-check';
import '@kiln/autograd';
import { families } from '../families/index.js';

/**
 * Writes a line to stdout synchronously, whole. The pipe's end may be non-blocking (libuv sets
 * that when anything in the process opens process.stdout), and a busy parent leaves it full: then
 * writeSync throws EAGAIN or writes part of the line, so this waits a millisecond and writes the
 * rest (a CI run failed a family with "EAGAIN: resource temporarily unavailable, write").
 */
function emit(line: string): void {
  const bytes = Buffer.from(line);
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (let off = 0; off < bytes.length;) {
    try {
      off += writeSync(1, bytes, off);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
      Atomics.wait(pause, 0, 0, 1);
    }
  }
}

const [name, seedText, runsText, path] = process.argv.slice(2) as [string, string, string, string | undefined];
const fam = families[name];
if (!fam) {
  emit(`fail unknown family ${name}\n`);
  process.exit(1);
}
let n = 0;
const property = fc.property(fam.arbitrary, (input) => {
  emit(`case ${n++}\n`);
  // KILN_FUZZ_PRINT=1: each case's input too (to see what a crashing case was)
  if (process.env.KILN_FUZZ_PRINT) emit(`input ${fc.stringify(input)}\n`);
  fam.check(input);
});
try {
  fc.assert(property, { seed: Number(seedText), numRuns: Number(runsText), ...(path ? { path } : {}) });
  emit(`done ${n}\n`);
} catch (e) {
  const cause = (e as Error).cause;
  const detail = cause instanceof Error ? `\n${cause.message}` : '';
  emit(`fail ${JSON.stringify((e as Error).message + detail)}\n`);
  process.exitCode = 1;
}
