/**
 * The example's batch pool (examples/retinanet/batch-pool.ts): the batches its worker threads make
 * are exactly those the main thread makes, for every step and every data-parallel rank, whatever
 * the number of workers; a --fast training run gives bit-identical losses with and without
 * workers (so does a resumed run, whose pool starts at the checkpoint's step); errors in a worker reach `take` as errors; and the threads are gone after `close`.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cpuThreads } from '@kiln/tensor';
import { PRESETS } from '../../../examples/retinanet/config.js';
import { type Batch, type BatchSpec, prepareBatch } from '../../../examples/retinanet/batches.js';
import { BatchPool } from '../../../examples/retinanet/batch-pool.js';
import { batchSpecOf, disposeDetector, trainDetector } from '../../../examples/retinanet/train.js';
import { FOCAL } from '../../../examples/retinanet/loss.js';

/** Every array of a batch (toEqual on typed arrays compares them element by element; this names the part). */
function expectSameBatch(got: Batch, want: Batch, what: string): void {
  expect(got.images, `${what}: images`).toEqual(want.images);
  expect(got.boxes, `${what}: boxes`).toEqual(want.boxes);
  expect(got.labels, `${what}: labels`).toEqual(want.labels);
  expect(got.offsets, `${what}: offsets`).toEqual(want.offsets);
}

describe('examples/retinanet batch pool', () => {
  // the cuda preset's scenes (up to 12 objects) at half their size (128 x 128, to make them faster) in small batches
  const cuda = PRESETS.cuda();
  const scenes = { ...cuda.scenes, imageSize: 128, maxSide: 90 };
  const spec = (rank: number, world: number): BatchSpec => ({ ...batchSpecOf({ ...cuda, batchSize: 2, scenes }), rank, world });

  it('delivers the batches the main thread makes, for 1, 2 and 3 workers and each rank of 2', async () => {
    for (const [rank, world] of [[0, 1], [0, 2], [1, 2]]) {
      const s = spec(rank, world);
      const want = Array.from({ length: 5 }, (_, t) => prepareBatch(s, t));
      // ranks' shares differ, and together make the whole batch's images
      if (world === 2) expect(want[0].images.length).toBe(3 * 128 * 128);
      for (const b of want) {
        const objects = b.offsets[b.offsets.length - 1];
        expect([b.boxes.length, b.labels.length]).toEqual([4 * objects, objects]);
        expect(b.labels.every((l) => l >= 0n && l < 6n)).toBe(true);
      }
      for (const workers of world === 1 ? [1, 2, 3] : [2]) {
        const pool = new BatchPool(s, { workers, ahead: 2 });
        try {
          for (let t = 0; t < want.length; t++) expectSameBatch(pool.take(t), want[t], `rank ${rank}/${world}, ${workers} worker(s), step ${t}`);
        } finally {
          await pool.close();
        }
        expect(pool.liveThreads).toBe(0);
      }
    }
    // the two ranks' shares of one step are the first and second halves of the one-process batch
    const whole = prepareBatch(spec(0, 1), 3);
    const halves = [0, 1].map((r) => prepareBatch(spec(r, 2), 3));
    expect(Float32Array.from([...halves[0].images, ...halves[1].images])).toEqual(whole.images);
    expect(Float32Array.from([...halves[0].boxes, ...halves[1].boxes])).toEqual(whole.boxes);
    expect(BigInt64Array.from([...halves[0].labels, ...halves[1].labels])).toEqual(whole.labels);
  }, 120_000);

  it('skips no step and serves steps taken further apart than the prefetch window', async () => {
    const s = spec(0, 1);
    const pool = new BatchPool(s, { workers: 2, ahead: 1 });
    try {
      for (const t of [0, 1, 9, 10, 30]) expectSameBatch(pool.take(t), prepareBatch(s, t), `step ${t}`);
    } finally {
      await pool.close();
    }
  }, 60_000);

  it('turns a failure in a worker into an error of take, and still closes', async () => {
    // objects of up to 90 pixels do not fit a 64-pixel image: every batch fails in its worker
    for (const [imageSize, message] of [
      [64, /BatchPool: batch 0 failed in its worker: makeScene: expected 4 <= minSide <= maxSide <= imageSize \(64\), got minSide 12, maxSide 90/],
    ] as const) {
      const pool = new BatchPool({ ...spec(0, 1), scenes: { ...scenes, imageSize } }, { workers: 2 });
      try {
        expect(() => pool.take(0)).toThrow(message);
      } finally {
        await pool.close();
      }
      expect(pool.liveThreads).toBe(0);
      expect(() => pool.take(1)).toThrow(/BatchPool.take: the pool is closed/);
    }
  }, 60_000);

  it('lets the process exit at once when the pool is left open, or when an error escapes', () => {
    const script = fileURLToPath(new URL('./fixtures/batch-pool-exit.ts', import.meta.url));
    for (const ending of ['open', 'throw']) {
      // a worker waits for requests forever: were the threads to keep the process alive, this would time out
      const r = spawnSync(process.execPath, ['--conditions=@kiln/source', '--import', 'tsx', script, ending], { encoding: 'utf8', timeout: 30_000 });
      expect(r.signal, `${ending}: killed by the timeout (a hang), stderr: ${r.stderr}`).toBeNull();
      expect(r.stdout).toContain('took batch 0: 98304 pixels');
      if (ending === 'open') expect(r.status, r.stderr).toBe(0);
      else expect([r.status, r.stderr]).toEqual([1, expect.stringContaining('the training loop failed')]);
    }
  }, 120_000);

  it('rejects a bad worker count', () => {
    expect(() => new BatchPool(spec(0, 1), { workers: -1 })).toThrow(/workers must be an integer >= 0, got -1/);
    expect(() => new BatchPool(spec(0, 1), { workers: 1.5 })).toThrow(/workers must be an integer >= 0, got 1.5/);
    expect(() => new BatchPool(spec(0, 1), { workers: 1, ahead: 0 })).toThrow(/ahead must be an integer >= 1, got 0/);
  });

  describe('a --fast training run', () => {
    let threads = 0;
    beforeAll(() => { threads = cpuThreads(); cpuThreads(PRESETS.fast().threads ?? threads); });
    afterAll(() => { cpuThreads(threads); });

    it('gives bit-identical losses with batches from the main thread and from 2 workers', () => {
      const run = (workers: number) => {
        const { log, model } = trainDetector(FOCAL, 0, { ...PRESETS.fast(), steps: 10, workers });
        disposeDetector(model);
        return log;
      };
      const main = run(0), pooled = run(2);
      expect(pooled.classification).toEqual(main.classification);
      expect(pooled.box).toEqual(main.box);
    }, 60_000);
  });
});
