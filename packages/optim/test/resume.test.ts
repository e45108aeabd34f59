// A training run stopped at a checkpoint and resumed in fresh objects ends with the same weights,
// optimizer state, EMA and random stream, bit for bit, as the run that did not stop (on the CPU);
// a training loop's memory stays flat over many steps.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { type Tensor, ValueError, defaultGenerator, manualSeed, memoryStats, rand, randn, tidy } from '@kiln/tensor';
import { BatchNorm2d, Conv2d, Dropout, Linear, Module, ReLU } from '@kiln/nn';
import { AdamW, GradientAccumulator, ModelEma, loadTrainingCheckpoint, saveTrainingCheckpoint, warmupCosine } from '@kiln/optim';
import { toNumbers, settleMemoryBeforeEach } from '@kiln/tensor/testing';

settleMemoryBeforeEach();

const dir = mkdtempSync(join(tmpdir(), 'kiln-resume-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const values = (t: Tensor): number[] => toNumbers(t.toTypedArray());

class Net extends Module {
  conv = new Conv2d(3, 8, 3, { padding: 1 });
  bn = new BatchNorm2d(8);
  relu = new ReLU();
  drop = new Dropout(0.3);                 // draws from the default generator: the checkpoint must restore it
  fc = new Linear(8, 4);
  forward(x: Tensor): Tensor {
    return this.fc.call(this.drop.call(this.relu.call(this.bn.call(this.conv.call(x)))).mean([2, 3]));
  }
}

/** A run's parts, built from `seed` (a resumed run starts from other weights: the checkpoint replaces them). */
function build(seed: number) {
  manualSeed(seed);
  const model = new Net();
  const optimizer = new AdamW(model.parameters(), { lr: 1e-2 });
  const scheduler = warmupCosine(optimizer, { warmupIters: 3, totalIters: 20 });
  const ema = new ModelEma(model, { decay: 0.9, warmup: true });
  const accumulate = new GradientAccumulator(optimizer, { steps: 2, clipGradNorm: 5 });
  return { model, optimizer, scheduler, ema, accumulate };
}
type Run = ReturnType<typeof build>;

/** Micro-batch s: its data depend on s only (a seeded draw that leaves the default generator alone). */
function microStep(run: Run, s: number): void {
  tidy(() => {
    const x = randn([4, 3, 6, 6], { seed: 1000 + s });
    const y = rand([4, 4], { seed: 5000 + s });
    const loss = run.model.call(x).sub(y).pow(2).mean();
    if (run.accumulate.backward(loss)) {
      run.scheduler.step();
      run.ema.update(run.model);
    }
  });
}

function snapshot(run: Run): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const [k, t] of Object.entries(run.model.stateDict())) out[`model.${k}`] = values(t);
  for (const [k, t] of Object.entries(run.ema.module.stateDict())) out[`ema.${k}`] = values(t);
  for (const [i, st] of Object.entries(run.optimizer.stateDict().state)) {
    for (const [k, v] of Object.entries(st)) out[`optimizer.${i}.${k}`] = typeof v === 'number' ? [v] : values(v);
  }
  out.lr = run.scheduler.getLastLr();
  out.rng = [Number(defaultGenerator.getState().seed), defaultGenerator.getState().offset];
  return out;
}

it('a run stopped and resumed ends bit for bit where the uninterrupted run ends', () => {
  const TOTAL = 16, STOP = 6;
  const straight = build(1);
  for (let s = 0; s < TOTAL; s++) microStep(straight, s);
  const expected = snapshot(straight);

  const first = build(1);
  for (let s = 0; s < STOP; s++) microStep(first, s);
  const path = join(dir, 'run.safetensors');
  saveTrainingCheckpoint(path, first, STOP, { note: 'after 6 micro-batches', rng: defaultGenerator.getState() as never });
  manualSeed(999);                            // the process goes on drawing: resuming restores the stream

  const resumed = build(2);
  expect(values(resumed.model.conv.weight)).not.toEqual(values(first.model.conv.weight));
  const { step, extra } = loadTrainingCheckpoint(path, resumed);
  expect(step).toBe(STOP);
  expect((extra as { note: string }).note).toBe('after 6 micro-batches');
  for (let s = step; s < TOTAL; s++) microStep(resumed, s);
  const got = snapshot(resumed);
  expect(Object.keys(got)).toEqual(Object.keys(expected));
  for (const k of Object.keys(expected)) expect(got[k], k).toEqual(expected[k]);
});

it('refuses a checkpoint without a part it is asked to restore, and files of another kind', () => {
  const run = build(3);
  const path = join(dir, 'model-only.safetensors');
  saveTrainingCheckpoint(path, { model: run.model }, 0);
  expect(() => loadTrainingCheckpoint(path, run)).toThrow(/the optimizer's state in/);
  expect(() => saveTrainingCheckpoint(path, run, -1)).toThrow(ValueError);
  run.model.save(join(dir, 'weights.safetensors'));
  expect(() => loadTrainingCheckpoint(join(dir, 'weights.safetensors'), run)).toThrow(ValueError);
});

it('keeps memory flat over many steps of the loop (model, optimizer, scheduler, EMA, accumulation)', () => {
  const run = build(4);
  let after10 = 0;
  for (let s = 0; s < 60; s++) {
    microStep(run, s);
    if (s === 9) after10 = memoryStats('cpu').allocated;
  }
  expect(memoryStats('cpu').allocated).toBe(after10);
});
