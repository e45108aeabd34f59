// Worker threads and the main thread computing at once: each JS environment loads the addons for
// itself and gets its own argument buffer, kernel call and (CUDA) error slot, while the allocators
// and the CUDA streams are shared under locks. Every step's results are checked against float64
// references, so a thread reading another's call or memory would fail here, not just crash.
import { expect, it } from 'vitest';
import { Worker } from 'node:worker_threads';
import { memoryStats } from '@kiln/tensor';
import { forEachDevice, settleMemoryBeforeEach } from '@kiln/tensor/testing';
import { computeOnce } from './workers/work.js';

settleMemoryBeforeEach();

const ENTRY = new URL('../../../tools/test-support/ts-entry.mjs', import.meta.url);
const JOB = new URL('./workers/compute.ts', import.meta.url).href;

interface Reply {
  ok?: boolean;
  steps?: number;
  error?: string;
}

function startWorker(device: 'cpu' | 'cuda', steps: number, seed: number): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const w = new Worker(ENTRY, { execArgv: ['--conditions=@kiln/source'], workerData: { module: JOB, device, steps, seed } });
    let reply: Reply | null = null;
    w.on('message', (m: Reply) => { reply = m; });
    w.on('error', reject);
    w.on('exit', (code) => (reply ? resolve(reply) : reject(new Error(`worker exited with code ${code} without replying`))));
  });
}

forEachDevice('worker threads', (dev) => {
  it('three workers and the main thread compute at once, every result checked', async () => {
    const workers = [1, 2, 3].map((k) => startWorker(dev, 40, 1000 * k));
    // the main thread works while the workers do (their startup overlaps the first rounds)
    let mainSteps = 0;
    const deadline = Date.now() + 1500;
    while (Date.now() < deadline || mainSteps < 40) {
      computeOnce(dev, 7 + mainSteps);
      mainSteps++;
      if (mainSteps % 10 === 0) await new Promise((r) => setImmediate(r));
    }
    const replies = await Promise.all(workers);
    for (const r of replies) {
      expect(r.error).toBeUndefined();
      expect(r.ok).toBe(true);
      expect(r.steps).toBe(40);
    }
    expect(mainSteps).toBeGreaterThanOrEqual(40);
  }, 120_000);

  it('a worker that exits returns its memory to the shared allocator', async () => {
    const before = memoryStats(dev).allocated;
    const r = await startWorker(dev, 5, 77);
    expect(r.ok).toBe(true);
    // the worker disposed everything through tidy; what it left to its environment's teardown went
    // back when it exited: nothing of it is still allocated
    expect(memoryStats(dev).allocated).toBe(before);
  }, 60_000);
});
