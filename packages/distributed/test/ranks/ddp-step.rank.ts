/**
 * DistributedDataParallel against a single process: each rank starts from its own random
 * parameters (rank 0's are broadcast), trains on its shard of a fixed batch, and after each step
 * every rank's parameters must be identical and equal, within float tolerance, to one process
 * stepping on the whole batch. Step 2 accumulates two micro-batches, the first under noSync.
 * Small buckets make several all-reduces per pass. Then the unused-parameter error and option.
 */
import { type Tensor, manualSeed, randn, tensor, zeros } from '@kiln/tensor';
import { noGrad } from '@kiln/autograd';
import { BufferTensor, Linear, Module, ReLU, Sequential } from '@kiln/nn';
import { SGD } from '@kiln/optim';
import { DistributedDataParallel, DistributedError, allGather, destroyProcessGroup, initProcessGroup } from '@kiln/distributed';
import { expectClose, values } from './common.js';

class Net extends Module {
  body = new Sequential(new Linear(6, 16, { dtype: 'float64' }), new ReLU(), new Linear(16, 3, { dtype: 'float64' }));
  scale = new BufferTensor(tensor([1], { dtype: 'float64' }));
  forward(x: Tensor): Tensor {
    return this.body.call(x).mul(this.scale);
  }
}

const group = initProcessGroup({ backend: 'cpu', timeout: 20_000 });
const { rank, size: W } = group;
const N = 12, lr = 0.1;
manualSeed(5);
const X = randn([N, 6], { dtype: 'float64' }), Y = randn([N, 3], { dtype: 'float64' });
const rows = (t: Tensor, from: number, n: number) => t.narrow(0, from, n);
const mse = (out: Tensor, y: Tensor) => out.sub(y).pow(2).mean();

// this rank's replica: its own initialization and buffer, overwritten by rank 0's
manualSeed(100 + rank);
const net = new Net();
noGrad(() => net.scale.fill_(1 + rank));
const ddp = new DistributedDataParallel(net, { bucketCapMb: 0.0005 });
const opt = new SGD(ddp.parameters(), { lr });

// the single process: rank 0's initialization, the whole batch
manualSeed(100);
const ref = new Net();
const refOpt = new SGD(ref.parameters(), { lr });

const shard = N / W;
const flatParams = (m: Module<never[], unknown>) => m.parameters().flatMap((p) => values(p));

function compare(step: string): void {
  const mine = flatParams(net);
  expectClose(`${step}: rank ${rank}'s parameters against one process on the whole batch`, mine, flatParams(ref), 1e-10);
  const all = zeros([W, mine.length], { dtype: 'float64' });
  allGather(all, tensor(mine, { dtype: 'float64' }));
  const gathered = values(all);
  for (let r = 0; r < W; r++) expectClose(`${step}: rank ${r}'s parameters against rank 0's`, gathered.slice(r * mine.length, (r + 1) * mine.length), gathered.slice(0, mine.length));
}

compare('after construction');
expectClose('buffer broadcast from rank 0', values(net.scale), [1]);

// step 1: one forward and backward on this rank's shard
opt.zeroGrad();
mse(ddp.call(rows(X, rank * shard, shard)), rows(Y, rank * shard, shard)).backward();
opt.step();
refOpt.zeroGrad();
mse(ref.call(X), Y).backward();
refOpt.step();
compare('step 1');

// step 2: the shard as two micro-batches, the first only accumulated locally (noSync)
opt.zeroGrad();
const first = Math.floor(shard / 2);
const microLoss = (from: number, n: number) => ddp.call(rows(X, from, n)).sub(rows(Y, from, n)).pow(2).sum().div(shard * 3);
ddp.noSync(() => microLoss(rank * shard, first).backward());
microLoss(rank * shard + first, shard - first).backward();
opt.step();
refOpt.zeroGrad();
mse(ref.call(X), Y).backward();
refOpt.step();
compare('step 2 (noSync accumulation)');
ddp.destroy();

// a parameter without a gradient: an error naming it, or zeros with findUnusedParameters
class TwoHeads extends Module {
  a = new Linear(6, 2, { dtype: 'float64' });
  b = new Linear(6, 2, { dtype: 'float64' });
  forward(x: Tensor): Tensor {
    return this.a.call(x);
  }
}
const strict = new DistributedDataParallel(new TwoHeads());
let message = '';
try {
  strict.call(X).sum().backward();
} catch (e) {
  if (!(e instanceof DistributedError) || e.reason !== 'usage') throw e;
  message = e.message;
}
if (!message.includes("'b.weight'") || !message.includes('findUnusedParameters')) throw new Error(`expected an error naming b.weight, got: ${message || 'none'}`);
strict.destroy();
const lenient = new DistributedDataParallel(new TwoHeads(), { findUnusedParameters: true });
lenient.call(rows(X, rank, 1)).sum().backward();
expectClose('an unused parameter gets a zero gradient', values(lenient.module.b.weight.grad!), new Array(12).fill(0));
lenient.destroy();

destroyProcessGroup();
console.log(`rank ${rank}: ddp ok`);
