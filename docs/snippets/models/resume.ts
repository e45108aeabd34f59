import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Tensor, manualSeed, randn, tidy } from '@kiln/tensor';
import { BatchNorm2d, Conv2d, Dropout, Linear, Module } from '@kiln/nn';
import { AdamW, GradientAccumulator, ModelEma, loadTrainingCheckpoint, saveTrainingCheckpoint, warmupCosine } from '@kiln/optim';

class Net extends Module {
  conv = new Conv2d(3, 8, 3, { padding: 1 });
  bn = new BatchNorm2d(8);
  drop = new Dropout(0.2);                  // draws from the default generator, which the checkpoint saves
  fc = new Linear(8, 2);
  forward(x: Tensor): Tensor {
    return this.fc.call(this.drop.call(this.bn.call(this.conv.call(x)).relu()).mean([2, 3]));
  }
}

// Everything a run needs, built the same way for a fresh run and for a resumed one.
function build() {
  manualSeed(0);
  const model = new Net();
  const optimizer = new AdamW(model.parameters(), { lr: 1e-2, weightDecay: 0.05 });
  const scheduler = warmupCosine(optimizer, { warmupIters: 2, totalIters: 10 });
  const ema = new ModelEma(model, { decay: 0.99, warmup: true });
  // two micro-batches per optimizer step: backward on loss / 2, step and zeroGrad on every second
  const accumulate = new GradientAccumulator(optimizer, { steps: 2, clipGradNorm: 1 });
  return { model, optimizer, scheduler, ema, accumulate };
}
type Run = ReturnType<typeof build>;

// One micro-batch; its data are a function of its number, so a resumed run sees the same data.
function microBatch(run: Run, i: number): void {
  tidy(() => {
    const x = randn([4, 3, 8, 8], { seed: 100 + i });
    const loss = run.model.call(x).pow(2).mean();
    if (run.accumulate.backward(loss)) {      // true when the optimizer stepped
      run.scheduler.step();
      run.ema.update(run.model);
    }
  });
}

const dir = mkdtempSync(join(tmpdir(), 'kiln-run-'));
const checkpoint = join(dir, 'last.safetensors');

// A run of 12 micro-batches without a stop...
const straight = build();
for (let i = 0; i < 12; i++) microBatch(straight, i);

// ...and one stopped after 6 (at an optimizer step: the accumulator holds no gradients), saved,
// and resumed in fresh objects: model, optimizer, scheduler, EMA, step and random state come back.
const first = build();
for (let i = 0; i < 6; i++) microBatch(first, i);
saveTrainingCheckpoint(checkpoint, first, 6, { epoch: 0 });

const resumed = build();
const { step, extra } = loadTrainingCheckpoint(checkpoint, resumed);
assert.deepEqual([step, extra], [6, { epoch: 0 }]);
for (let i = step; i < 12; i++) microBatch(resumed, i);

// Bit for bit the same weights, averages and learning rate.
const same = (a: Module, b: Module): boolean =>
  Object.entries(a.stateDict()).every(([k, t]) => tidy(() => t.eq(b.stateDict()[k]).all().item<'bool'>()));
assert.ok(same(resumed.model, straight.model));
assert.ok(same(resumed.ema.module, straight.ema.module));
assert.deepEqual(resumed.scheduler.getLastLr(), straight.scheduler.getLastLr());

// The optimizer's state has PyTorch's shape: per-parameter state by index, and the param groups.
const state = straight.optimizer.stateDict();
assert.deepEqual(Object.keys(state.state[0]).sort(), ['expAvg', 'expAvgSq', 'step']);
assert.deepEqual(state.paramGroups[0].params, [0, 1, 2, 3, 4, 5]);
rmSync(dir, { recursive: true, force: true });
