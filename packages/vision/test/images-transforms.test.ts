// Image decoding through sharp, the box-aware transforms, detectionCollate and CocoDetection on a
// small COCO folder written by the test (PNG: lossless, so pixels are known exactly).
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { type Tensor, ShapeError, ValueError, tensor } from '@kiln/tensor';
import { expectClose, expectError } from '@kiln/tensor/testing';
import {
  CocoDetection, DataLoader, type DetectionSample, type RawImage, compose, detectionCollate, horizontalFlip, imageToTensor, normalize,
  randomHorizontalFlip, readImage, resize, resizedSize, toTensor,
} from '@kiln/vision';

const dir = mkdtempSync(join(tmpdir(), 'kiln-vision-'));
// a W × H RGB image whose pixel (x, y) is (x, y, x + y) mod 256
const pattern = (W: number, H: number): Uint8Array => {
  const px = new Uint8Array(W * H * 3);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) px.set([x % 256, y % 256, (x + y) % 256], 3 * (y * W + x));
  return px;
};
const png = (W: number, H: number, channels: 1 | 3 | 4 = 3) => {
  const rgb = pattern(W, H);
  const data = channels === 3 ? rgb : Uint8Array.from({ length: W * H * channels }, (_, i) => (channels === 1 ? rgb[3 * i] : i % 4 === 3 ? 128 : rgb[3 * Math.floor(i / 4) + (i % 4)]));
  return sharp(data, { raw: { width: W, height: H, channels } }).png().toBuffer();
};
const values = (t: Tensor) => Array.from(t.toTypedArray() as ArrayLike<number | bigint>, Number);
const sample = (image: RawImage | Tensor, boxes: number[][], imageId = 1): DetectionSample =>
  ({ image, target: { boxes: tensor(boxes, { dtype: 'float32' }).reshape([-1, 4]), labels: tensor(boxes.map(() => 1), { dtype: 'int64' }), imageId } });

beforeAll(async () => {
  writeFileSync(join(dir, 'a.png'), await png(12, 8));
  writeFileSync(join(dir, 'b.png'), await png(10, 6));
  writeFileSync(join(dir, 'grey.png'), await png(5, 4, 1));
  writeFileSync(join(dir, 'rgba.png'), await png(5, 4, 4));
  writeFileSync(join(dir, 'ann.json'), JSON.stringify({
    images: [{ id: 20, file_name: 'b.png', width: 10, height: 6 }, { id: 3, file_name: 'a.png', width: 12, height: 8 }],
    categories: [{ id: 5, name: 'thing' }, { id: 9, name: 'other' }],
    annotations: [
      { id: 1, image_id: 3, category_id: 9, bbox: [1, 1, 4, 3], area: 12, iscrowd: 0 },
      { id: 2, image_id: 3, category_id: 5, bbox: [0, 0, 12, 8], area: 96, iscrowd: 1 },
      { id: 3, image_id: 3, category_id: 5, bbox: [10, 6, 5, 5], area: 25, iscrowd: 0 },   // clipped to the image
      { id: 4, image_id: 3, category_id: 5, bbox: [12, 2, 3, 3], area: 9, iscrowd: 0 },    // outside: dropped
    ],
  }));
});

describe('readImage and imageToTensor', () => {
  it('decodes RGB pixels exactly; greyscale gives three equal channels, alpha is dropped', async () => {
    const img = await readImage(join(dir, 'a.png'));
    expect([img.width, img.height]).toEqual([12, 8]);
    expect(Array.from(img.data)).toEqual(Array.from(pattern(12, 8)));
    const grey = await readImage(join(dir, 'grey.png'));
    expect(Array.from(grey.data.slice(0, 6))).toEqual([0, 0, 0, 1, 1, 1]);
    const rgba = await readImage(join(dir, 'rgba.png'));
    expect(Array.from(rgba.data)).toEqual(Array.from(pattern(5, 4)));
    await expect(readImage(join(dir, 'missing.png'))).rejects.toThrow();
  });

  it('imageToTensor gives float32 [3, H, W] in [0, 1]', async () => {
    const t = imageToTensor(await readImage(join(dir, 'a.png')));
    expect([t.dtype, t.shape]).toEqual(['float32', [3, 8, 12]]);
    const v = values(t);
    expect([v[0 * 96 + 2 * 12 + 5], v[1 * 96 + 2 * 12 + 5], v[2 * 96 + 2 * 12 + 5]]).toEqual([5 / 255, 2 / 255, 7 / 255].map(Math.fround));
    expectError(() => imageToTensor({ data: new Uint8Array(5), width: 2, height: 2 }), ValueError, { op: 'imageToTensor', argument: 'image', expected: '2 × 2 × 3 bytes', got: '5 bytes' });
    // toTensor of a sample without pixels was a TypeError reading data.length
    expectError(() => imageToTensor(3 as never), ValueError, { op: 'imageToTensor', argument: 'image', expected: 'decoded pixels { data: Uint8Array, width, height } (readImage)', got: '3' });
    expectError(() => imageToTensor({ data: [1, 2, 3], width: 1, height: 1 } as never), ValueError, { op: 'imageToTensor', argument: 'image' });
    t.dispose();
  });
});

describe('transforms', () => {
  it('resize scales the boxes by the size ratios; resizedSize follows torchvision\'s min/max rule', async () => {
    expect(resizedSize(480, 640, { minSize: 800, maxSize: 1333 })).toEqual([800, 1066]);
    expect(resizedSize(200, 1000, { minSize: 800, maxSize: 1333 })).toEqual([266, 1333]);
    const img = await readImage(join(dir, 'a.png'));
    const out = await resize({ size: [16, 6] })(sample(img, [[2, 2, 6, 4]]));
    expect([(out.image as RawImage).width, (out.image as RawImage).height]).toEqual([6, 16]);
    expectClose(out.target.boxes, [1, 4, 3, 8], { rtol: 0, atol: 1e-6 });
    const nearest = await resize({ size: [8, 12], interpolation: 'nearest' })(sample(img, [[0, 0, 1, 1]]));
    expect(Array.from((nearest.image as RawImage).data)).toEqual(Array.from(img.data));   // same size: unchanged
    expectError(() => resize({ size: [0, 4] }), ValueError, { op: 'resize', argument: 'size', expected: 'two positive integers [height, width]', got: '[0,4]' });
    expectError(() => resize({ size: [4, 4], minSize: 3 }), ValueError, { op: 'resize', argument: 'options', expected: 'either size or minSize (with maxSize)', got: '{"size":[4,4],"minSize":3}' });
    expectError(() => resize({}), ValueError, { op: 'resize', argument: 'options', expected: 'either size or minSize (with maxSize)', got: '{}' });
    expect(resizedSize(10, 20, { minSize: 8, maxSize: 12 })).toEqual([6, 12]);
    expectError(() => resizedSize(NaN, 20, { minSize: 8 }), ValueError, { op: 'resizedSize', argument: 'h', expected: 'an integer >= 1', got: 'NaN' });
    expectError(() => resizedSize(10, 0, { minSize: 8 }), ValueError, { op: 'resizedSize', argument: 'w', got: '0' });
    await expect(resize({ size: [4, 4] })(sample(imageToTensor(img), []))).rejects.toThrow(/resize before toTensor/);
  });

  it('horizontalFlip mirrors raw pixels, tensors and boxes; twice is the identity', async () => {
    const img = await readImage(join(dir, 'a.png'));
    const once = await horizontalFlip()(sample(img, [[1, 2, 4, 5]]));
    expectClose(once.target.boxes, [8, 2, 11, 5], { rtol: 0, atol: 0 });
    const raw = once.image as RawImage;
    expect(Array.from(raw.data.slice(0, 3))).toEqual([11, 0, 11]);
    const tensorFlip = await horizontalFlip()(sample(imageToTensor(img), [[1, 2, 4, 5]]));
    const fromRaw = imageToTensor(raw);
    expect(values(tensorFlip.image as Tensor)).toEqual(values(fromRaw));
    const twice = await horizontalFlip()(once);
    expect(Array.from((twice.image as RawImage).data)).toEqual(Array.from(img.data));
    expectClose(twice.target.boxes, [1, 2, 4, 5], { rtol: 0, atol: 0 });
  });

  it('randomHorizontalFlip decides by (seed, image id, visit), not by call order', async () => {
    const decide = async (ids: number[], seed: number) => {
      const t = randomHorizontalFlip(0.5, { seed });
      const out = new Map<number, boolean>();
      for (const id of ids) out.set(id, values((await t(sample({ data: new Uint8Array(3), width: 1, height: 1 }, [[0, 0, 0.5, 1]], id))).target.boxes)[0] === 0.5);
      return ids.map((id) => out.get(id));
    };
    const ids = [...Array(40).keys()];
    const forward = await decide(ids, 1), backward = (await decide([...ids].reverse(), 1)).reverse();
    expect(forward).toEqual(backward);
    expect(forward.filter(Boolean).length).toBeGreaterThan(8);
    expect(forward.filter(Boolean).length).toBeLessThan(32);
    expect(await decide(ids, 2)).not.toEqual(forward);
    expectError(() => randomHorizontalFlip(1.5), ValueError, { op: 'randomHorizontalFlip', argument: 'p', expected: 'a probability in [0, 1]', got: '1.5' });
    expectError(() => randomHorizontalFlip(0.5, { seeds: 3 } as never), ValueError, { op: 'randomHorizontalFlip', argument: 'options', expected: 'only the options seed', got: '"seeds"' });
    // boxes that are not [N, 4] were an error of index_select
    const threeCoords = { image: tensor([0, 0, 0], { dtype: 'float32' }).reshape([3, 1, 1]), target: { boxes: tensor([[0, 0, 1]], { dtype: 'float32' }), labels: tensor([1], { dtype: 'int64' }) } };
    expectError(() => horizontalFlip()(threeCoords), ShapeError, { op: 'horizontalFlip', argument: 'target.boxes', expected: 'boxes of shape [N, 4]', got: 'shape [1, 3]' });
    expectError(() => resize({ minSize: 8, max_size: 12 } as never), ValueError, { op: 'resize', argument: 'options', expected: 'only the options size, minSize, maxSize, interpolation', got: '"max_size"' });
  });

  it('normalize subtracts the mean and divides by the std per channel; compose chains', async () => {
    const img = await readImage(join(dir, 'a.png'));
    const t = compose([toTensor(), normalize([0.5, 0.25, 0], [0.5, 2, 1])]);
    const out = await t(sample(img, [[0, 0, 1, 1]]));
    const v = values(out.image as Tensor);
    expect(v[2 * 12 + 5]).toBeCloseTo((5 / 255 - 0.5) / 0.5, 6);
    expect(v[96 + 2 * 12 + 5]).toBeCloseTo((2 / 255 - 0.25) / 2, 6);
    expectError(() => normalize([0.5], [0]), ValueError, { op: 'normalize', argument: 'std', expected: 'non-zero finite values', got: '[0]' });
    // a non-function was accepted and failed at the first sample with a TypeError
    expectError(() => compose([toTensor(), normalize as never, 3 as never]), ValueError, { op: 'compose', argument: 'transforms[2]', expected: 'a transform (a function of a sample)', got: '3' });
    expectError(() => compose(toTensor() as never), ValueError, { op: 'compose', argument: 'transforms', expected: 'an array of transforms', got: 'function' });
    await expect(Promise.resolve().then(() => normalize([0.5, 0.5], [1, 1])(sample(imageToTensor(img), [])))).rejects.toThrow(ShapeError);
  });
});

describe('CocoDetection, DataLoader and detectionCollate together', () => {
  it('reads images and targets: sorted ids, boxes xyxy clipped, crowds and empty boxes dropped', async () => {
    const ds = new CocoDetection(dir, join(dir, 'ann.json'), { categoryToLabel: (c) => (c === 5 ? 0 : 1) });
    expect(ds.ids).toEqual([3, 20]);
    const { image, target } = await ds.get(0);
    expect([(image as RawImage).width, target.imageId]).toEqual([12, 3]);
    expect(values(target.boxes)).toEqual([1, 1, 5, 4, 10, 6, 12, 8]);
    expect(values(target.labels)).toEqual([1, 0]);
    const withCrowd = await new CocoDetection(dir, ds.coco, { keepCrowd: true }).get(0);
    // torchvision's transform (singular) was ignored: the samples came untransformed
    expectError(() => new CocoDetection(dir, ds.coco, { transform: toTensor() } as never), ValueError, { op: 'CocoDetection', argument: 'options', expected: 'only the options transforms, categoryToLabel, keepCrowd', got: '"transform"' });
    expect(values(withCrowd.target.labels)).toEqual([9, 5, 5]);
    const empty = await ds.get(1);
    expect(empty.target.boxes.shape).toEqual([0, 4]);
    await expect(ds.get(2)).rejects.toThrow(ValueError);
  });

  it('batches resized tensors with their targets; errors name what collate needs', async () => {
    const ds = new CocoDetection(dir, join(dir, 'ann.json'), { transforms: compose([resize({ size: [16, 24] }), randomHorizontalFlip(0.5, { seed: 3 }), toTensor()]) });
    const loader = new DataLoader(ds, { batchSize: 2, collate: detectionCollate });
    for await (const { images, targets } of loader) {
      expect(images.shape).toEqual([2, 3, 16, 24]);
      expect(targets.map((t) => t.imageId)).toEqual([3, 20]);
      expect(targets[0].boxes.shape).toEqual([2, 4]);
    }
    const raw = new DataLoader(new CocoDetection(dir, join(dir, 'ann.json')), { batchSize: 2, collate: detectionCollate });
    await expect((async () => { for await (const b of raw) b.images.dispose(); })()).rejects.toThrow(/toTensor/);
    const sizes = new DataLoader(new CocoDetection(dir, join(dir, 'ann.json'), { transforms: toTensor() }), { batchSize: 2, collate: detectionCollate });
    await expect((async () => { for await (const b of sizes) b.images.dispose(); })()).rejects.toThrow(/resize to one size/);
  });
});
