/**
 * roiAlign and roiPool on every device against float64 references written here (torchvision's
 * formulas), on random feature maps and rois: inside, partly and wholly outside the map,
 * inverted, tiny; aligned or not, fixed and adaptive sampling; [K, 5] rows and per-image box
 * lists; every float dtype; non-contiguous inputs; the gradient kernels; CPU against CUDA; errors
 * (bad batch indices); and nothing left allocated. (torchvision itself: fixtures.test.ts;
 * gradchecks: gradcheck.test.ts.)
 */
import { expect, it } from 'vitest';
import { type DType, DTypeError, ShapeError, ValueError, memoryStats, synchronize, tensor, tidy, zeros } from '@kiln/tensor';
import '@kiln/autograd';
import { cudaAvailable, expectClose, expectError, forEachDevice, randomValues, testRng, toNumbers, settleMemoryBeforeEach } from '@kiln/tensor/testing';
import { roiAlign, roiAlignBackward, roiPool } from '@kiln/vision';

settleMemoryBeforeEach();

interface Map4 {
  data: number[];
  shape: [number, number, number, number];
}

/** torchvision's bilinear sample of one plane, in float64. */
function bilinear(plane: number[], h: number, w: number, y: number, x: number): [number, number][] {
  if (!(y >= -1 && y <= h && x >= -1 && x <= w)) return [];
  y = Math.max(y, 0);
  x = Math.max(x, 0);
  let y0 = Math.floor(y), x0 = Math.floor(x), y1, x1;
  if (y0 >= h - 1) { y1 = y0 = h - 1; y = y0; } else y1 = y0 + 1;
  if (x0 >= w - 1) { x1 = x0 = w - 1; x = x0; } else x1 = x0 + 1;
  const ly = y - y0, lx = x - x0, hy = 1 - ly, hx = 1 - lx;
  return [[y0 * w + x0, hy * hx], [y0 * w + x1, hy * lx], [y1 * w + x0, ly * hx], [y1 * w + x1, ly * lx]];
}

/** RoI Align forward and (for an upstream gradient) backward, in float64. */
function refRoiAlign(input: Map4, rois: number[][], ph: number, pw: number, scale: number, sampling: number, aligned: boolean, grad?: number[]) {
  const [n, c, h, w] = input.shape;
  const out: number[] = [], gradIn = new Array<number>(n * c * h * w).fill(0);
  rois.forEach((roi, k) => {
    const off = aligned ? 0.5 : 0;
    const sw = roi[1] * scale - off, sh = roi[2] * scale - off;
    let rw = roi[3] * scale - off - sw, rh = roi[4] * scale - off - sh;
    if (!aligned) { rw = Math.max(rw, 1); rh = Math.max(rh, 1); }
    const bh = rh / ph, bw = rw / pw;
    const gh = sampling > 0 ? sampling : Math.max(0, Math.ceil(rh / ph)), gw = sampling > 0 ? sampling : Math.max(0, Math.ceil(rw / pw));
    const count = Math.max(gh * gw, 1);
    for (let ch = 0; ch < c; ch++) {
      const base = (roi[0] * c + ch) * h * w;
      for (let i = 0; i < ph; i++) for (let j = 0; j < pw; j++) {
        let sum = 0;
        const o = out.length;
        for (let iy = 0; iy < gh; iy++) {
          const y = sh + i * bh + ((iy + 0.5) * bh) / gh;
          for (let ix = 0; ix < gw; ix++) {
            const x = sw + j * bw + ((ix + 0.5) * bw) / gw;
            for (const [p, wt] of bilinear(input.data.slice(base, base + h * w), h, w, y, x)) {
              sum += wt * input.data[base + p];
              if (grad) gradIn[base + p] += (grad[((k * c + ch) * ph + i) * pw + j] * wt) / count;
            }
          }
        }
        out[o] = sum / count;
      }
    }
  });
  return { out, gradIn };
}

/** RoI max pooling forward and backward, in float64. */
function refRoiPool(input: Map4, rois: number[][], ph: number, pw: number, scale: number, grad?: number[]) {
  const [n, c, h, w] = input.shape;
  const out: number[] = [], gradIn = new Array<number>(n * c * h * w).fill(0);
  const round = (v: number) => Math.sign(v) * Math.round(Math.abs(v));   // C's round: halves away from zero
  rois.forEach((roi, k) => {
    const [x0, y0, x1, y1] = [1, 2, 3, 4].map((i) => round(roi[i] * scale)) as [number, number, number, number];
    const rw = Math.max(x1 - x0 + 1, 1), rh = Math.max(y1 - y0 + 1, 1);
    const bh = rh / ph, bw = rw / pw;
    for (let ch = 0; ch < c; ch++) {
      const base = (roi[0] * c + ch) * h * w;
      for (let i = 0; i < ph; i++) for (let j = 0; j < pw; j++) {
        const clip = (v: number, hi: number) => Math.min(Math.max(v, 0), hi);
        const hs = clip(Math.floor(i * bh) + y0, h), he = clip(Math.ceil((i + 1) * bh) + y0, h);
        const ws = clip(Math.floor(j * bw) + x0, w), we = clip(Math.ceil((j + 1) * bw) + x0, w);
        const empty = he <= hs || we <= ws;
        let best = empty ? 0 : -3.4028234663852886e38, at = -1;
        for (let yy = hs; yy < he; yy++) for (let xx = ws; xx < we; xx++) if (input.data[base + yy * w + xx] > best) { best = input.data[base + yy * w + xx]!; at = yy * w + xx; }
        const o = ((k * c + ch) * ph + i) * pw + j;
        out[o] = best;
        if (grad && at >= 0) gradIn[base + at] += grad[o];
      }
    }
  });
  return { out, gradIn };
}

function randomRois(seed: number, k: number, n: number, size: number): number[][] {
  const r = testRng(seed);
  const rows = Array.from({ length: k }, () => {
    const x = (r() - 0.2) * size, y = (r() - 0.2) * size;
    return [Math.floor(r() * n), x, y, x + r() * size * 0.7, y + r() * size * 0.7];
  });
  // partly outside, inverted, tiny, wholly outside, the whole map
  const special = [[0, -8, -8, 4, 4], [n - 1, 12, 12, 6, 5], [0, 3, 3, 3.1, 3.2], [n - 1, size * 1.5, size * 1.5, size * 2, size * 2], [0, 0, 0, size, size]];
  return [...special.slice(0, Math.min(5, k)), ...rows].slice(0, Math.max(k, 5));
}

function randomMap(seed: number, shape: [number, number, number, number]): Map4 {
  return { data: randomValues(seed, shape.reduce((a, b) => a * b, 1), -2, 2), shape };
}

forEachDevice('roiAlign', (dev) => {
  const f64 = (m: Map4) => tensor(m.data, { dtype: 'float64', device: dev }).reshape(m.shape);

  it('matches the float64 reference: aligned or not, fixed and adaptive sampling, scales, pooled sizes', () => {
    const map = randomMap(1, [2, 3, 9, 13]);
    const rois = randomRois(2, 14, 2, 24);
    for (const [ph, pw, scale, sampling, aligned] of [[7, 7, 0.5, 2, false], [2, 3, 0.5, 0, false], [3, 2, 1, 1, true], [4, 4, 0.25, 0, true], [1, 5, 0.5, -1, false]] as const) {
      const x = f64(map).requiresGrad_();
      const y = roiAlign(x, tensor(rois, { dtype: 'float64', device: dev }), { outputSize: [ph, pw], spatialScale: scale, samplingRatio: sampling, aligned });
      const grad = randomValues(3, y.numel, -1, 1);
      y.mul(tensor(grad, { dtype: 'float64', device: dev }).reshape(y.shape)).sum().backward();
      const ref = refRoiAlign(map, rois, ph, pw, scale, sampling, aligned, grad);
      const what = `${ph}x${pw} scale ${scale} sampling ${sampling} aligned ${aligned}`;
      expect(y.shape).toEqual([rois.length, 3, ph, pw]);
      expectClose(y, ref.out, { rtol: 1e-12, atol: 1e-13, what });
      expectClose(x.grad!, ref.gradIn, { rtol: 1e-12, atol: 1e-13, what: `${what} gradient` });
    }
  });

  it('takes per-image box lists, and computes float32 / float16 / bfloat16 in float32', () => {
    const map = randomMap(4, [2, 2, 8, 8]);
    const b0 = [[1, 1, 9, 9], [0, 2, 5, 14]], b1 = [[3, 3, 12, 7]];
    const rows = [...b0.map((b) => [0, ...b]), ...b1.map((b) => [1, ...b])];
    const ref = refRoiAlign(map, rows, 2, 2, 0.5, 2, false);
    const opts = { outputSize: 2, spatialScale: 0.5, samplingRatio: 2 };
    expectClose(roiAlign(f64(map), [tensor(b0, { dtype: 'float64', device: dev }), tensor(b1, { dtype: 'float64', device: dev })], opts), ref.out, { rtol: 1e-12, atol: 1e-13 });
    for (const [dtype, tol] of [['float32', 1e-5], ['float16', 4e-3], ['bfloat16', 3e-2]] as [DType, number][]) {
      const x = tensor(map.data, { dtype, device: dev }).reshape(map.shape);
      const stored = { data: toNumbers(x.toTypedArray()), shape: map.shape };
      const y = roiAlign(x, tensor(rows, { dtype, device: dev }), opts);
      expect(y.dtype).toBe(dtype);
      const roisStored = (toNumbers(tensor(rows, { dtype }).toTypedArray()));
      const r = refRoiAlign(stored, rows.map((_, i) => roisStored.slice(i * 5, i * 5 + 5)), 2, 2, 0.5, 2, false);
      expectClose(y, r.out, { rtol: tol, atol: tol, what: dtype });
    }
  });

  it('reads non-contiguous feature maps and rois; no rois; an empty map', () => {
    const map = randomMap(5, [1, 4, 6, 7]);
    const x = tensor(map.data, { dtype: 'float64', device: dev }).reshape([1, 6, 7, 4]).permute(0, 3, 1, 2);   // channels last
    const contiguousValues = toNumbers(x.contiguous().toTypedArray());
    const rois = randomRois(6, 6, 1, 12);
    const roisT = tensor(rois.map((r) => [...r, 0]), { dtype: 'float64', device: dev }).slice(1, 0, 5);
    expect(x.isContiguous || roisT.isContiguous).toBe(false);
    const ref = refRoiAlign({ data: contiguousValues, shape: [1, 4, 6, 7] }, rois, 3, 3, 0.5, 2, true);
    expectClose(roiAlign(x, roisT, { outputSize: 3, spatialScale: 0.5, samplingRatio: 2, aligned: true }), ref.out, { rtol: 1e-12, atol: 1e-13 });
    expect(roiAlign(f64(map), tensor([], { dtype: 'float64', device: dev }).reshape([0, 5]), { outputSize: 2 }).shape).toEqual([0, 4, 2, 2]);
    const empty = tensor([], { dtype: 'float64', device: dev }).reshape([1, 2, 0, 3]);
    expect(roiAlign(empty, tensor([[0, 0, 0, 1, 1]], { dtype: 'float64', device: dev }), { outputSize: 2, samplingRatio: 1 }).toArray()).toEqual([[[[0, 0], [0, 0]], [[0, 0], [0, 0]]]]);
  });

  it('roiAlignBackward is the gradient kernel (float16 gradients accumulate in float32)', () => {
    const map = randomMap(7, [2, 2, 5, 6]);
    const rois = randomRois(8, 7, 2, 10);
    const grad = randomValues(9, 7 * 2 * 2 * 3, -1, 1);
    const ref = refRoiAlign(map, rois, 2, 3, 0.5, 0, false, grad);
    const g = roiAlignBackward(tensor(grad, { dtype: 'float64', device: dev }).reshape([7, 2, 2, 3]), tensor(rois, { dtype: 'float64', device: dev }), [2, 2, 5, 6], { outputSize: [2, 3], spatialScale: 0.5, samplingRatio: 0 });
    expectClose(g, ref.gradIn, { rtol: 1e-12, atol: 1e-13 });
    const gh = roiAlignBackward(tensor(grad, { dtype: 'float16', device: dev }).reshape([7, 2, 2, 3]), tensor(rois, { dtype: 'float16', device: dev }), [2, 2, 5, 6], { outputSize: [2, 3], spatialScale: 0.5, samplingRatio: 2 });
    expect(gh.dtype).toBe('float16');
  });

  it('refuses bad batch indices (CPU at once, CUDA at the next synchronisation) and bad arguments', () => {
    const x = f64(randomMap(10, [2, 1, 4, 4]));
    for (const bad of [2, -1, 0.5, NaN]) {
      expectError(() => {
        const y = roiAlign(x, tensor([[bad, 0, 0, 2, 2]], { dtype: 'float64', device: dev }), { outputSize: 2 });
        y.toArray();   // on CUDA the error surfaces when the values are read
      }, ValueError, 'roi_align', 'rois');
    }
    // a corner that is not finite (once scaled): a NaN box sampled nothing and gave zeros
    // (or finite corners whose span overflows: x1 = -1e308, x2 = 1e308)
    for (const roi of [[0, NaN, 0, 2, 2], [0, 0, 0, 2, Infinity], [0, -Infinity, 0, 2, 2], [0, -1e308, 0, 1e308, 2], [0, 0, -1e308, 2, 1e308]]) {
      for (const samplingRatio of [0, 2]) {
        expectError(() => roiAlign(x, tensor([roi], { dtype: 'float64', device: dev }), { outputSize: 2, samplingRatio }).toArray(), ValueError, 'roi_align', 'rois');
        expectError(() => roiAlignBackward(tensor([[[[1, 1], [1, 1]]]], { dtype: 'float64', device: dev }), tensor([roi], { dtype: 'float64', device: dev }), [2, 1, 4, 4], { outputSize: 2, samplingRatio }).toArray(), ValueError, 'roi_align_backward', 'rois');
      }
    }
    expectError(() => roiAlign(x, tensor([[0, 0, 0, 2, 1e300]], { dtype: 'float64', device: dev }), { outputSize: 2, spatialScale: 1e10, samplingRatio: 2 }).toArray(), ValueError, 'roi_align', 'rois');
    const rois = tensor([[0, 0, 0, 2, 2]], { dtype: 'float64', device: dev });
    expectError(() => roiAlign(x.reshape([2, 4, 4]), rois, { outputSize: 2 }), ShapeError, 'roi_align', 'input');
    expectError(() => roiAlign(x, rois.to('float32'), { outputSize: 2 }), DTypeError, 'roi_align', 'rois');
    expectError(() => roiAlign(x, rois.slice(1, 0, 4), { outputSize: 2 }), ShapeError, 'roi_align', 'rois');
    expectError(() => roiAlign(x, rois, { outputSize: 0 }), ValueError, 'roi_align', 'outputSize');
    expectError(() => roiAlign(x, rois, { outputSize: 2, samplingRatio: 1.5 }), ValueError, 'roi_align', 'samplingRatio');
    // the kernels take an int32: 2^32 + 2 read as 2, 2^31 as adaptive; a huge ratio would never end
    for (const samplingRatio of [2 ** 32 + 2, 2 ** 31, 3e9, 65537, -(2 ** 40)]) expectError(() => roiAlign(x, rois, { outputSize: 2, samplingRatio }), ValueError, 'roi_align', 'samplingRatio');
    expectError(() => roiAlign(x, rois, { outputSize: 2, spatialScale: Infinity }), ValueError, 'roi_align', 'spatialScale');
    expectError(() => roiAlign(x.to('int32'), rois, { outputSize: 2 }), DTypeError, 'roi_align', 'input');
    expectError(() => roiAlign(x, [tensor([[0, 0, 1]], { dtype: 'float64', device: dev })], { outputSize: 2 }), ShapeError, 'roi_align', 'rois[0]');
    // torchvision's spellings were ignored (sampling_ratio: adaptive sampling; spatial_scale: 1)
    expectError(() => roiAlign(x, rois, { outputSize: 2, sampling_ratio: 2 } as never), ValueError, { op: 'roi_align', argument: 'options', expected: 'only the options outputSize, spatialScale, samplingRatio, aligned', got: '"sampling_ratio"' });
    expectError(() => roiPool(x, rois, { outputSize: 2, spatial_scale: 0.5 } as never), ValueError, { op: 'roi_pool', argument: 'options', expected: 'only the options outputSize, spatialScale', got: '"spatial_scale"' });
  });

  it('leaves nothing allocated, also through backward', () => {
    const x = f64(randomMap(11, [2, 3, 8, 8]));
    const rois = tensor(randomRois(12, 6, 2, 16), { dtype: 'float64', device: dev });
    synchronize(dev);
    const before = memoryStats(dev).allocated;
    tidy(() => {
      const xg = x.detach().requiresGrad_();
      roiAlign(xg, [rois.slice(1, 1, 5)], { outputSize: 3, samplingRatio: 2 }).sum().backward();
      roiPool(xg, rois, { outputSize: 2 }).sum().backward();
      xg.grad?.dispose();
    });
    synchronize(dev);
    expect(memoryStats(dev).allocated).toBe(before);
    // a refused call (a box list's rows with a batch index out of range) frees the rows it made
    if (dev === 'cpu') {   // (on CUDA the refusal comes at the next synchronisation, after the call returned)
      const boxes = [zeros([1, 4], { dtype: 'float64' }), zeros([1, 4], { dtype: 'float64' })];
      const one = f64(randomMap(13, [1, 3, 8, 8]));
      for (const call of [() => roiAlign(one, boxes, { outputSize: 2 }), () => roiPool(one, boxes, { outputSize: 2 })]) {
        expect(call).toThrow(ValueError);
        const start = memoryStats(dev).allocated;
        for (let i = 0; i < 10; i++) expect(call).toThrow(ValueError);
        expect(memoryStats(dev).allocated).toBe(start);
      }
    }
  });
});

forEachDevice('roiPool', (dev) => {
  it('matches the float64 reference, forward and gradient', () => {
    const map = randomMap(13, [2, 3, 9, 11]);
    const rois = randomRois(14, 12, 2, 22);
    for (const [ph, pw, scale] of [[7, 7, 0.5], [2, 3, 1], [3, 1, 0.25]] as const) {
      const x = tensor(map.data, { dtype: 'float64', device: dev }).reshape(map.shape).requiresGrad_();
      const y = roiPool(x, tensor(rois, { dtype: 'float64', device: dev }), { outputSize: [ph, pw], spatialScale: scale });
      const grad = randomValues(15, y.numel, -1, 1);
      y.mul(tensor(grad, { dtype: 'float64', device: dev }).reshape(y.shape)).sum().backward();
      const ref = refRoiPool(map, rois, ph, pw, scale, grad);
      expectClose(y, ref.out, { rtol: 0, atol: 0, what: `${ph}x${pw} scale ${scale}` });
      expectClose(x.grad!, ref.gradIn, { rtol: 1e-14, atol: 1e-15, what: `${ph}x${pw} scale ${scale} gradient` });
    }
  });

  it('skips NaN, keeps the first of equal maxima; float32 and half dtypes', () => {
    const x = tensor([[[[1, 5, 5], [NaN, 5, 2]]]], { dtype: 'float64', device: dev }).requiresGrad_();
    const y = roiPool(x, tensor([[0, 0, 0, 2, 1]], { dtype: 'float64', device: dev }), { outputSize: 1 });
    expect(y.toArray()).toEqual([[[[5]]]]);
    y.sum().backward();
    expect(x.grad!.toArray()).toEqual([[[[0, 1, 0], [0, 0, 0]]]]);
    for (const dtype of ['float32', 'float16', 'bfloat16'] as DType[]) {
      const map = randomMap(16, [1, 2, 6, 6]);
      const xt = tensor(map.data, { dtype, device: dev }).reshape(map.shape);
      const ref = refRoiPool({ data: toNumbers(xt.toTypedArray()), shape: map.shape }, [[0, 0, 0, 4, 4]], 2, 2, 1);
      expectClose(roiPool(xt, tensor([[0, 0, 0, 4, 4]], { dtype, device: dev }), { outputSize: 2 }), ref.out, { rtol: 0, atol: 0, what: dtype });
    }
  });

  it('refuses bad batch indices and corners', () => {
    const x = tensor(randomValues(17, 16), { dtype: 'float64', device: dev }).reshape([1, 1, 4, 4]);
    for (const roi of [[1, 0, 0, 2, 2], [0, 0, 0, Infinity, 2], [0, NaN, 0, 2, 2]]) {
      expectError(() => roiPool(x, tensor([roi], { dtype: 'float64', device: dev }), { outputSize: 2 }).toArray(), ValueError, 'roi_pool', 'rois');
    }
  });
});

const describeCuda = cudaAvailable() ? it : it.skip;
describeCuda('roiAlign and roiPool: CUDA agrees with the CPU on large random inputs (float32)', () => {
  const map = randomMap(18, [2, 16, 40, 48]);
  const rois = randomRois(19, 64, 2, 90);
  for (const dev of ['cpu', 'cuda']) void dev;
  const run = (dev: string) => tidy(() => {
    const x = tensor(map.data, { dtype: 'float32', device: dev }).reshape(map.shape).requiresGrad_();
    const r = tensor(rois, { dtype: 'float32', device: dev });
    const a = roiAlign(x, r, { outputSize: 7, spatialScale: 0.5, samplingRatio: 0, aligned: true });
    const p = roiPool(x, r, { outputSize: 5, spatialScale: 0.5 });
    a.add(p.sum()).sum().backward();
    return { a: toNumbers(a.toTypedArray()), p: toNumbers(p.toTypedArray()), g: toNumbers(x.grad!.toTypedArray()) };
  });
  const cpu = run('cpu'), gpu = run('cuda');
  expectClose(gpu.a, cpu.a, { rtol: 1e-5, atol: 1e-5, what: 'roiAlign' });
  expectClose(gpu.p, cpu.p, { rtol: 0, atol: 0, what: 'roiPool' });
  expectClose(gpu.g, cpu.g, { rtol: 1e-4, atol: 1e-4, what: 'gradient' });
});
