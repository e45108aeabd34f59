/**
 * How much of a ResNet's training step its batch norms take: the same ResNet (same seed) with
 * BatchNorm2d (the composed form in packages/nn/src/layers/normalization.ts), FrozenBatchNorm2d
 * (one multiply-add per element) and no norm at all, timed over forward + backward (medians of
 * `--steps` after one warm-up step), and the profiler's share of the BatchNorm2d module ranges in
 * one forward pass.
 *
 *   node --conditions=@kiln/source --import tsx tools/bench/batch-norm-share.ts [--model resnet50] [--batch 8] [--size 128] [--steps 5] [--device cpu]
 */
import { type Tensor, manualSeed, profile, randn, tidy } from '@kiln/tensor';
import '@kiln/autograd';
import { BatchNorm2d, FrozenBatchNorm2d, Module } from '@kiln/nn';
import { type NormLayer, resnet18, resnet50 } from '@kiln/vision';
import { parseOptions } from './cli-options.js';

const { model: modelName, batch, size, steps, device } = parseOptions(process.argv.slice(2), {
  model: { type: 'string', default: 'resnet50' },
  batch: { type: 'number', default: '8' },
  size: { type: 'number', default: '128' },
  steps: { type: 'number', default: '5' },
  device: { type: 'string', default: 'cpu' },
});
if (device === 'cuda') await import('@kiln/cuda');

/** No normalisation: the input as it is (the baseline). */
class NoNorm extends Module {
  forward(x: Tensor): Tensor {
    return x;
  }
}

const norms: [string, NormLayer][] = [
  ['BatchNorm2d', (c) => new BatchNorm2d(c)],
  ['FrozenBatchNorm2d', (c) => new FrozenBatchNorm2d(c)],
  ['none', () => new NoNorm()],
];
const make = modelName === 'resnet18' ? resnet18 : resnet50;
const x = randn([batch, 3, size, size], { seed: 1, device });

const median = (v: number[]): number => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
const rows: string[] = [];
let baseline = 0;
for (const [name, normLayer] of norms) {
  manualSeed(0);
  const net = make({ normLayer }).to(device).train();
  const step = (): void => tidy(() => {
    net.call(x).sum().backward();
    net.zeroGrad();
    x.sum().item();                                   // waits for the device
  });
  step();
  const times: number[] = [];
  for (let i = 0; i < steps; i++) {
    const t0 = performance.now();
    step();
    times.push(performance.now() - t0);
  }
  const ms = median(times);
  if (name === 'none') baseline = ms;
  let share = '';
  if (name === 'BatchNorm2d') {
    const prof = profile(() => tidy(() => net.call(x).sum().item()));
    const rowsOf = prof.keyAverages();
    const forward = rowsOf.find((r) => r.name === `nn.Module: ResNet`)!;
    const bn = rowsOf.find((r) => r.name === 'nn.Module: BatchNorm2d')!;
    share = `${((100 * bn.deviceTotal) / forward.deviceTotal).toFixed(1)}% of the forward (${bn.calls} calls)`;
  }
  rows.push(`| ${name} | ${ms.toFixed(0)} | ${share} |`);
  for (const t of Object.values(net.stateDict())) t.dispose();
}
console.log(`${modelName}, batch ${batch}, ${size}x${size}, ${device}, forward + backward, median of ${steps}`);
console.log('| norm layer | step (ms) | BatchNorm2d in the profiler |');
console.log('|---|---:|---|');
for (const r of rows) console.log(r);
console.log(`(the step without norms: ${baseline.toFixed(0)} ms; each row's excess over it is its norms' cost)`);
