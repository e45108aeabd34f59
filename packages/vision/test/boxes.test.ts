/**
 * The box utilities beyond the torchvision fixtures (fixtures.test.ts): hand-checked values, the
 * upcast of half types, format round trips, empty inputs, errors, and MultiScaleRoIAlign's
 * options and level mapping.
 */
import { expect, it } from 'vitest';
import { type DType, DTypeError, DeviceError, ShapeError, ValueError, memoryStats, randn, stack, synchronize, tensor, tidy } from '@kiln/tensor';
import '@kiln/autograd';
import { expectClose, expectError, forEachDevice, randomValues, settleMemoryBeforeEach } from '@kiln/tensor/testing';
import {
  BoxCoder, type BoxFormat, MultiScaleRoIAlign, batchedBoxIou, boxArea, boxConvert, boxIou, clipBoxesToImage, completeBoxIou, distanceBoxIou, generalizedBoxIou,
  removeSmallBoxes, roiAlign,
} from '@kiln/vision';

settleMemoryBeforeEach();

forEachDevice('box utilities', (dev) => {
  const t = (v: number[][], dtype: DType = 'float64') => tensor(v, { dtype, device: dev });

  it('hand-checked IoUs', () => tidy(() => {
    const a = t([[0, 0, 2, 2]]), b = t([[1, 1, 3, 3], [4, 4, 5, 5], [0, 0, 2, 2]]);
    expectClose(boxIou(a, b), [1 / 7, 0, 1], { rtol: 1e-15, atol: 0 });
    // enclosing box of (0,0,2,2) and (4,4,5,5): 25, union 5 → 0 - 20/25
    expectClose(generalizedBoxIou(a, b), [1 / 7 - (9 - 7) / 9, -20 / 25, 1], { rtol: 1e-15, atol: 1e-16 });
    // centers (1,1) and (2,2): d² = 2, enclosing diagonal² = 18; (1,1) and (4.5,4.5): d² = 24.5, diagonal² = 50
    expectClose(distanceBoxIou(a, b), [1 / 7 - 2 / (18 + 1e-7), 0 - 24.5 / (50 + 1e-7), 1], { rtol: 1e-14, atol: 1e-15 });
    expectClose(completeBoxIou(a, b), distanceBoxIou(a, b), { rtol: 1e-14, atol: 1e-15 });   // equal aspect ratios: v = 0
  }));

  it('batchedBoxIou: entry b is boxIou of entry b, on every pair; typed errors for mismatched batches', () => tidy(() => {
    // random boxes: corners (x, y) and positive sizes, some overlapping, some not
    const boxes = (seed: number, n: number) => {
      const v = randomValues(seed, n * 4, 0, 20);
      return t(Array.from({ length: n }, (_, i) => [v[4 * i], v[4 * i + 1], v[4 * i] + 1 + v[4 * i + 2], v[4 * i + 1] + 1 + v[4 * i + 3]]));
    };
    const first = [boxes(1, 3), boxes(2, 3)], second = [boxes(3, 5), boxes(4, 5)];
    const batched = batchedBoxIou(stack(first), stack(second));
    expect(batched.shape).toEqual([2, 3, 5]);
    for (let b = 0; b < 2; b++) expectClose(batched.select(0, b), boxIou(first[b], second[b]), { rtol: 0, atol: 0 });
    expect(batchedBoxIou(stack(first).to('float16'), stack(second).to('bfloat16')).dtype).toBe('float32');
    expectError(() => batchedBoxIou(stack(first), second[0]), ShapeError, { op: 'batched_box_iou', argument: 'boxes2', expected: 'boxes [B, M, 4] with the B of boxes1 [2, 3, 4]', got: '[5, 4]' });
    expectError(() => batchedBoxIou(stack(first), stack([second[0]])), ShapeError, { op: 'batched_box_iou', argument: 'boxes2', got: '[1, 5, 4]' });
    expectError(() => batchedBoxIou(stack(first).narrow(2, 0, 3), stack(second)), ShapeError, { op: 'batched_box_iou', argument: 'boxes1' });
  }));

  it('half-type boxes compute in float32; integer boxes give areas in their own dtype', () => tidy(() => {
    const h = t([[0, 0, 300, 300], [10, 10, 20, 30]], 'float16');
    expect(boxIou(h, h).dtype).toBe('float32');
    expect(boxArea(h).dtype).toBe('float32');
    expect(boxArea(h).toArray()).toEqual([90000, 200]);   // 90000 overflows float16
    const i = t([[0, 0, 3, 4]], 'int64');
    expect(boxArea(i).dtype).toBe('int64');
    expect(boxArea(i).toArray()).toEqual([12]);
  }));

  it('boxConvert round-trips between every pair of formats, on [..., 4] shapes', () => tidy(() => {
    const boxes = t(Array.from({ length: 6 }, (_, k) => { const v = randomValues(k, 4, 0, 10); return [v[0], v[1], v[0] + v[2], v[1] + v[3]]; })).reshape([2, 3, 4]);
    const formats: BoxFormat[] = ['xyxy', 'xywh', 'cxcywh'];
    for (const a of formats) for (const b of formats) {
      const there = boxConvert(boxConvert(boxes, 'xyxy', a), a, b);
      expectClose(boxConvert(there, b, 'xyxy'), boxes, { rtol: 1e-14, atol: 1e-14, what: `${a} -> ${b}` });
    }
    expect(boxConvert(boxes, 'xyxy', 'xyxy').storage).not.toBe(boxes.storage);
  }));

  it('empty inputs', () => tidy(() => {
    const none = t([]).reshape([0, 4]);
    expect(boxIou(none, t([[0, 0, 1, 1]])).shape).toEqual([0, 1]);
    expect(boxArea(none).shape).toEqual([0]);
    expect(removeSmallBoxes(none, 1).shape).toEqual([0]);
    expect(clipBoxesToImage(none, [5, 5]).shape).toEqual([0, 4]);
    expect(new BoxCoder([1, 1, 1, 1]).decode(t([]).reshape([0, 4]), [none]).shape).toEqual([0, 4]);
  }));

  it('BoxCoder: encode then decode returns the boxes; decode clamps dw, dh at log(1000 / 16)', () => tidy(() => {
    const coder = new BoxCoder([10, 10, 5, 5]);
    const anchors = t([[0, 0, 10, 10], [5, 5, 25, 15]]), gt = t([[1, 2, 11, 14], [4, 6, 30, 16]]);
    const codes = coder.encodeSingle(gt, anchors);
    expectClose(coder.decodeSingle(codes, anchors), gt, { rtol: 1e-14, atol: 1e-13 });
    const huge = coder.decodeSingle(t([[0, 0, 100, 100]]), t([[0, 0, 16, 16]]));
    expectClose(huge, [8 - 500, 8 - 500, 8 + 500, 8 + 500], { rtol: 1e-12, atol: 0 });
    const [a, b] = coder.encode([gt.slice(0, 0, 1), gt.slice(0, 1)], [anchors.slice(0, 0, 1), anchors.slice(0, 1)]);
    expectClose(a, codes.slice(0, 0, 1), { rtol: 0, atol: 0 });
    expectClose(b, codes.slice(0, 1), { rtol: 0, atol: 0 });
    expect(coder.decode(codes, [anchors]).shape).toEqual([2, 1, 4]);
  }));

  // The tests above run in tidy: a tensor they left to the garbage collector could be freed during
  // this one and lower the count it compares.
  it('leaves nothing allocated (temporaries go with the enclosing tidy), also through backward', () => {
    const a = t([[0, 0, 2, 2], [1, 0, 3, 4]]), b = t([[1, 1, 3, 3]]);
    synchronize(dev);
    const before = memoryStats(dev).allocated;
    tidy(() => {
      const x = a.detach().requiresGrad_();
      for (const f of [boxIou, generalizedBoxIou, distanceBoxIou, completeBoxIou]) f(x, b).sum().backward();
      boxConvert(x, 'xyxy', 'cxcywh');
      clipBoxesToImage(x, [2, 2]);
      removeSmallBoxes(x, 1);
      const coder = new BoxCoder([1, 1, 1, 1]);
      coder.decodeSingle(coder.encodeSingle(x, a), a);
      x.grad?.dispose();
    });
    synchronize(dev);
    expect(memoryStats(dev).allocated).toBe(before);
    a.dispose();
    b.dispose();
  });

  it('refuses bad arguments with typed errors', () => {
    const ok = t([[0, 0, 1, 1]]);
    expectError(() => boxIou(t([[0, 0, 1]]), ok), ShapeError, 'box_iou', 'boxes1');
    expectError(() => generalizedBoxIou(ok, tensor([[true, false, true, true]], { device: dev })), DTypeError, 'generalized_box_iou', 'boxes2');
    expectError(() => distanceBoxIou(ok, ok, -1), ValueError, 'distance_box_iou', 'eps');
    expectError(() => boxConvert(ok, 'xyxy', 'yxyx' as BoxFormat), ValueError, 'box_convert', 'outFmt');
    expectError(() => clipBoxesToImage(ok, [5] as never), ValueError, 'clip_boxes_to_image', 'size');
    expectError(() => removeSmallBoxes(ok, NaN), ValueError, 'remove_small_boxes', 'minSize');
    expectError(() => new BoxCoder([1, 1, 0, 1]), ValueError, 'BoxCoder', 'weights');
    expectError(() => new BoxCoder([1, 1, 1, 1]).encodeSingle(ok, t([[0, 0, 1, 1], [0, 0, 2, 2]])), ShapeError, 'encodeSingle', 'proposals');
    expectError(() => new BoxCoder([1, 1, 1, 1]).decodeSingle(t([[0, 0, 1]]), ok), ShapeError, 'decodeSingle', 'relCodes');
    expectError(() => new BoxCoder([1, 1, 1, 1]).decode(t([[0, 0, 1, 1]]), [[0, 0, 1, 1]] as never), ValueError, { op: 'BoxCoder.decode', argument: 'boxes[0]', expected: 'a Tensor', got: '[0, 0, 1, 1]' });
    if (dev === 'cuda') expectError(() => boxIou(ok, tensor([[0, 0, 1, 1]])), DeviceError, 'box_iou', 'boxes2');
  });
});

it('MultiScaleRoIAlign refuses an option it does not know (sampling_ratio was ignored)', () => {
  expectError(() => new MultiScaleRoIAlign({ featmapNames: ['p2'], outputSize: 7, samplingRatio: 2, sampling_ratio: 0 } as never), ValueError, { op: 'MultiScaleRoIAlign', argument: 'options', got: '"sampling_ratio"' });
});

forEachDevice('MultiScaleRoIAlign', (dev) => {
  it('pools each box from the level of its size, in box order', () => {
    const features = { p2: randn([1, 2, 16, 16], { dtype: 'float64', device: dev, seed: 1 }), p3: randn([1, 2, 8, 8], { dtype: 'float64', device: dev, seed: 2 }) };
    const pooler = new MultiScaleRoIAlign({ featmapNames: ['p2', 'p3'], outputSize: 2, samplingRatio: 2, canonicalScale: 16, canonicalLevel: 2 });
    // sizes 4 (level 2 - 2 = 0 -> p2) and 40 (level 2 + log2(2.5) = 3.3 -> p3)
    const boxes = tensor([[0, 0, 40, 40], [1, 1, 5, 5]], { dtype: 'float64', device: dev });
    const y = pooler.call(features, [boxes], [[64, 64]]);
    expect(pooler.scales).toEqual([0.25, 0.125]);
    const rows = (b: number[][]) => tensor(b.map((r) => [0, ...r]), { dtype: 'float64', device: dev });
    expectClose(y.slice(0, 0, 1), roiAlign(features.p3, rows([[0, 0, 40, 40]]), { outputSize: 2, spatialScale: 0.125, samplingRatio: 2 }), { rtol: 0, atol: 0 });
    expectClose(y.slice(0, 1, 2), roiAlign(features.p2, rows([[1, 1, 5, 5]]), { outputSize: 2, spatialScale: 0.25, samplingRatio: 2 }), { rtol: 0, atol: 0 });
    // one level: plain roiAlign; a Map keeps its order
    const single = new MultiScaleRoIAlign({ featmapNames: ['p3'], outputSize: [1, 2], samplingRatio: 1 });
    expect(single.call(new Map([['p3', features.p3]]), [boxes], [[64, 64]]).shape).toEqual([2, 2, 1, 2]);
  });

  it('refuses bad options and inputs', () => {
    expectError(() => new MultiScaleRoIAlign({ featmapNames: [], outputSize: 7, samplingRatio: 2 }), ValueError, 'MultiScaleRoIAlign', 'featmapNames');
    expectError(() => new MultiScaleRoIAlign({ featmapNames: ['a'], outputSize: [7, 0], samplingRatio: 2 }), ValueError, 'MultiScaleRoIAlign', 'outputSize');
    expectError(() => new MultiScaleRoIAlign({ featmapNames: ['a'], outputSize: 7, samplingRatio: 0.5 }), ValueError, 'MultiScaleRoIAlign', 'samplingRatio');
    const pooler = new MultiScaleRoIAlign({ featmapNames: ['a'], outputSize: 2, samplingRatio: 2 });
    const boxes = tensor([[0, 0, 4, 4]], { dtype: 'float64', device: dev });
    expectError(() => pooler.call({ b: randn([1, 1, 4, 4], { dtype: 'float64', device: dev }) }, [boxes], [[8, 8]]), ValueError, 'MultiScaleRoIAlign', 'features');
    expectError(() => pooler.call({ a: randn([1, 1, 4, 4], { dtype: 'float64', device: dev }) }, [boxes], []), ValueError, 'MultiScaleRoIAlign', 'imageShapes');
  });
});
