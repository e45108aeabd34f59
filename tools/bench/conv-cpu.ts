/**
 * conv2d on the CPU, forward and forward + backward (input and weight gradients through autograd),
 * float32, at the example's shapes and wider ones: the median and the minimum of --reps host-timed
 * calls after --warmup (on a shared machine the minimum is the steadier figure). Prints a Markdown
 * table; `--label` names the columns (to put two builds side by side). `--clock cpu` times with the
 * process's CPU time instead of the wall clock (with one thread, a busy machine then matters less).
 *
 *   node --conditions=@kiln/source --import tsx tools/bench/conv-cpu.ts --label kiln --reps 15
 */
import { conv2d, cpuThreads, randn } from '@kiln/tensor';
import '@kiln/autograd';
import { parseOptions } from './cli-options.js';

const { reps, warmup, label, clock } = parseOptions(process.argv.slice(2), {
  reps: { type: 'number', default: '15' },
  warmup: { type: 'number', default: '3' },
  label: { type: 'string', default: 'kiln' },
  clock: { type: 'string', default: 'wall' },
});
if (clock !== 'wall' && clock !== 'cpu') throw new Error(`--clock: expected 'wall' or 'cpu', got '${clock}'`);
const cpuClock = clock === 'cpu';
const now = (): number => {
  if (!cpuClock) return performance.now();
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e3;
};

const cases: { name: string; x: number[]; w: number[]; padding: number; stride: number }[] = [
  { name: 'example cpu preset: [8, 16, 32, 32] -> 16, 3x3', x: [8, 16, 32, 32], w: [16, 16, 3, 3], padding: 1, stride: 1 },
  { name: 'example stem: [8, 1, 32, 32] -> 16, 3x3', x: [8, 1, 32, 32], w: [16, 1, 3, 3], padding: 1, stride: 1 },
  { name: '[4, 64, 32, 32] -> 64, 3x3', x: [4, 64, 32, 32], w: [64, 64, 3, 3], padding: 1, stride: 1 },
  { name: '[8, 32, 32, 32] -> 64, 3x3 stride 2', x: [8, 32, 32, 32], w: [64, 32, 3, 3], padding: 1, stride: 2 },
];

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
/** "median / min" in ms. */
function timeMs(fn: () => void): string {
  for (let i = 0; i < warmup; i++) fn();
  const t: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = now();
    fn();
    t.push(now() - t0);
  }
  return `${median(t).toFixed(2)} / ${Math.min(...t).toFixed(2)}`;
}

const rows = [`| case (float32, ${cpuThreads()} threads, ${cpuClock ? 'CPU time' : 'wall clock'}) | ${label} forward ms (median / min) | ${label} forward + backward ms (median / min) |`, '|---|---:|---:|'];
for (const c of cases) {
  const x = randn(c.x, { seed: 1 }).requiresGrad_();
  const w = randn(c.w, { seed: 2 }).mul(0.1).detach().requiresGrad_();
  const opts = { padding: c.padding, stride: c.stride };
  const forward = timeMs(() => conv2d(x.detach(), w.detach(), null, opts).dispose());
  const both = timeMs(() => {
    x.grad?.dispose();
    w.grad?.dispose();
    x.grad = null;
    w.grad = null;
    const y = conv2d(x, w, null, opts);
    y.sum().backward();
    y.dispose();
  });
  rows.push(`| ${c.name} | ${forward} | ${both} |`);
}
console.log(rows.join('\n'));
