// The neural-network ops (im2col / col2im, conv2d, max pooling, nearest upsampling) against naive
// float64 references written here, on every device; backward kernels against adjoint identities,
// finite differences of the forward and scatter references.
import { describe, expect, it } from 'vitest';
import {
  type DType, type Tensor, DTypeError, ShapeError, ValueError, col2im, conv2d, conv2dBackwardBias, conv2dBackwardInput,
  conv2dBackwardWeight, im2col, maxPool2d, maxPool2dBackward, maxPool2dWithIndices, nnTuning, tensor,
  upsampleNearest2d, upsampleNearest2dBackward, memoryStats, setFloat32MatmulPrecision, zeros,
} from '@kiln/tensor';
import { cudaAvailable, expectClose, forEachDensePath, forEachDevice, randomValues, recordOps, toNumbers, expectError, settleMemoryBeforeEach } from '@kiln/tensor/testing';
import { type Win, outLen, refConv2d } from './conv-reference.js';

settleMemoryBeforeEach();

type Dev = 'cpu' | 'cuda';
type P2 = [number, number];
const p2 = (v: number | P2): P2 => (typeof v === 'number' ? [v, v] : v);

const numel = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);

/** A tensor of shape `shape` with seeded values in [-1, 1). */
function rand(seed: number, shape: readonly number[], dev: Dev, dtype: DType = 'float32'): Tensor {
  return tensor(randomValues(seed, numel(shape)), { dtype, device: dev }).reshape([...shape]);
}

/** A non-contiguous NCHW tensor: a permuted NHWC buffer, sliced along W with step 2. */
function stridedImage(seed: number, shape: readonly number[], dev: Dev, dtype: DType = 'float32'): { t: Tensor; values: number[] } {
  const [n, c, h, w] = shape as [number, number, number, number];
  const nhwc = rand(seed, [n, h, 2 * w, c], dev, dtype);
  const t = nhwc.permute(0, 3, 1, 2).slice(3, 0, 2 * w, 2);
  expect(t.isContiguous).toBe(false);
  return { t, values: values(t) };
}

const values = (t: Tensor): number[] => toNumbers(t.toTypedArray());
const dot = (a: readonly number[], b: readonly number[]): number => a.reduce((s, x, i) => s + x * b[i], 0);

// ---- float64 references ------------------------------------------------------------------


function refIm2col(x: readonly number[], [n, c, h, w]: readonly number[], win: Win): { data: number[]; shape: number[] } {
  const oh = outLen(h, win.k[0], win.s[0], win.p[0], win.d[0]), ow = outLen(w, win.k[1], win.s[1], win.p[1], win.d[1]);
  const rows = c * win.k[0] * win.k[1], l = oh * ow;
  const data = new Array<number>(n * rows * l).fill(0);
  for (let b = 0; b < n; b++)
    for (let ch = 0; ch < c; ch++)
      for (let i = 0; i < win.k[0]; i++)
        for (let j = 0; j < win.k[1]; j++)
          for (let y = 0; y < oh; y++)
            for (let xx = 0; xx < ow; xx++) {
              const hh = y * win.s[0] - win.p[0] + i * win.d[0], ww = xx * win.s[1] - win.p[1] + j * win.d[1];
              const row = (ch * win.k[0] + i) * win.k[1] + j;
              if (hh >= 0 && hh < h && ww >= 0 && ww < w) data[(b * rows + row) * l + y * ow + xx] = x[((b * c + ch) * h + hh) * w + ww]!;
            }
  return { data, shape: [n, rows, l] };
}


function poolLen(i: number, k: number, s: number, p: number, d: number, ceil: boolean): number {
  const num = i + 2 * p - d * (k - 1) - 1;
  let out = (ceil ? Math.ceil(num / s) : Math.floor(num / s)) + 1;
  if (ceil && (out - 1) * s >= i + p) out--;
  return out;
}

/** PyTorch's max pooling: padding never wins, NaN wins, the first maximum's position is kept. */
function refMaxPool(x: readonly number[], [n, c, h, w]: readonly number[], win: Win, ceil: boolean): { values: number[]; indices: number[]; shape: number[] } {
  const oh = poolLen(h, win.k[0], win.s[0], win.p[0], win.d[0], ceil), ow = poolLen(w, win.k[1], win.s[1], win.p[1], win.d[1], ceil);
  const vals: number[] = [], idx: number[] = [];
  for (let b = 0; b < n * c; b++)
    for (let y = 0; y < oh; y++)
      for (let xx = 0; xx < ow; xx++) {
        let best = -Infinity, pos = -1;
        for (let i = 0; i < win.k[0]; i++)
          for (let j = 0; j < win.k[1]; j++) {
            const hh = y * win.s[0] - win.p[0] + i * win.d[0], ww = xx * win.s[1] - win.p[1] + j * win.d[1];
            if (hh < 0 || hh >= h || ww < 0 || ww >= w) continue;
            const v = x[b * h * w + hh * w + ww];
            if (pos < 0) pos = hh * w + ww;
            if (v > best || Number.isNaN(v)) { best = v; pos = hh * w + ww; }
          }
        vals.push(best);
        idx.push(pos);
      }
  return { values: vals, indices: idx, shape: [n, c, oh, ow] };
}

/** PyTorch's 'nearest' source index, with its float32 arithmetic. */
function nearestSrc(d: number, inSize: number, outSize: number, scaleFactor: number | null): number {
  if (outSize === inSize) return d;
  if (outSize === 2 * inSize) return d >> 1;
  const scale = scaleFactor !== null ? Math.fround(1 / scaleFactor) : Math.fround(Math.fround(inSize) / Math.fround(outSize));
  return Math.min(Math.floor(Math.fround(d * scale)), inSize - 1);
}

function refUpsample(x: readonly number[], [n, c, h, w]: readonly number[], [oh, ow]: P2, sf: P2 | null): number[] {
  const out: number[] = [];
  for (let b = 0; b < n * c; b++)
    for (let y = 0; y < oh; y++)
      for (let xx = 0; xx < ow; xx++) {
        out.push(x[b * h * w + nearestSrc(y, h, oh, sf?.[0] ?? null) * w + nearestSrc(xx, w, ow, sf?.[1] ?? null)]);
      }
  return out;
}

const tol: Record<string, { rtol: number; atol: number }> = {
  float32: { rtol: 1e-5, atol: 1e-5 }, float64: { rtol: 1e-12, atol: 1e-12 },
  float16: { rtol: 2e-3, atol: 2e-3 }, bfloat16: { rtol: 1.6e-2, atol: 1.6e-2 },
};
/** The reference computed from the values the tensor actually holds (rounded to its dtype). */
const FLOATS: DType[] = ['float32', 'float64', 'float16', 'bfloat16'];

// ---- cases -------------------------------------------------------------------------------

interface ConvCase { x: number[]; w: number[]; k: P2; s?: number | P2; p?: number | P2; d?: number | P2; g?: number; bias?: boolean }
const convCases: ConvCase[] = [
  { x: [1, 1, 5, 5], w: [1, 1, 3, 3], k: [3, 3] },
  { x: [2, 3, 7, 6], w: [4, 3, 3, 2], k: [3, 2], s: 2, p: 1, bias: true },
  { x: [3, 4, 9, 8], w: [6, 2, 3, 3], k: [3, 3], s: [2, 1], p: [1, 2], d: [2, 1], g: 2, bias: true },
  { x: [2, 6, 5, 7], w: [6, 1, 3, 3], k: [3, 3], p: 1, g: 6 },            // depthwise
  { x: [1, 2, 4, 5], w: [3, 2, 1, 1], k: [1, 1], bias: true },             // 1x1
  { x: [2, 3, 11, 10], w: [2, 3, 5, 4], k: [5, 4], s: 3, p: 2, d: 2 },
  { x: [1, 2, 3, 3], w: [2, 2, 3, 3], k: [3, 3], p: 2, s: 2 },             // padding larger than half the input
];

const winOf = (cc: { k: P2; s?: number | P2; p?: number | P2; d?: number | P2 }): Win => ({ k: cc.k, s: p2(cc.s ?? 1), p: p2(cc.p ?? 0), d: p2(cc.d ?? 1) });

forEachDevice('im2col / col2im', (dev) => {
  for (const cc of convCases) {
    const win = winOf(cc);
    it(`im2col matches the reference: x ${JSON.stringify(cc.x)} k ${win.k} s ${win.s} p ${win.p} d ${win.d}`, () => {
      const x = rand(1, cc.x, dev, 'float64');
      const cols = im2col(x, win.k, win.s, win.p, win.d);
      const ref = refIm2col(values(x), cc.x, win);
      expect(cols.shape).toEqual(ref.shape);
      expectClose(cols, ref.data, { rtol: 0, atol: 0 });
    });
    it(`col2im is im2col's adjoint: <im2col(x), y> == <x, col2im(y)> (x ${JSON.stringify(cc.x)})`, () => {
      const x = rand(2, cc.x, dev, 'float64');
      const cols = im2col(x, win.k, win.s, win.p, win.d);
      const y = rand(3, cols.shape, dev, 'float64');
      const back = col2im(y, [cc.x[2], cc.x[3]], win.k, win.s, win.p, win.d);
      expect(back.shape).toEqual(cc.x);
      const lhs = dot(values(cols), values(y)), rhs = dot(values(x), values(back));
      expect(Math.abs(lhs - rhs)).toBeLessThan(1e-10 * (1 + Math.abs(lhs)));
    });
  }

  it('col2im sums overlapping windows (3x3 ones over a 4x4 image, stride 1)', () => {
    const ones = tensor(new Array(9 * 4).fill(1), { dtype: 'float32', device: dev }).reshape([1, 9, 4]);
    // each position is covered by as many 3x3 windows (of the 2x2 positions) as contain it
    expect(col2im(ones, 4, 3).toArray()).toEqual([[[[1, 2, 2, 1], [2, 4, 4, 2], [2, 4, 4, 2], [1, 2, 2, 1]]]]);
  });

  for (const dtype of FLOATS) {
    it(`im2col and col2im in ${dtype} on a strided input`, () => {
      const win: Win = { k: [3, 2], s: [2, 1], p: [1, 1], d: [1, 2] };
      const { t: x, values: xv } = stridedImage(4, [2, 3, 6, 5], dev, dtype);
      const cols = im2col(x, win.k, win.s, win.p, win.d);
      expect(cols.dtype).toBe(dtype);
      expectClose(cols, refIm2col(xv, [2, 3, 6, 5], win).data, { rtol: 0, atol: 0 });
      // col2im of a transposed (strided) column tensor: reference is the adjoint sum in float64
      const yT = rand(5, [2, cols.shape[2], cols.shape[1]], dev, dtype).transpose(1, 2);
      const back = col2im(yT, [6, 5], win.k, win.s, win.p, win.d);
      const yv = values(yT);
      const expected = new Array<number>(2 * 3 * 6 * 5).fill(0);
      const ref = refIm2col(expected.map((_, i) => i), [2, 3, 6, 5], win);   // position ids
      // im2col of the identity map tells where each column entry came from
      const fromPad = refIm2col(expected.map(() => 1), [2, 3, 6, 5], win).data;
      ref.data.forEach((src, i) => { if (fromPad[i]) expected[src] += yv[i]; });
      expectClose(back, expected, tol[dtype]);
    });
  }

  it('empty batch gives empty outputs', () => {
    const x = rand(1, [0, 2, 4, 4], dev);
    expect(im2col(x, 2).shape).toEqual([0, 8, 9]);
    expect(col2im(im2col(x, 2), 4, 2).shape).toEqual([0, 2, 4, 4]);
  });

  it('errors name the argument', () => {
    const x = rand(1, [1, 2, 4, 4], dev);
    expectError(() => im2col(rand(1, [2, 4, 4], dev), 2), ShapeError, { op: 'im2col', argument: 'input', expected: '4 dimensions [N, C, H, W]', got: '[2, 4, 4]' });
    expectError(() => im2col(x, 5), ShapeError, { op: 'im2col', argument: 'input', got: 'spatial size [4, 4]' });
    expectError(() => im2col(x, 0), ValueError, { op: 'im2col', argument: 'kernelSize', expected: 'an integer >= 1 or a pair of them', got: '0' });
    expectError(() => im2col(x, 2, 0), ValueError, { op: 'im2col', argument: 'stride', expected: 'an integer >= 1 or a pair of them', got: '0' });
    expectError(() => im2col(x, 2, 1, -1), ValueError, { op: 'im2col', argument: 'padding', expected: 'an integer >= 0 or a pair of them', got: '-1' });
    expectError(() => im2col(x, 2, 1, 0, 1.5), ValueError, { op: 'im2col', argument: 'dilation', expected: 'an integer >= 1 or a pair of them', got: '1.5' });
    expectError(() => im2col(tensor([[[[1]]]], { dtype: 'int32', device: dev }), 1), DTypeError, { op: 'im2col', argument: 'input', expected: 'a floating-point tensor', got: 'int32' });
    expectError(() => col2im(rand(1, [1, 8, 9], dev), 4, 3), ShapeError, { op: 'col2im', argument: 'input', expected: 'a size of dim 1 divisible by kh*kw = 9', got: '[1, 8, 9]' });
    expectError(() => col2im(rand(1, [1, 8, 10], dev), 4, 2), ShapeError, { op: 'col2im', argument: 'input', expected: '9 columns (dim 2) for outputSize [4, 4]: 3x3 window positions', got: '[1, 8, 10]' });
    expectError(() => col2im(rand(1, [8, 9], dev), 4, 2), ShapeError, { op: 'col2im', argument: 'input', expected: '3 dimensions [N, C*kh*kw, L]', got: '[8, 9]' });
  });
});

// On CUDA every test runs three times: through cuDNN, through im2col with cuBLASLt's products, and
// through Kiln's kernels alone.
forEachDensePath('conv2d', 'conv2d', (dev, path) => {
  for (const cc of convCases) {
    const win = winOf(cc);
    const title = `x ${JSON.stringify(cc.x)} w ${JSON.stringify(cc.w)} s ${win.s} p ${win.p} d ${win.d} g ${cc.g ?? 1}${cc.bias ? ' +bias' : ''}`;
    it(`matches direct convolution: ${title}`, () => {
      const x = rand(10, cc.x, dev, 'float64'), w = rand(11, cc.w, dev, 'float64');
      const b = cc.bias ? rand(12, [cc.w[0]], dev, 'float64') : null;
      const out = conv2d(x, w, b, { stride: win.s, padding: win.p, dilation: win.d, groups: cc.g ?? 1 });
      const ref = refConv2d(values(x), cc.x, values(w), cc.w, b ? values(b) : null, win, cc.g ?? 1);
      expect(out.shape).toEqual(ref.shape);
      expectClose(out, ref.data, tol.float64);
    });
    it(`backward helpers satisfy <conv(x, W), G> = <x, dX(G)> = <W, dW(G)>: ${title}`, () => {
      const opts = { stride: win.s, padding: win.p, dilation: win.d, groups: cc.g ?? 1 };
      const x = rand(20, cc.x, dev, 'float64'), w = rand(21, cc.w, dev, 'float64');
      const out = conv2d(x, w, null, opts);
      const g = rand(22, out.shape, dev, 'float64');
      const gx = conv2dBackwardInput(g, w, cc.x, opts);
      const gw = conv2dBackwardWeight(g, x, cc.w, opts);
      expect(gx.shape).toEqual(cc.x);
      expect(gw.shape).toEqual(cc.w);
      const lhs = dot(values(out), values(g));
      expect(dot(values(x), values(gx))).toBeCloseTo(lhs, 9);
      expect(dot(values(w), values(gw))).toBeCloseTo(lhs, 9);
      // the bias gradient is gradOut summed over batch and positions
      const gb = conv2dBackwardBias(g);
      const perChannel = new Array<number>(cc.w[0]).fill(0);
      const plane = g.shape[2] * g.shape[3];
      values(g).forEach((v, i) => { perChannel[Math.floor(i / plane) % cc.w[0]] += v; });
      expectClose(gb, perChannel, tol.float64);
    });
  }

  for (const dtype of ['float32', 'float16', 'bfloat16'] as DType[]) {
    it(`${dtype} with strided input and weight`, () => {
      const { t: x, values: xv } = stridedImage(30, [2, 4, 7, 6], dev, dtype);
      const wFull = rand(31, [3, 3, 2, 6], dev, dtype);          // [kh, kw, C/g, O] permuted to [O, C/g, kh, kw]
      const w = wFull.permute(3, 2, 0, 1);
      const b = rand(32, [6], dev, dtype);
      const out = conv2d(x, w, b, { padding: 1, groups: 2, stride: [1, 2] });
      expect(out.dtype).toBe(dtype);
      const ref = refConv2d(xv, [2, 4, 7, 6], values(w), [6, 2, 3, 3], values(b), { k: [3, 3], s: [1, 2], p: [1, 1], d: [1, 1] }, 2);
      expectClose(out, ref.data, { ...tol[dtype], atol: tol[dtype].atol * 20 });
    });
  }

  for (const dtype of ['float64', 'float32', 'float16', 'bfloat16'] as DType[]) {
    it(`${dtype}: a bias over rows of 16 x 16 positions (long enough for vector packs on CUDA) is the convolution plus the broadcast bias`, () => {
      const x = rand(80, [2, 3, 16, 16], dev, dtype), w = rand(81, [5, 3, 3, 3], dev, dtype), b = rand(82, [5], dev, dtype);
      const ref = conv2d(x, w, null, { padding: 1 }).add(b.reshape([1, 5, 1, 1]));
      expectClose(conv2d(x, w, b, { padding: 1 }), ref, tol[dtype]);
    });
  }

  it('processes a large batch in chunks with the same results', () => {
    const opts = { stride: 2, padding: 1, groups: 2 };
    const xs = [5, 4, 6, 7], ws = [6, 2, 3, 3];
    const x = rand(60, xs, dev, 'float64'), w = rand(61, ws, dev, 'float64'), b = rand(62, [6], dev, 'float64');
    const whole = { out: conv2d(x, w, b, opts) };
    const g = rand(63, whole.out.shape, dev, 'float64');
    const gx = conv2dBackwardInput(g, w, xs, opts), gw = conv2dBackwardWeight(g, x, ws, opts);
    const saved = nnTuning.columnBudget;
    nnTuning.columnBudget = 2 * 4 * 9 * 12;                      // two images per chunk: chunks of 2, 2, 1
    try {
      expectClose(conv2d(x, w, b, opts), whole.out, tol.float64);
      expectClose(conv2dBackwardInput(g, w, xs, opts), gx, tol.float64);
      expectClose(conv2dBackwardWeight(g, x, ws, opts), gw, tol.float64);
    } finally {
      nnTuning.columnBudget = saved;
    }
    const ref = refConv2d(values(x), xs, values(w), ws, values(b), { k: [3, 3], s: [2, 2], p: [1, 1], d: [1, 1] }, 2);
    expectClose(whole.out, ref.data, tol.float64);
  });

  it('frees every intermediate: only the results stay allocated', () => {
    const opts = { stride: 2, padding: 1, groups: 2 };
    const x = rand(70, [3, 4, 9, 8], dev), b = rand(72, [6], dev);
    const w = rand(71, [3, 3, 2, 6], dev).permute(3, 2, 0, 1);       // strided weight
    const g = tensor([0.5], { device: dev }).reshape([1, 1, 1, 1]).expand([3, 6, 5, 4]);   // as sum()'s backward gives
    const saved = nnTuning.columnBudget;
    for (const budget of [saved, 4 * 9 * 20]) {                  // whole batch, then one image per chunk
      nnTuning.columnBudget = budget;
      try {
        const before = memoryStats(dev).allocated;
        const results = [conv2d(x, w, b, opts), conv2dBackwardInput(g, w, x.shape, opts), conv2dBackwardWeight(g, x, w.shape, opts)];
        const sizes = results.map((r) => r.numel * 4);
        expect(memoryStats(dev).allocated - before).toBeLessThanOrEqual(sizes.reduce((a, c) => a + c, 0) + 3 * 256);
        for (const r of results) r.dispose();
        expect(memoryStats(dev).allocated).toBe(before);
      } finally {
        nnTuning.columnBudget = saved;
      }
    }
  });

  it('records only the conv2d op, with its attrs, and leaves its arguments usable', () => {
    const x = rand(1, [1, 2, 5, 5], dev), w = rand(2, [4, 1, 3, 3], dev).requiresGrad_(), b = rand(3, [4], dev).requiresGrad_();
    const records = recordOps(() => conv2d(x, w, b, { padding: 1, groups: 2 }));
    expect(records.map((r) => r.op)).toEqual(['conv2d']);
    expect(records[0].inputs).toEqual([x, w, b]);
    expect(records[0].attrs).toEqual({ stride: [1, 1], padding: [1, 1], dilation: [1, 1], groups: 2 });
    expect(x.isDisposed || w.isDisposed || b.isDisposed).toBe(false);
    expect(conv2d(x, w, b, { groups: 2 }).shape).toEqual([1, 4, 3, 3]);
    expect(recordOps(() => conv2d(x, rand(2, [4, 1, 3, 3], dev), null, { groups: 2 })).length).toBe(0);
  });

  it('errors name the argument, with expected and got', () => {
    const x = rand(1, [1, 4, 5, 5], dev), w = rand(2, [2, 4, 3, 3], dev);
    expectError(() => conv2d(x, rand(1, [3, 3], dev)), ShapeError, { op: 'conv2d', argument: 'weight', expected: '4 dimensions [out, in/groups, kh, kw]', got: '[3, 3]' });
    expectError(() => conv2d(x, rand(1, [2, 3, 3, 3], dev)), ShapeError, { op: 'conv2d', argument: 'weight', expected: /^in\/groups = 4\/1 = 4 input channels/, got: '[2, 3, 3, 3]' });
    expectError(() => conv2d(x, rand(1, [3, 2, 3, 3], dev), null, { groups: 2 }), ShapeError, { op: 'conv2d', argument: 'weight', expected: 'an output channel count (dim 0) divisible by groups = 2', got: '[3, 2, 3, 3]' });
    expectError(() => conv2d(rand(1, [1, 3, 5, 5], dev), rand(1, [2, 1, 3, 3], dev), null, { groups: 2 }), ShapeError, { op: 'conv2d', argument: 'input', expected: 'a channel count divisible by groups = 2', got: '3 channels' });
    expectError(() => conv2d(x, w, rand(1, [3], dev)), ShapeError, { op: 'conv2d', argument: 'bias', expected: "shape [2] (the weight's output channels)", got: '[3]' });
    expectError(() => conv2d(x, rand(1, [2, 4, 7, 7], dev)), ShapeError, { op: 'conv2d', argument: 'input', got: 'spatial size [5, 5]', message: /output size would be \[(-1, -1|0, 0)\]/ });
    expectError(() => conv2d(x, w, null, { groups: 0 }), ValueError, { op: 'conv2d', argument: 'groups', expected: 'a positive integer', got: '0' });
    expectError(() => conv2d(x, w.to('float64')), DTypeError, { op: 'conv2d', argument: 'weight', expected: "the dtype of 'input' (float32)", got: 'float64' });
    expectError(() => conv2d(rand(1, [4, 5, 5], dev), w), ShapeError, { op: 'conv2d', argument: 'input', expected: '4 dimensions [N, C, H, W]', got: '[4, 5, 5]' });
    expectError(() => conv2dBackwardInput(rand(1, [1, 2, 4, 4], dev), w, [1, 4, 5, 5]), ShapeError, { op: 'conv2d_backward_input', argument: 'grad_output', expected: "shape [1, 2, 3, 3] (conv2d's output)", got: '[1, 2, 4, 4]' });
    expectError(() => conv2dBackwardWeight(rand(1, [1, 2, 3, 3], dev), x, [2, 3, 3, 3]), ShapeError, { op: 'conv2d_backward_weight', argument: 'weightShape', expected: '[out, in/groups = 4, kh, kw] with out divisible by groups = 1', got: '[2, 3, 3, 3]' });
    expectError(() => conv2dBackwardInput(rand(1, [1, 2, 3, 3], dev), w, [1, 4, 5.5, 5]), ShapeError, { op: 'conv2d_backward_input', argument: 'inputShape', expected: '4 non-negative integer sizes [N, C, H, W]', got: '[1, 4, 5.5, 5]' });
    expectError(() => conv2dBackwardInput(rand(1, [1, 2, 3, 3], dev, 'float64'), w, [1, 4, 5, 5]), DTypeError, { op: 'conv2d_backward_input', argument: 'weight', expected: "the dtype of 'grad_output' (float64)", got: 'float32' });
  });

  it('a larger float32 problem against the float64 reference (all three passes)', () => {
    const xs = [3, 16, 17, 19], ws = [24, 16, 3, 3], opts = { padding: 1 };
    const x = rand(80, xs, dev), w = rand(81, ws, dev), b = rand(82, [24], dev);
    const ref = refConv2d(values(x), xs, values(w), ws, values(b), { k: [3, 3], s: [1, 1], p: [1, 1], d: [1, 1] }, 1);
    const y = conv2d(x, w, b, opts);
    expectClose(y, ref.data, { rtol: 1e-4, atol: 1e-4 });
    // the backward passes against the adjoint identities, in float64 sums of the float32 results
    const g = rand(83, y.shape, dev);
    const lhs = dot(ref.data, values(g)) - dot(values(b), values(conv2dBackwardBias(g)));
    expect(dot(values(x), values(conv2dBackwardInput(g, w, xs, opts)))).toBeCloseTo(lhs, 1);
    expect(dot(values(w), values(conv2dBackwardWeight(g, x, ws, opts)))).toBeCloseTo(lhs, 1);
  });

  for (const dtype of FLOATS) {
    if (dev === 'cuda') {
      it(`agrees with the CPU in ${dtype}: forward and both backward passes, strided input, groups, dilation`, () => {
        const opts = { stride: [2, 1] as P2, padding: [1, 2] as P2, dilation: [1, 2] as P2, groups: 2 };
        const { t: x } = stridedImage(90, [3, 8, 9, 11], dev, dtype);
        const w = rand(91, [6, 4, 3, 3], dev, dtype), b = rand(92, [6], dev, dtype);
        const y = conv2d(x, w, b, opts);
        const cpu = (t: Tensor) => t.to('cpu');
        const t = { ...tol[dtype], atol: tol[dtype].atol * 10 };
        expectClose(y, conv2d(cpu(x), cpu(w), cpu(b), opts), { ...t, what: `${dtype} forward` });
        const g = rand(93, y.shape, dev, dtype).transpose(2, 3).contiguous().transpose(2, 3);   // a strided gradient
        expectClose(conv2dBackwardInput(g, w, x.shape, opts), conv2dBackwardInput(cpu(g), cpu(w), x.shape, opts), { ...t, what: `${dtype} backward input` });
        expectClose(conv2dBackwardWeight(g, x, w.shape, opts), conv2dBackwardWeight(cpu(g), cpu(x), w.shape, opts), { ...t, atol: t.atol * 10, what: `${dtype} backward weight` });
      });
    }
  }

  it('edge sizes: an empty batch, no input channels, no output channels, 1x1 images', () => {
    const f64 = { dtype: 'float64' as const, device: dev };
    const w = rand(100, [4, 3, 3, 3], dev, 'float64'), b = rand(101, [4], dev, 'float64');
    expect(conv2d(zeros([0, 3, 5, 5], f64), w, b, { padding: 1 }).shape).toEqual([0, 4, 5, 5]);
    expect(conv2dBackwardInput(zeros([0, 4, 5, 5], f64), w, [0, 3, 5, 5], { padding: 1 }).shape).toEqual([0, 3, 5, 5]);
    expectClose(conv2dBackwardWeight(zeros([0, 4, 5, 5], f64), zeros([0, 3, 5, 5], f64), w.shape, { padding: 1 }), new Array(4 * 27).fill(0), { rtol: 0, atol: 0 });
    // C = 0: every output is the bias
    const y = conv2d(zeros([2, 0, 4, 4], f64), zeros([4, 0, 3, 3], f64), b);
    expectClose(y, Array.from({ length: 2 * 4 * 4 }, (_, i) => values(b)[Math.floor(i / 4) % 4]), { rtol: 0, atol: 0 });
    // O = 0: no output channels, a zero input gradient
    expect(conv2d(rand(102, [2, 3, 4, 4], dev, 'float64'), zeros([0, 3, 3, 3], f64)).shape).toEqual([2, 0, 2, 2]);
    expectClose(conv2dBackwardInput(zeros([2, 0, 2, 2], f64), zeros([0, 3, 3, 3], f64), [2, 3, 4, 4]), new Array(96).fill(0), { rtol: 0, atol: 0 });
    // 1x1 image, 1x1 kernel, a single channel
    const x1 = rand(103, [1, 1, 1, 1], dev, 'float64'), w1 = rand(104, [1, 1, 1, 1], dev, 'float64');
    expectClose(conv2d(x1, w1), [values(x1)[0] * values(w1)[0]], tol.float64);
  });

  it('float32 at precision high (TF32 where the library allows it) stays within TF32 tolerance', () => {
    const xs = [2, 32, 10, 10], ws = [16, 32, 3, 3];
    const x = rand(110, xs, dev), w = rand(111, ws, dev);
    const ref = refConv2d(values(x), xs, values(w), ws, null, { k: [3, 3], s: [1, 1], p: [1, 1], d: [1, 1] }, 1);
    setFloat32MatmulPrecision('high');
    try {
      // inputs rounded to a 10-bit mantissa: |error| <= 2^-10 Σ|x||w| <= 2^-10 · 32 · 9
      expectClose(conv2d(x, w, null, { padding: 1 }), ref.data, { rtol: 0, atol: 2 ** -10 * 288, what: `TF32 on ${path}` });
    } finally {
      setFloat32MatmulPrecision('highest');
    }
    expectClose(conv2d(x, w, null, { padding: 1 }), ref.data, { rtol: 1e-4, atol: 1e-4, what: `float32 on ${path}` });
  });
});

interface PoolCase { x: number[]; k: number | P2; s?: number | P2; p?: number | P2; d?: number | P2; ceil?: boolean }
const poolCases: PoolCase[] = [
  { x: [1, 1, 4, 4], k: 2 },
  { x: [2, 3, 7, 5], k: 3, s: 2, p: 1 },
  { x: [2, 2, 7, 8], k: [3, 2], s: [2, 3], p: [1, 1], ceil: true },
  { x: [1, 3, 9, 9], k: 3, s: 1, p: 1, d: 2 },                   // overlapping, dilated
  { x: [2, 1, 6, 5], k: 2, s: 2, ceil: true },                    // ceil adds a partial window
  { x: [1, 2, 5, 5], k: 3, s: 2, p: 1, ceil: true },              // ceil drops a window starting in the padding
];

forEachDevice('max_pool2d', (dev) => {
  for (const pc of poolCases) {
    const win: Win = { k: p2(pc.k), s: p2(pc.s ?? pc.k), p: p2(pc.p ?? 0), d: p2(pc.d ?? 1) };
    const title = `x ${JSON.stringify(pc.x)} k ${win.k} s ${win.s} p ${win.p} d ${win.d}${pc.ceil ? ' ceil' : ''}`;
    it(`values and indices match the reference: ${title}`, () => {
      const x = rand(40, pc.x, dev, 'float64');
      const { values: v, indices } = maxPool2dWithIndices(x, pc.k, pc.s, pc.p, pc.d, pc.ceil);
      const ref = refMaxPool(values(x), pc.x, win, pc.ceil ?? false);
      expect(v.shape).toEqual(ref.shape);
      expect(indices.dtype).toBe('int64');
      expectClose(v, ref.values, { rtol: 0, atol: 0 });
      expect(values(indices)).toEqual(ref.indices);
    });
    it(`backward: scatter reference and finite differences: ${title}`, () => {
      const x = rand(41, pc.x, dev, 'float64');
      const { values: out, indices } = maxPool2dWithIndices(x, pc.k, pc.s, pc.p, pc.d, pc.ceil);
      const g = rand(42, out.shape, dev, 'float64');
      const gx = maxPool2dBackward(g, indices, pc.x);
      const ref = refMaxPool(values(x), pc.x, win, pc.ceil ?? false);
      const plane = pc.x[2] * pc.x[3], perPlane = out.shape[2] * out.shape[3];
      const expected = new Array<number>(numel(pc.x)).fill(0);
      values(g).forEach((gv, i) => { expected[Math.floor(i / perPlane) * plane + ref.indices[i]] += gv; });
      expectClose(gx, expected, tol.float64);
      // directional derivative: (<pool(x + eps v), g> - <pool(x - eps v), g>) / 2 eps == <gx, v>
      const v = randomValues(43, numel(pc.x)), eps = 1e-6, xv = values(x);
      const at = (sign: number): number => dot(values(maxPool2d(tensor(xv.map((a, i) => a + sign * eps * v[i]), { dtype: 'float64', device: dev }).reshape(pc.x), pc.k, pc.s, pc.p, pc.d, pc.ceil)), values(g));
      expect((at(1) - at(-1)) / (2 * eps)).toBeCloseTo(dot(values(gx), v), 6);
    });
  }

  it('is recorded as one max_pool2d op with outputs [values, indices]', () => {
    const x = rand(1, [1, 2, 4, 4], dev).requiresGrad_();
    let result: ReturnType<typeof maxPool2dWithIndices> | undefined;
    const records = recordOps(() => { result = maxPool2dWithIndices(x, 2); });
    expect(records.map((r) => r.op)).toEqual(['max_pool2d']);
    expect(records[0].outputs).toEqual([result!.values, result!.indices]);
    expect(records[0].attrs).toMatchObject({ kernelSize: [2, 2], stride: [2, 2], padding: [0, 0], dilation: [1, 1], ceilMode: false });
  });

  it('a hand-checked case: 2x2 windows, stride 2', () => {
    const x = tensor([[[[1, 5, 2, 0], [3, 4, 9, 1], [0, 0, 7, 8], [6, 0, 8, 2]]]], { dtype: 'float32', device: dev });
    const r = maxPool2dWithIndices(x, 2);
    expect(r.values.toArray()).toEqual([[[[5, 9], [6, 8]]]]);
    expect(r.indices.toArray()).toEqual([[[[1, 6], [12, 11]]]]);   // ties keep the first position (8 at 11, not 14)
  });

  it('NaN propagates and its position is the index; padding never wins over -inf values', () => {
    const x = tensor([[[[1, NaN, 3], [-Infinity, -Infinity, 2], [0, 1, 2]]]], { dtype: 'float32', device: dev });
    const r = maxPool2dWithIndices(x, 2, 1);
    expect(values(r.values).map(String)).toEqual(['NaN', 'NaN', '1', '2']);
    expect(values(r.indices)).toEqual([1, 1, 7, 5]);
    const allInf = tensor([[[[-Infinity, -Infinity], [-Infinity, -Infinity]]]], { dtype: 'float32', device: dev });
    const p = maxPool2dWithIndices(allInf, 2, 1, 1);
    expect(values(p.values)).toEqual(new Array(9).fill(-Infinity));
    expect(values(p.indices)).toEqual([0, 0, 1, 0, 0, 1, 2, 2, 3]);   // the first in-bounds tap
  });

  for (const dtype of FLOATS) {
    it(`${dtype}, strided input, and backward in ${dtype}`, () => {
      const { t: x, values: xv } = stridedImage(44, [2, 3, 6, 5], dev, dtype);
      const win: Win = { k: [3, 3], s: [2, 2], p: [1, 1], d: [1, 1] };
      const r = maxPool2dWithIndices(x, 3, 2, 1);
      const ref = refMaxPool(xv, [2, 3, 6, 5], win, false);
      expect(r.values.dtype).toBe(dtype);
      expectClose(r.values, ref.values, { rtol: 0, atol: 0 });
      expect(values(r.indices)).toEqual(ref.indices);
      const g = tensor(new Array(numel(r.values.shape)).fill(0.5), { dtype, device: dev }).reshape([...r.values.shape]);
      const gx = maxPool2dBackward(g, r.indices, [2, 3, 6, 5]);
      expect(gx.dtype).toBe(dtype);
      const expected = new Array<number>(2 * 3 * 30).fill(0);
      ref.indices.forEach((pos, i) => { expected[Math.floor(i / 9) * 30 + pos] += 0.5; });
      expectClose(gx, expected, tol[dtype]);
    });
  }

  it('errors', () => {
    const x = rand(1, [1, 1, 4, 4], dev);
    expectError(() => maxPool2d(x, 2, 2, 2), ValueError, { op: 'max_pool2d', argument: 'padding', expected: 'at most half the kernel size ([1, 1] for a kernel of [2, 2])', got: '[2, 2]' });
    expectError(() => maxPool2d(x, 5), ShapeError, { op: 'max_pool2d', argument: 'input', got: 'spatial size [4, 4]' });
    expectError(() => maxPool2d(x, 2, 2, 0, 1, 'yes' as unknown as boolean), ValueError, { op: 'max_pool2d', argument: 'ceilMode', expected: 'true or false', got: '"yes"' });
    expectError(() => maxPool2d(rand(1, [4, 4], dev), 2), ShapeError, { op: 'max_pool2d', argument: 'input', expected: '4 dimensions [N, C, H, W]', got: '[4, 4]' });
    expectError(() => maxPool2d(x, 2, 0), ValueError, { op: 'max_pool2d', argument: 'stride', expected: 'an integer >= 1 or a pair of them', got: '0' });
    const { values: v, indices } = maxPool2dWithIndices(x, 2);
    expectError(() => maxPool2dBackward(v, indices.to('int32'), [1, 1, 4, 4]), DTypeError, { op: 'max_pool2d_backward', argument: 'indices', expected: 'an int64 tensor', got: 'int32' });
    expectError(() => maxPool2dBackward(v, indices, [1, 2, 4, 4]), ShapeError, { op: 'max_pool2d_backward', argument: 'inputShape', expected: "4 sizes [N, C, H, W] with N, C = 1, 1 (grad_output's)", got: '[1, 2, 4, 4]' });
    expectError(() => maxPool2dBackward(v, indices.reshape([1, 1, 4, 1]), [1, 1, 4, 4]), ShapeError, { op: 'max_pool2d_backward', argument: 'indices', expected: "grad_output's shape [1, 1, 2, 2]", got: '[1, 1, 4, 1]' });
  });

  it('an index outside the plane is an error, not a wild write', () => {
    const g = rand(1, [1, 1, 2, 2], dev);
    const bad = tensor([[[[0, 1, 2, 99]]]], { dtype: 'int64', device: dev }).reshape([1, 1, 2, 2]);
    expectError(() => maxPool2dBackward(g, bad, [1, 1, 4, 4]).toArray(), ValueError, { op: 'max_pool2d_backward', argument: 'indices', expected: 'positions in [0, 16) of the input plane', got: '99' });
  });
});

interface UpCase { x: number[]; size?: number | P2; sf?: number | P2 }
const upCases: UpCase[] = [
  { x: [1, 1, 2, 3], sf: 2 },
  { x: [2, 3, 3, 4], sf: [3, 2] },
  { x: [1, 2, 5, 4], size: [7, 9] },        // non-integer ratios
  { x: [2, 1, 6, 9], size: [4, 3] },        // downsampling: some inputs get no gradient
  { x: [1, 1, 3, 3], sf: 1.5 },
  { x: [1, 2, 4, 5], sf: [0.5, 2.5] },
];

forEachDevice('upsample_nearest2d', (dev) => {
  for (const uc of upCases) {
    it(`forward and adjoint backward: x ${JSON.stringify(uc.x)} ${uc.sf !== undefined ? `scaleFactor ${uc.sf}` : `size ${JSON.stringify(uc.size)}`}`, () => {
      const x = rand(50, uc.x, dev, 'float64');
      const opts = uc.sf !== undefined ? { scaleFactor: uc.sf } : { size: uc.size! };
      const out = upsampleNearest2d(x, opts);
      const sf = uc.sf !== undefined ? p2(uc.sf) : null;
      const outHW: P2 = sf ? [Math.floor(uc.x[2] * sf[0]), Math.floor(uc.x[3] * sf[1])] : p2(uc.size!);
      expect(out.shape).toEqual([uc.x[0], uc.x[1], ...outHW]);
      expectClose(out, refUpsample(values(x), uc.x, outHW, sf), { rtol: 0, atol: 0 });
      // the backward is the forward's adjoint: <up(x), y> == <x, up_backward(y)>
      const y = rand(51, out.shape, dev, 'float64');
      const gx = upsampleNearest2dBackward(y, uc.x, { scaleFactor: uc.sf ?? null });
      expect(gx.shape).toEqual(uc.x);
      expect(dot(values(x), values(gx))).toBeCloseTo(dot(values(out), values(y)), 10);
    });
  }

  it('a hand-checked case', () => {
    const x = tensor([[[[1, 2], [3, 4]]]], { dtype: 'float32', device: dev });
    expect(upsampleNearest2d(x, { scaleFactor: 2 }).toArray()).toEqual([[[[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]]]]);
    expect(upsampleNearest2d(x, { size: [3, 2] }).toArray()).toEqual([[[[1, 2], [1, 2], [3, 4]]]]);
    const g = tensor(new Array(16).fill(1), { dtype: 'float32', device: dev }).reshape([1, 1, 4, 4]);
    expect(upsampleNearest2dBackward(g, [1, 1, 2, 2], { scaleFactor: 2 }).toArray()).toEqual([[[[4, 4], [4, 4]]]]);
  });

  for (const dtype of FLOATS) {
    it(`${dtype} on a strided input`, () => {
      const { t: x, values: xv } = stridedImage(52, [2, 3, 4, 3], dev, dtype);
      const out = upsampleNearest2d(x, { size: [7, 5] });
      expect(out.dtype).toBe(dtype);
      expectClose(out, refUpsample(xv, [2, 3, 4, 3], [7, 5], null), { rtol: 0, atol: 0 });
      const g = rand(53, [2, 3, 7, 5], dev, dtype).transpose(2, 3).contiguous().transpose(2, 3);
      const gx = upsampleNearest2dBackward(g, [2, 3, 4, 3]);
      expect(gx.dtype).toBe(dtype);
      expectClose(gx, upsampleNearest2dBackward(g.contiguous(), [2, 3, 4, 3]), { rtol: 0, atol: 0 });   // a strided gradient reads the same values
    });
  }

  it('errors', () => {
    const x = rand(1, [1, 1, 2, 2], dev);
    expectError(() => upsampleNearest2d(x, {}), ValueError, { op: 'upsample_nearest2d', expected: 'exactly one of scaleFactor and size', got: 'neither' });
    expectError(() => upsampleNearest2d(x, { size: 2, scaleFactor: 2 }), ValueError, { op: 'upsample_nearest2d', expected: 'exactly one of scaleFactor and size', got: 'both' });
    expectError(() => upsampleNearest2d(x, { scaleFactor: 2, mode: 'nearest' } as never), ValueError, { op: 'upsample_nearest2d', argument: 'options', expected: 'only the options scaleFactor, size', got: '"mode"' });
    expectError(() => upsampleNearest2d(x, { scaleFactor: 0 }), ValueError, { op: 'upsample_nearest2d', argument: 'scaleFactor', expected: 'a positive number or a pair of them', got: '0' });
    expectError(() => upsampleNearest2d(x, { scaleFactor: 0.4 }), ShapeError, { op: 'upsample_nearest2d', argument: 'input', expected: 'input and output spatial sizes of at least 1', got: 'input [2, 2], output [0, 0]' });
    expectError(() => upsampleNearest2d(rand(1, [2, 2], dev), { size: 4 }), ShapeError, { op: 'upsample_nearest2d', argument: 'input', expected: '4 dimensions [N, C, H, W]', got: '[2, 2]' });
    expectError(() => upsampleNearest2dBackward(rand(1, [1, 1, 4, 4], dev), [1, 2, 2, 2]), ShapeError, { op: 'upsample_nearest2d_backward', argument: 'inputShape', expected: "4 positive sizes [N, C, H, W] with N, C = 1, 1 (grad_output's)", got: '[1, 2, 2, 2]' });
  });
});

// Element counts beyond 2^31 take the kernels' 64-bit index path (CUDA only: several GB).
describe.skipIf(!cudaAvailable())('nn ops past 2^31 elements [cuda]', () => {
  it('upsample and im2col index beyond 2^31', () => {
    const x = tensor([[[[1, 2], [3, 4]]]], { dtype: 'float16', device: 'cuda' });
    const side = 46342;                                            // side^2 > 2^31
    const big = upsampleNearest2d(x, { size: side });
    expect(big.numel).toBeGreaterThan(2 ** 31);
    expect(values(big.slice(2, side - 1).slice(3, side - 2))).toEqual([4, 4]);
    const cols = im2col(big, 1);
    expect(values(cols.slice(2, side * side - 2))).toEqual([4, 4]);
    big.dispose();
    cols.dispose();
  });
});
