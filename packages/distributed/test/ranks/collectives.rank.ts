/**
 * Every collective against a reference computed here from every rank's (deterministic) input, for
 * several sizes (empty, 1, below the world size, not divisible by it, many chunks), dtypes and
 * reductions, on contiguous tensors and on views. A tiny chunk size makes every size take the
 * pipelined path with several chunks. Exits non-zero on the first difference.
 */
import { type DType, tensor, zeros } from '@kiln/tensor';
import { allGather, allReduce, barrier, broadcast, destroyProcessGroup, initProcessGroup, reduceScatter } from '@kiln/distributed';
import { expectClose, inputOf, inputValue, values } from './common.js';

const group = initProcessGroup({ backend: 'cpu', timeout: 20_000, chunkBytes: 24 });
const { rank, size: W } = group;
const SIZES = [0, 1, 2, W + 1, 13, 257];
const DTYPES: DType[] = ['float32', 'float64', 'int32'];
const ranks = Array.from({ length: W }, (_, r) => r);
const tolOf = (d: DType) => (d === 'float32' ? 1e-6 : d === 'float64' ? 1e-12 : 0);

for (const dtype of DTYPES) {
  for (const n of SIZES) {
    const ops = dtype === 'int32' ? (['sum', 'max', 'min'] as const) : (['sum', 'avg', 'max', 'min'] as const);
    for (const op of ops) {
      const t = inputOf(rank, n, dtype);
      allReduce(t, { op });
      const want = Array.from({ length: n }, (_, i) => {
        const xs = ranks.map((r) => inputValue(r, i, dtype));
        return op === 'max' ? Math.max(...xs) : op === 'min' ? Math.min(...xs) : xs.reduce((a, b) => a + b, 0) / (op === 'avg' ? W : 1);
      });
      expectClose(`allReduce ${op} ${dtype} n=${n}`, values(t), want, tolOf(dtype));
      t.dispose();
    }
    for (let root = 0; root < W; root++) {
      const t = rank === root ? inputOf(root, n, dtype) : zeros([n], { dtype });
      broadcast(t, root);
      expectClose(`broadcast from ${root} ${dtype} n=${n}`, values(t), values(inputOf(root, n, dtype)));
    }
    // all-gather into one tensor and into a list
    const mine = inputOf(rank, n, dtype);
    const all = zeros([W, n], { dtype });
    allGather(all, mine);
    const wantAll = ranks.flatMap((r) => values(inputOf(r, n, dtype)));
    expectClose(`allGather ${dtype} n=${n}`, values(all), wantAll);
    const list = ranks.map(() => zeros([n], { dtype }));
    allGather(list, mine);
    expectClose(`allGather (list) ${dtype} n=${n}`, list.flatMap(values), wantAll);
    // reduce-scatter: rank r gets block r of the sum of every rank's W*n input
    const out = zeros([n], { dtype });
    reduceScatter(out, inputOf(rank, W * n, dtype), { op: 'sum' });
    const wantBlock = Array.from({ length: n }, (_, i) => ranks.reduce((a, r) => a + inputValue(r, rank * n + i, dtype), 0));
    expectClose(`reduceScatter ${dtype} n=${n}`, values(out), wantBlock, tolOf(dtype));
  }
}

// a non-contiguous view: the transpose of a 3 x 5 tensor, reduced in place
const base = inputOf(rank, 15, 'float64').reshape([3, 5]);
const view = base.transpose(0, 1);
allReduce(view, { op: 'sum' });
expectClose('allReduce of a transposed view', values(base), Array.from({ length: 15 }, (_, i) => ranks.reduce((a, r) => a + inputValue(r, i, 'float64'), 0)), 1e-12);

// asynchronous: several in flight, then waited on, one through its promise
const a = tensor([rank + 1], { dtype: 'float32' }), b = tensor([10 * (rank + 1)], { dtype: 'float32' });
const wa = allReduce(a, { asyncOp: true }), wb = allReduce(b, { op: 'max', asyncOp: true });
await wb.promise;
wa.wait();
expectClose('async allReduce', [...values(a), ...values(b)], [(W * (W + 1)) / 2, 10 * W]);
if (!wa.isCompleted() || !wb.isCompleted()) throw new Error('async works not completed after wait');
barrier();
destroyProcessGroup();
console.log(`rank ${rank}: collectives ok`);
