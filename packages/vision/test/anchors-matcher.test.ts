// AnchorGenerator and Matcher against torchvision 0.14 (fixtures by
// tools/reference/make_anchor_fixtures.py), on every device, with their argument checks and no leaks.
import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { type DType, type Tensor, DTypeError, ShapeError, ValueError, memoryStats, profile, tensor, tidy, zeros } from '@kiln/tensor';
import { expectError, forEachDevice, randomValues, settledAllocated } from '@kiln/tensor/testing';
import { AnchorGenerator, Matcher } from '@kiln/vision';

interface AnchorCase {
  name: string; sizes: number[] | number[][] | null; aspectRatios: number[] | number[][] | null; imageShape: number[]; grids: [number, number][];
  dtype: DType; cellAnchors: number[][][]; numAnchorsPerLocation: number[]; numImages: number; anchors: number[];
}
interface MatcherCase { name: string; high: number; low: number; allowLowQualityMatches: boolean; shape: [number, number]; iou: number[]; matches: number[] }
const fixtures = JSON.parse(readFileSync(new URL('./fixtures/anchors-matcher.json', import.meta.url), 'utf8')) as { anchors: AnchorCase[]; matcher: MatcherCase[] };

const values = (t: Tensor) => Array.from(t.toTypedArray() as ArrayLike<number | bigint>, Number);
const generatorOf = (c: AnchorCase) => c.sizes === null ? new AnchorGenerator() : new AnchorGenerator(c.sizes, c.aspectRatios ?? undefined);

forEachDevice('AnchorGenerator', (dev) => {
  for (const c of fixtures.anchors) {
    it(`${c.name}: torchvision's anchors, in the feature maps' dtype and device`, () => {
      const gen = generatorOf(c);
      expect(gen.cellAnchors).toEqual(c.cellAnchors);
      expect(gen.numAnchorsPerLocation()).toEqual(c.numAnchorsPerLocation);
      const images = zeros(c.imageShape, { dtype: c.dtype, device: dev });
      const features = c.grids.map(([h, w]) => zeros([c.imageShape[0], 2, h, w], { dtype: c.dtype, device: dev }));
      const anchors = gen.call(images, features);
      expect(anchors.length).toBe(c.numImages);
      for (const a of anchors) {
        expect(a.device.type).toBe(dev);
        expect(a.dtype).toBe(c.dtype);
        expect(a.shape).toEqual([c.anchors.length / 4, 4]);
        expect(values(a)).toEqual(c.anchors);                      // exact: integers plus integer shifts
      }
      for (const t of [images, ...features, ...anchors]) t.dispose();
    });
  }

  it('takes an ImageList and makes one tensor per image size listed', () => {
    const gen = new AnchorGenerator([[32]], [[1]]);
    const tensors = zeros([1, 3, 16, 16], { device: dev }), f = zeros([1, 4, 2, 2], { device: dev });
    const anchors = gen.call({ tensors, imageSizes: [[16, 16]] }, [f]);
    expect(values(anchors[0])).toEqual([-16, -16, 16, 16, -8, -16, 24, 16, -16, -8, 16, 24, -8, -8, 24, 24]);
    for (const t of [tensors, f, ...anchors]) t.dispose();
  });

  it('leaves nothing allocated but its outputs', async () => {
    const gen = new AnchorGenerator([[32, 64], [128]], [[0.5, 1, 2], [1]]);
    const images = zeros([2, 3, 64, 64], { device: dev }), features = [zeros([2, 8, 8, 8], { device: dev }), zeros([2, 8, 4, 4], { device: dev })];
    gen.call(images, features).forEach((a) => a.dispose());
    const before = await settledAllocated(dev);
    for (let i = 0; i < 20; i++) gen.call(images, features).forEach((a) => a.dispose());
    expect(await settledAllocated(dev)).toBe(before);
    for (const t of [images, ...features]) t.dispose();
  });

  it('makes the anchors of a size once: a second call launches a copy per image (batchAnchors none); other sizes, dtypes and evicted sets are made again, right', () => {
    const gen = new AnchorGenerator([[32, 64], [128]], [[0.5, 1, 2], [1]]);
    const anchorsAt = (side: number, dtype: DType = 'float32') => {
      const images = zeros([2, 3, side, side], { device: dev }), features = [zeros([2, 8, side / 8, side / 8], { dtype, device: dev }), zeros([2, 8, side / 16, side / 16], { dtype, device: dev })];
      let out: Tensor[] = [];
      const launched = profile(() => { out = gen.call(images, features); }).keyAverages().filter((r) => r.kind === 'kernel').reduce((n, r) => n + r.calls, 0);
      const got = out.map(values);
      for (const t of [images, ...features, ...out]) t.dispose();      // disposing the copies leaves the kept set intact
      return { launched, got };
    };
    const fresh = (side: number, dtype: DType = 'float32') => new AnchorGenerator([[32, 64], [128]], [[0.5, 1, 2], [1]]).gridAnchors(
      [[side / 8, side / 8], [side / 16, side / 16]], [[8, 8], [16, 16]], { dtype, device: dev }).flatMap(values);
    const first = anchorsAt(64);
    expect(first.launched).toBeGreaterThan(0);
    expect(first.got[0]).toEqual(fresh(64));
    expect(first.got[1]).toEqual(first.got[0]);
    const again = anchorsAt(64);
    expect(again.launched).toBe(2);   // each image's copy of the kept set
    const images = zeros([2, 3, 64, 64], { device: dev }), features = [zeros([2, 8, 8, 8], { device: dev }), zeros([2, 8, 4, 4], { device: dev })];
    let batch: Tensor | null = null;
    expect(profile(() => { batch = gen.batchAnchors(images, features); }).keyAverages().filter((r) => r.kind === 'kernel')).toEqual([]);
    expect([batch!.shape, values(batch!.select(0, 1))]).toEqual([[2, first.got[0].length / 4, 4], first.got[0]]);
    for (const t of [images, ...features, batch!]) t.dispose();
    expect(again.got).toEqual(first.got);
    expect(anchorsAt(64, 'float64').launched).toBeGreaterThan(0);   // another dtype: another set
    for (let side = 80; side <= 80 + 16 * 8; side += 16) expect(anchorsAt(side).got[0]).toEqual(fresh(side));   // 9 more sizes: the first ones evicted
    const remade = anchorsAt(64);
    expect(remade.launched).toBeGreaterThan(0);
    expect(remade.got).toEqual(first.got);
  });

  it('clearCache frees the anchors kept: allocated memory back where it was; the next call makes them again', () => {
    const images = zeros([2, 3, 64, 64], { device: dev }), features = [zeros([2, 8, 8, 8], { device: dev })];
    const before = memoryStats(dev).allocated;
    const gen = new AnchorGenerator([[32, 64]], [[0.5, 1, 2]]);
    const first = gen.call(images, features);
    const want = values(first[0]);
    first.forEach((a) => a.dispose());
    expect(memoryStats(dev).allocated).toBeGreaterThan(before);
    gen.clearCache();
    expect(memoryStats(dev).allocated).toBe(before);
    const again = gen.call(images, features);
    expect(values(again[0])).toEqual(want);
    gen.clearCache();
    expect(values(again[1])).toEqual(want);           // what was handed out is a copy: still there
    again.forEach((a) => a.dispose());
    expect(memoryStats(dev).allocated).toBe(before);
    for (const t of [images, ...features]) t.dispose();
  });

  it("hands out each image's anchors in memory of its own: an in-place op changes neither the other images' nor later calls'", () => {
    const gen = new AnchorGenerator([[16]], [[1]]);
    for (const batch of [2, 1]) {
      const images = zeros([batch, 3, 32, 32], { device: dev }), f = zeros([batch, 8, 2, 2], { device: dev });
      const a = gen.call(images, [f]);
      const want = values(a[0]);
      a[0].add_(100);
      if (batch === 2) a[1].clamp_(0, 32);   // torchvision-style clipping to the image
      expect(values(a[0])).toEqual(want.map((v) => v + 100));
      const b = gen.call(images, [f]);
      expect(b.map(values)).toEqual(b.map(() => want));
      for (const t of [images, f, ...a, ...b]) t.dispose();
    }
  });

  it('rejects mismatched levels and shapes with typed errors', () => {
    expectError(() => new AnchorGenerator('abc' as never, [[1]]), ValueError, { op: 'AnchorGenerator', argument: 'sizes' });
    expectError(() => new AnchorGenerator([], [[1]]), ValueError, { op: 'AnchorGenerator', argument: 'sizes' });
    expectError(() => new AnchorGenerator([[16]]).call({ tensors: zeros([1, 3, 8, 8], { device: dev }) } as never, [zeros([1, 2, 2, 2], { device: dev })]), ValueError,
      { op: 'AnchorGenerator.forward', argument: 'images.imageSizes' });
    expectError(() => new AnchorGenerator([[32], [64]], [[1]]), ValueError, { op: 'AnchorGenerator', argument: 'aspectRatios', expected: 'one list per level of sizes (2)', got: '1 lists' });
    expectError(() => new AnchorGenerator([[32, -1]], [[1]]), ValueError, { op: 'AnchorGenerator', argument: 'sizes[0]', expected: 'a non-empty list of positive finite numbers', got: '[32,-1]' });
    expectError(() => new AnchorGenerator([[32]], [[]]), ValueError, { op: 'AnchorGenerator', argument: 'aspectRatios[0]', expected: 'a non-empty list of positive finite numbers', got: '[]' });
    const gen = new AnchorGenerator([[32], [64]], [[1], [1]]);
    const images = zeros([1, 3, 16, 16], { device: dev }), f = zeros([1, 2, 4, 4], { device: dev });
    expectError(() => gen.call(images, [f]), ValueError, { op: 'AnchorGenerator.gridAnchors', argument: 'gridSizes', expected: 'one grid size and one stride per level (2 levels)', got: '1 grid sizes and 1 strides' });
    expectError(() => gen.call(images.select(0, 0), [f, f]), ShapeError, { op: 'AnchorGenerator.forward', argument: 'images', expected: 'a batch [B, C, H, W]', got: '[3, 16, 16]' });
    const tall = zeros([1, 2, 32, 4], { device: dev });
    expectError(() => gen.call(images, [f, tall]), ShapeError, { op: 'AnchorGenerator.forward', argument: 'featureMaps[1]', expected: 'a grid of 1 to 16 × 16 cells', got: '32 × 4' });
    expectError(() => gen.call(images, []), ValueError, { op: 'AnchorGenerator.forward', argument: 'featureMaps', expected: 'at least one feature map', got: '[]' });
    // gridAnchors is public: a NaN stride gave NaN anchors; a misspelt placement was ignored (float32 on the CPU)
    expectError(() => gen.gridAnchors([[2, 2], [1, 1]], [[8, 8], [16, 16]], { dtpye: 'float64' } as never), ValueError, { op: 'AnchorGenerator.gridAnchors', argument: 'placement', expected: 'only the options dtype, device', got: '"dtpye"' });
    expectError(() => gen.gridAnchors([[2, 2], [1, 1]], [[8, 8], [NaN, 16]]), ValueError, { op: 'AnchorGenerator.gridAnchors', argument: 'strides[1]', expected: 'two finite numbers > 0 (y, x)', got: '[NaN, 16]' });
    expectError(() => gen.gridAnchors([[2, 1.5], [1, 1]], [[8, 8], [16, 16]]), ValueError, { op: 'AnchorGenerator.gridAnchors', argument: 'gridSizes[0]', expected: 'two integers >= 1 (height, width)', got: '[2, 1.5]' });
    for (const t of [images, f, tall]) t.dispose();      // nothing left to the collector: other tests measure memory
  });
});

forEachDevice('Matcher', (dev) => {
  for (const c of fixtures.matcher) {
    // (in tidy: every intermediate is freed here, not left to the collector, since the memory test
    // below counts bytes and a collection during it would free them there)
    it(`${c.name}: torchvision's matches`, () => tidy(() => {
      const q = tensor(c.iou, { dtype: 'float32', device: dev }).reshape(c.shape);
      const m = new Matcher(c.high, c.low, c.allowLowQualityMatches).call(q);
      expect(m.dtype).toBe('int64');
      expect(m.device.type).toBe(dev);
      expect(values(m)).toEqual(c.matches);
      // the same from a non-contiguous view (the transpose of a contiguous [N, M] matrix)
      const qt = tensor(c.iou, { dtype: 'float32', device: dev }).reshape(c.shape).transpose(0, 1).contiguous().transpose(0, 1);
      if (!c.shape.includes(1)) expect(qt.isContiguous).toBe(false);
      expect(values(new Matcher(c.high, c.low, c.allowLowQualityMatches).call(qt))).toEqual(c.matches);
    }));
  }

  it('callBatched: each image as call on its real rows; padded rows ignored; an image without rows all background', () => tidy(() => {
    // qualities on a grid of 0.1 (ties within and across rows), a row of zeros (a ground truth
    // overlapping nothing: every anchor is its best), and padding rows of 0.99 that would win
    // every anchor if they took part
    const N = 7, counts = [3, 0, 1, 2], G = 3;
    const grid = randomValues(5, counts.length * G * N, 0, 1).map((v) => Math.round(v * 10) / 10);
    const rows: number[][][] = counts.map((m, b) => Array.from({ length: G }, (_, g) => (g < m ? grid.slice((b * G + g) * N, (b * G + g + 1) * N) : new Array<number>(N).fill(0.99))));
    rows[2][0] = new Array<number>(N).fill(0);
    const q = tensor(rows, { dtype: 'float32', device: dev });
    const valid = tensor(counts.map((m) => Array.from({ length: G }, (_, g) => g < m)), { device: dev });
    for (const lowQuality of [false, true]) {
      const matcher = new Matcher(0.5, 0.4, lowQuality);
      const batched = matcher.callBatched(q, valid);
      expect(batched.shape).toEqual([counts.length, N]);
      counts.forEach((m, b) => {
        const expected = m === 0 ? new Array<number>(N).fill(-1) : values(matcher.call(tensor(rows[b].slice(0, m), { dtype: 'float32', device: dev })));
        expect(values(batched.select(0, b)), `image ${b}, low-quality matches ${lowQuality}`).toEqual(expected);
      });
    }
    expect(values(new Matcher(0.5, 0.4, true).callBatched(q, valid).select(0, 2))).toEqual(new Array<number>(N).fill(0));
    const m = new Matcher(0.5, 0.4);
    expectError(() => m.callBatched(q.select(0, 0), valid), ShapeError, { op: 'Matcher.callBatched', argument: 'matchQualityMatrix', expected: 'a batch of matrices [B, M > 0 ground-truth rows, N > 0 anchors]', got: '[3, 7]' });
    expectError(() => m.callBatched(q, valid.narrow(1, 0, 2)), ShapeError, { op: 'Matcher.callBatched', argument: 'validRows', expected: 'a bool mask [4, 3] (one per ground-truth row)', got: 'bool [4, 2]' });
    expectError(() => m.callBatched(q, valid.to('float32')), ShapeError, { op: 'Matcher.callBatched', argument: 'validRows', got: 'float32 [4, 3]' });
    expectError(() => m.callBatched(q.to('int64'), valid), DTypeError, { op: 'Matcher.callBatched', argument: 'matchQualityMatrix', expected: 'a floating dtype', got: 'int64' });
  }));

  it('leaves nothing allocated but the matches', async () => {
    const q = tensor(fixtures.matcher[1].iou, { device: dev }).reshape(fixtures.matcher[1].shape);
    const matcher = new Matcher(0.5, 0.4, true);
    matcher.call(q).dispose();
    const before = await settledAllocated(dev);
    for (let i = 0; i < 20; i++) matcher.call(q).dispose();
    expect(await settledAllocated(dev)).toBe(before);
    q.dispose();
  });

  it('rejects empty matrices, bad thresholds and non-matrices with typed errors', () => {
    expectError(() => new Matcher(0.4, 0.5), ValueError, { op: 'Matcher', argument: 'lowThreshold', expected: 'at most highThreshold (0.4)', got: '0.5' });
    expectError(() => new Matcher(NaN, 0.5), ValueError, { op: 'Matcher', argument: 'highThreshold', expected: 'a number', got: 'NaN' });
    expectError(() => new Matcher(0.5, 0.4, 'no' as unknown as boolean), ValueError, { op: 'Matcher', argument: 'allowLowQualityMatches', expected: 'true or false', got: '"no"' });
    const m = new Matcher(0.5, 0.4);
    const bad = [zeros([0, 5], { device: dev }), zeros([3, 0], { device: dev }), zeros([3], { device: dev }), zeros([2, 3], { dtype: 'int64', device: dev })];
    expectError(() => m.call(bad[0]), ValueError, { op: 'Matcher', argument: 'matchQualityMatrix', expected: 'ground-truth boxes (M > 0) for the image', got: '[0, 5]' });
    expectError(() => m.call(bad[1]), ValueError, { op: 'Matcher', argument: 'matchQualityMatrix', expected: 'proposal or anchor boxes (N > 0) for the image', got: '[3, 0]' });
    expectError(() => m.call(bad[2]), ShapeError, { op: 'Matcher', argument: 'matchQualityMatrix', expected: 'a matrix [M ground truths, N anchors]', got: '[3]' });
    expectError(() => m.call(bad[3]), DTypeError, { op: 'Matcher', argument: 'matchQualityMatrix', expected: 'a floating dtype', got: 'int64' });
    for (const t of bad) t.dispose();
  });
});
