/**
 * nms and batchedNms on every device against a float64 greedy reference written here: random and
 * clustered boxes, ties (by increasing index), degenerate and empty boxes, categories, every float
 * dtype, non-contiguous boxes and scores, sizes across the CUDA kernel's 64-box blocks, errors,
 * and nothing left allocated. (torchvision itself: fixtures.test.ts.)
 */
import { expect, it } from 'vitest';
import { type DType, type Tensor, DTypeError, ShapeError, ValueError, memoryStats, synchronize, tensor, tidy } from '@kiln/tensor';
import { expectError, forEachDevice, testRng, toNumbers, settleMemoryBeforeEach } from '@kiln/tensor/testing';
import { batchedNms, nms } from '@kiln/vision';

settleMemoryBeforeEach();

type Box = [number, number, number, number];

function iou(a: Box, b: Box): number {
  const w = Math.max(0, Math.min(a[2], b[2]) - Math.max(a[0], b[0])), h = Math.max(0, Math.min(a[3], b[3]) - Math.max(a[1], b[1]));
  const inter = w * h;
  return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter);
}

/** Greedy NMS by decreasing score (ties by index; NaN scores first), within each category. */
function refNms(boxes: Box[], scores: number[], threshold: number, cats?: number[]): number[] {
  const order = boxes.map((_, i) => i).sort((i, j) => {
    const a = scores[i], b = scores[j];
    if (Number.isNaN(a) !== Number.isNaN(b)) return Number.isNaN(a) ? -1 : 1;
    return (a === b || (Number.isNaN(a) && Number.isNaN(b)) ? 0 : b - a) || i - j;
  });
  const keep: number[] = [];
  const gone = new Set<number>();
  for (const i of order) {
    if (gone.has(i)) continue;
    keep.push(i);
    for (const j of order) if (j !== i && !gone.has(j) && !keep.includes(j) && (!cats || cats[i] === cats[j]) && iou(boxes[i], boxes[j]) > threshold) gone.add(j);
  }
  return keep;
}

function randomBoxes(seed: number, n: number, clusters = 0): Box[] {
  const r = testRng(seed);
  const centers = Array.from({ length: clusters }, () => [r() * 80, r() * 80, 5 + r() * 30, 5 + r() * 30]);
  return Array.from({ length: n }, () => {
    if (clusters > 0) {
      const c = centers[Math.floor(r() * clusters)];
      const x = c[0] + (r() - 0.5) * 4, y = c[1] + (r() - 0.5) * 4;
      return [x, y, x + c[2] + (r() - 0.5) * 4, y + c[3] + (r() - 0.5) * 4];
    }
    const x = r() * 90, y = r() * 90;
    return [x, y, x + 1 + r() * 30, y + 1 + r() * 30];
  });
}

const ids = (t: Tensor): number[] => toNumbers(t.toTypedArray());

forEachDevice('nms', (dev) => {
  const f64 = (v: number[] | number[][]) => tensor(v, { dtype: 'float64', device: dev });

  it('matches the greedy reference on random and clustered boxes, at several thresholds', () => {
    for (const [seed, n, clusters] of [[1, 50, 0], [2, 200, 5], [3, 129, 3], [4, 64, 2], [5, 65, 0], [6, 1000, 20]] as const) {
      const boxes = randomBoxes(seed, n, clusters);
      const scores = Array.from({ length: n }, testRng(seed + 100));
      for (const t of [0, 0.3, 0.5, 0.9, 1]) {
        const keep = nms(f64(boxes), f64(scores), t);
        expect(keep.dtype).toBe('int64');
        expect(ids(keep), `seed ${seed} n ${n} threshold ${t}`).toEqual(refNms(boxes, scores, t));
      }
    }
  });

  it('breaks ties by increasing index and puts NaN scores first', () => {
    const boxes = randomBoxes(7, 90, 3);
    const scores = Array.from({ length: 90 }, (_, i) => (i % 7 === 0 ? NaN : Math.floor((i * 37) % 5) / 4));
    expect(ids(nms(f64(boxes), f64(scores), 0.5))).toEqual(refNms(boxes, scores, 0.5));
    const same = Array.from({ length: 90 }, () => 0.5);
    expect(ids(nms(f64(boxes), f64(same), 0.5))).toEqual(refNms(boxes, same, 0.5));
  });

  it('keeps degenerate boxes (no area: they never suppress), handles empty and single inputs', () => {
    const boxes: Box[] = [[1, 1, 1, 5], [1, 1, 1, 5], [3, 3, 3, 3], [4, 4, 2, 2], [0, 0, 10, 10], [0, 0, 10, 10], [-5, -5, -1, -1]];
    const scores = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3];
    expect(ids(nms(f64(boxes), f64(scores), 0.5))).toEqual(refNms(boxes, scores, 0.5));
    expect(nms(tensor([], { device: dev }).reshape([0, 4]), tensor([], { device: dev }), 0.5).shape).toEqual([0]);
    expect(ids(nms(f64([[0, 0, 1, 1]]), f64([2]), 0.5))).toEqual([0]);
  });

  it('computes in every float dtype (float16 and bfloat16 boxes in float32)', () => {
    const boxes = randomBoxes(8, 100, 4).map((b) => b.map((v) => Math.round(v)) as Box);   // exact in every dtype
    const scores = Array.from({ length: 100 }, (_, i) => ((i * 7919) % 100) / 128);
    for (const dtype of ['float32', 'float64', 'float16', 'bfloat16'] as DType[]) {
      expect(ids(nms(tensor(boxes, { dtype, device: dev }), tensor(scores, { dtype, device: dev }), 0.5)), dtype).toEqual(refNms(boxes, scores, 0.5));
    }
  });

  it('reads non-contiguous boxes and scores', () => {
    const boxes = randomBoxes(9, 70, 4), scores = Array.from({ length: 70 }, testRng(9));
    const bt = f64(boxes.map((b) => [b[0], b[2], b[1], b[3]])).reshape([70, 2, 2]).transpose(1, 2).reshape([70, 4]);   // a copy
    const wide = f64(boxes.flatMap((b) => [...b, 0, 0, 0, 0])).reshape([70, 8]).slice(1, 0, 4);
    const cols = f64(scores.flatMap((v) => [v, 0])).slice(0, 0, undefined, 2);
    expect(wide.isContiguous || cols.isContiguous).toBe(false);
    expect(ids(nms(wide, cols, 0.4))).toEqual(refNms(boxes, scores, 0.4));
    expect(ids(nms(bt, f64(scores), 0.4))).toEqual(refNms(boxes, scores, 0.4));
  });

  it('batchedNms suppresses within categories only (int32 and int64 categories, any values)', () => {
    const boxes = randomBoxes(10, 300, 6), scores = Array.from({ length: 300 }, testRng(10));
    const cats = Array.from({ length: 300 }, (_, i) => [-3, 0, 7, 1_000_000][(i * 13) % 4]);
    for (const dtype of ['int32', 'int64'] as DType[]) {
      expect(ids(batchedNms(f64(boxes), f64(scores), tensor(cats, { dtype, device: dev }), 0.5)), dtype).toEqual(refNms(boxes, scores, 0.5, cats));
    }
    // every box its own category: nothing is suppressed; one category: plain nms
    expect(ids(batchedNms(f64(boxes), f64(scores), tensor(boxes.map((_, i) => i), { device: dev }), 0.5))).toEqual(refNms(boxes, scores, 1.1));
    expect(ids(batchedNms(f64(boxes), f64(scores), tensor(boxes.map(() => 2), { device: dev }), 0.5))).toEqual(ids(nms(f64(boxes), f64(scores), 0.5)));
    expect(batchedNms(tensor([], { device: dev }).reshape([0, 4]), tensor([], { device: dev }), tensor([], { dtype: 'int64', device: dev }), 0.5).shape).toEqual([0]);
  });

  it('refuses bad arguments with typed errors', () => {
    const b = f64([[0, 0, 1, 1]]), s = f64([1]);
    expectError(() => nms(f64([0, 0, 1, 1]), s, 0.5), ShapeError, 'nms', 'boxes');
    expectError(() => nms(b, f64([1, 2]), 0.5), ShapeError, 'nms', 'scores');
    expectError(() => nms(b, tensor([1], { dtype: 'float32', device: dev }), 0.5), DTypeError, 'nms', 'scores');
    expectError(() => nms(tensor([[0, 0, 1, 1]], { dtype: 'int64', device: dev }), tensor([1], { dtype: 'int64', device: dev }), 0.5), DTypeError, 'nms', 'boxes');
    expectError(() => nms(b, s, NaN), ValueError, 'nms', 'iouThreshold');
    expectError(() => batchedNms(b, s, f64([0]), 0.5), DTypeError, 'batched_nms', 'idxs');
    expectError(() => batchedNms(b, s, tensor([0, 1], { device: dev }), 0.5), ShapeError, 'batched_nms', 'idxs');
  });

  it('leaves nothing allocated', () => {
    const boxes = f64(randomBoxes(11, 100, 3)), scores = f64(Array.from({ length: 100 }, testRng(11)));
    const cats = tensor(Array.from({ length: 100 }, (_, i) => i % 3), { device: dev });
    synchronize(dev);
    const before = memoryStats(dev).allocated;
    nms(boxes, scores, 0.5).dispose();
    batchedNms(boxes, scores, cats, 0.5).dispose();
    tidy(() => {
      nms(boxes.slice(0, 0, 10), scores.slice(0, 0, 10), 0.1);
    });
    synchronize(dev);
    expect(memoryStats(dev).allocated).toBe(before);
  });
});
