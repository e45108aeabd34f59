// One worker thread's share of workers.test.ts: loads the addons in its own JS environment and
// computes the same checked work as the main thread, many times, on workerData.device; posts
// { ok, steps, sums } or { error }.
import { parentPort, workerData } from 'node:worker_threads';
import { computeOnce } from './work.js';

const { device, steps, seed } = workerData as { device: 'cpu' | 'cuda'; steps: number; seed: number };
try {
  if (device === 'cuda') await import('@kiln/cuda');
  const sums: number[] = [];
  for (let i = 0; i < steps; i++) sums.push(computeOnce(device, seed + i));
  parentPort!.postMessage({ ok: true, steps, sums });
} catch (e) {
  parentPort!.postMessage({ error: `${(e as Error).name}: ${(e as Error).message}` });
}
