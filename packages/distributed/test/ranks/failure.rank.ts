/**
 * A rank that fails in the middle of a step (argument: 'kill' — it kills itself with SIGKILL while
 * an all-reduce runs; 'hang' — it never calls the all-reduce, keeping its connections open). The
 * other ranks must leave the all-reduce with a DistributedError: they print it as one JSON line
 * (prefixed 'ERROR ') and exit with code 3. Started by failures.test.ts without kiln-run, which
 * would stop them itself.
 */
import { ones } from '@kiln/tensor';
import { DistributedError, allReduce, initProcessGroup } from '@kiln/distributed';

const mode = process.argv[2];
const victim = 1;
const timeout = Number(process.env.TEST_TIMEOUT_MS ?? 2000);
const group = initProcessGroup({ backend: 'cpu', timeout: 60_000 });   // ranks may start seconds apart on a busy machine
allReduce(ones([8]));                                    // a first step that works
const big = ones([2_000_000]);
if (group.rank === victim) {
  if (mode === 'kill') {
    allReduce(big, { asyncOp: true, timeout });
    setTimeout(() => process.kill(process.pid, 'SIGKILL'), 20);
  } else {
    setTimeout(() => process.exit(0), 60_000);           // the test kills it first
  }
} else {
  const start = performance.now();
  try {
    allReduce(big, { timeout });                         // this collective's own timeout
    console.log('NO ERROR');
    process.exit(0);
  } catch (e) {
    if (!(e instanceof DistributedError)) throw e;
    console.log(`ERROR ${JSON.stringify({ ...e.toJSON(), ms: Math.round(performance.now() - start) })}`);
    process.exit(3);
  }
}
