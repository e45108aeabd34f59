/**
 * Memory of a small-MLP training loop that runs synchronously (no await, so the event loop never
 * turns) over many steps, in the two ways users write it:
 *
 *   - `dropped`: nothing is disposed: every forward's intermediates, losses and gradients are left to
 *     the garbage collector (the way a PyTorch user writes the loop);
 *   - `tidy`: each step inside tidy() with optimizer.zeroGrad() (the documented way).
 *
 * Prints, every --every steps, the native allocator's figures (memoryStats: allocated and reserved)
 * and the process's resident set size, so a loop that grows shows it. Steps per second too.
 *
 *   node --conditions=@kiln/source --import tsx tools/bench/gc-loop.ts [--steps 25000] [--every 5000]
 *        [--mode dropped|tidy|both] [--device cpu|cuda]
 */
import { loadavg } from 'node:os';
import { memoryStats, randn, tidy } from '@kiln/tensor';
import '@kiln/autograd';
import { Linear, ReLU, Sequential } from '@kiln/nn';
import { SGD } from '@kiln/optim';
import { parseOptions } from './cli-options.js';

const { steps, every, mode, device } = parseOptions(process.argv.slice(2), {
  steps: { type: 'number', default: '25000' },
  every: { type: 'number', default: '5000' },
  mode: { type: 'string', default: 'both' },
  device: { type: 'string', default: 'cpu' },
});
if (device !== 'cpu') await import('@kiln/cuda');

const mib = (b: number) => (b / 2 ** 20).toFixed(1);

function run(kind: 'dropped' | 'tidy'): void {
  const model = new Sequential(new Linear(16, 64, { device }), new ReLU(), new Linear(64, 1, { device }));
  const opt = new SGD(model.parameters(), { lr: 1e-3 });
  const x = randn([32, 16], { seed: 1, device }), y = randn([32, 1], { seed: 2, device });
  const step = (): void => {
    const d = model.call(x).sub(y);
    const loss = d.mul(d).mean();
    loss.backward();
    opt.step();
    opt.zeroGrad();
  };
  console.log(`\n${kind}: ${steps} steps of a 16-64-1 MLP, batch 32, SGD, on ${device} (load ${loadavg()[0].toFixed(2)})`);
  console.log('| step | allocated MiB | reserved MiB | RSS MiB | JS heap MiB | steps/s |');
  console.log('|---:|---:|---:|---:|---:|---:|');
  let t0 = performance.now();
  for (let i = 1; i <= steps; i++) {
    if (kind === 'tidy') tidy(step);
    else step();
    if (i % every === 0) {
      const s = memoryStats(device);
      const rate = every / ((performance.now() - t0) / 1e3);
      const m = process.memoryUsage();
      console.log(`| ${i} | ${mib(s.allocated)} | ${mib(s.reserved)} | ${mib(m.rss)} | ${mib(m.heapUsed)} | ${rate.toFixed(0)} |`);
      t0 = performance.now();
    }
  }
  for (const p of model.parameters()) p.dispose();
  x.dispose();
  y.dispose();
}

if (mode === 'both' || mode === 'tidy') run('tidy');
if (mode === 'both' || mode === 'dropped') run('dropped');
