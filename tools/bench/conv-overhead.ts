/**
 * Host and device time per call of the training step's small convolutions (tools/bench/train-step,
 * `cuda` preset: 3x3 at 32x32, 16x16 and 8x8, the 1x1 laterals; batch 32, 64 channels), each pass
 * (forward, input gradient, weight gradient) through cuDNN's graph API and through its legacy API
 * (setCudnnGraph), side by side with PyTorch's same calls (tools/bench/conv_overhead_torch.py
 * writes them first). Where the host's time per call exceeds the device's, the GPU waits for the
 * host: the calls are launch-bound, as the step's small convolutions were on 2026-12-05
 * (docs/benchmarks.md, "Where the `cuda` step's time goes").
 *
 * On the GPU machine:
 *   python3 tools/bench/conv_overhead_torch.py --json /tmp/conv-overhead.json
 *   node --conditions=@kiln/source --import tsx tools/bench/conv-overhead.ts --torch /tmp/conv-overhead.json
 *
 * Timing: `--calls` back-to-back calls after `--warmup`, no synchronisation between them: host µs
 * per call = the loop's wall time / calls (the device may still be busy at its end; the loop then
 * waits), device µs per call = CUDA events around the loop / calls; the median of `--reps` loops.
 */
import { readFileSync } from 'node:fs';
import { type Tensor, conv2d, conv2dBackwardInput, conv2dBackwardWeight, randn, synchronize } from '@kiln/tensor';
import { cuda, cudnnGraphFallbackReason, denseCallCounts, setCudnnGraph } from '@kiln/cuda';
import { parseOptions } from './cli-options.js';

const args = parseOptions(process.argv.slice(2), {
  calls: { type: 'number', default: '200' }, warmup: { type: 'number', default: '20' }, reps: { type: 'number', default: '5' },
  torch: { type: 'string', default: '' },
});
if (!cuda.isAvailable()) throw new Error(`conv-overhead: needs a GPU (${cuda.unavailableReason() ?? 'CUDA unavailable'})`);

/** [N, C, H, W, O, k]: the step's shapes (padding k / 2, stride 1). */
const SHAPES: [number, number, number, number, number, number][] = [
  [32, 64, 32, 32, 64, 3], [32, 64, 16, 16, 64, 3], [32, 64, 8, 8, 64, 3], [32, 64, 16, 16, 64, 1], [32, 64, 8, 8, 64, 1],
];
const PASSES = ['forward', 'input gradient', 'weight gradient'] as const;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

interface TorchRow { shape: number[]; pass: string; hostUs: number; deviceUs: number }
const torchRows: TorchRow[] = args.torch ? (JSON.parse(readFileSync(args.torch, 'utf8')) as { rows: TorchRow[] }).rows : [];

function timeLoop(call: () => Tensor): { hostUs: number; deviceUs: number } {
  for (let i = 0; i < args.warmup; i++) call().dispose();
  synchronize('cuda');
  const host: number[] = [], device: number[] = [];
  for (let r = 0; r < args.reps; r++) {
    const a = new cuda.Event(), b = new cuda.Event();
    a.record();
    const t0 = performance.now();
    for (let i = 0; i < args.calls; i++) call().dispose();
    const t1 = performance.now();
    b.record();
    host.push(((t1 - t0) * 1000) / args.calls);
    device.push((a.elapsedTime(b) * 1000) / args.calls);   // elapsedTime waits for b
    a.dispose();
    b.dispose();
  }
  return { hostUs: median(host), deviceUs: median(device) };
}

const lines = ['| shape [N, C, H, W] → O, k×k | pass | API | Kiln host µs/call | Kiln device µs/call | PyTorch host µs/call | PyTorch device µs/call |', '|---|---|---|---:|---:|---:|---:|'];
for (const [N, C, H, W, O, k] of SHAPES) {
  const x = randn([N, C, H, W], { device: 'cuda', seed: 1 }), w = randn([O, C, k, k], { device: 'cuda', seed: 2 });
  const opts = { padding: Math.floor(k / 2) };
  const gy = conv2d(x, w, null, opts);
  const calls: Record<(typeof PASSES)[number], () => Tensor> = {
    forward: () => conv2d(x, w, null, opts),
    'input gradient': () => conv2dBackwardInput(gy, w, x.shape, opts),
    'weight gradient': () => conv2dBackwardWeight(gy, x, w.shape, opts),
  };
  for (const pass of PASSES) {
    const t = torchRows.find((r) => r.shape.join() === [N, C, H, W, O, k].join() && r.pass === pass);
    for (const graph of [true, false]) {
      setCudnnGraph(graph);
      const before = denseCallCounts();
      const r = timeLoop(calls[pass]);
      const ranGraph = denseCallCounts().conv2dCudnnGraph > before.conv2dCudnnGraph;
      const api = graph ? (ranGraph ? 'graph' : 'graph (declined: legacy ran)') : 'legacy';
      lines.push(`| [${N}, ${C}, ${H}, ${W}] → ${O}, ${k}×${k} | ${pass} | ${api} | ${r.hostUs.toFixed(1)} | ${r.deviceUs.toFixed(1)} | ${t ? t.hostUs.toFixed(1) : '–'} | ${t ? t.deviceUs.toFixed(1) : '–'} |`);
    }
  }
  setCudnnGraph(true);
  for (const t of [x, w, gy]) t.dispose();
}
console.log(`Convolutions' time per call, ${cuda.deviceProperties(0).name}; ${args.calls} calls back to back after ${args.warmup}, median of ${args.reps} loops; float32 (no TF32)\n`);
console.log(lines.join('\n'));
const why = cudnnGraphFallbackReason();
if (why) console.log(`\nThe graph API fell back to the legacy one at least once: ${why}`);
