// Starts train.ts in two processes from a program, as `kiln-run --nproc-per-node 2 train.ts` does.
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { launch } from '@kiln/distributed';

const { exitCode, message } = await launch({
  nprocPerNode: 2,
  script: fileURLToPath(new URL('./train.ts', import.meta.url)),
  nodeArgs: ['--conditions=@kiln/source'],    // here: the ranks run Kiln from its TypeScript sources
});
assert.equal(exitCode, 0, message);
