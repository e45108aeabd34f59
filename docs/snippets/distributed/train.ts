// One rank of a data-parallel job: `kiln-run --nproc-per-node 2 train.ts` starts two of them. Run
// alone (no WORLD_SIZE in the environment), it trains as a job of one rank.
import assert from 'node:assert/strict';
import { type Tensor, cat, manualSeed, randn, tidy } from '@kiln/tensor';
import { Linear, Module } from '@kiln/nn';
import { SGD } from '@kiln/optim';
import { DataLoader, Dataset } from '@kiln/vision';
import { DistributedDataParallel, DistributedSampler, allReduce, destroyProcessGroup, initProcessGroup } from '@kiln/distributed';

const alone = process.env.WORLD_SIZE === undefined;
const group = initProcessGroup({ backend: 'cpu', ...(alone ? { rank: 0, worldSize: 1, masterPort: 0 } : {}) });

// 64 samples of y = 3x - 1; every rank builds the same dataset
manualSeed(0);
const xs = randn([64, 1]);
const ys = xs.mul(3).sub(1);
class Points extends Dataset<[Tensor, Tensor]> {
  get length() { return 64; }
  get(i: number): [Tensor, Tensor] { return [xs.narrow(0, i, 1), ys.narrow(0, i, 1)]; }
}
const collate = (items: [Tensor, Tensor][]) => {
  const batch = { x: cat(items.map(([x]) => x)), y: cat(items.map(([, y]) => y)) };
  for (const t of items.flat()) t.dispose();
  return batch;
};

class Line extends Module {
  fc = new Linear(1, 1);
  forward(x: Tensor): Tensor { return this.fc.call(x); }
}
manualSeed(100 + group.rank);                 // different on each rank: DDP copies rank 0's parameters
const ddp = new DistributedDataParallel(new Line());
const opt = new SGD(ddp.parameters(), { lr: 0.1 });

// each rank visits its own half (with 2 ranks) of every epoch, in an order shared by all ranks
const sampler = new DistributedSampler(64, { shuffle: true, seed: 1 });
const loader = new DataLoader(new Points(), { batchSize: 8, sampler, collate });
for (let epoch = 0; epoch < 20; epoch++) {
  sampler.setEpoch(epoch);
  for await (const { x, y } of loader) {
    opt.zeroGrad();
    tidy(() => ddp.call(x).sub(y).pow(2).mean().backward());   // gradients averaged over the ranks
    opt.step();
    x.dispose();
    y.dispose();
  }
}

// every rank holds the same model: the sum over the ranks is world size times this rank's
const w = ddp.module.fc.weight.detach().clone();
const total = w.clone();
allReduce(total);
assert.ok(Math.abs(total.item() - group.size * w.item()) < 1e-6);
assert.ok(Math.abs(w.item() - 3) < 0.05, `learned w = ${w.item()}`);
if (group.rank === 0) console.log(`w = ${w.item().toFixed(3)} after training on ${group.size} rank(s)`);
destroyProcessGroup();
