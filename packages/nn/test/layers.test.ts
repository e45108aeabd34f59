// The layers against float64 references written here, on every device; initialisation statistics;
// gradients through autograd's gradcheck where autograd has the ops' derivatives.
import { describe, expect, it } from 'vitest';
import { type DType, type Tensor, DeviceError, Generator, ShapeError, ValueError, manualSeed, ones, profile, tensor, tidy, variance, zeros } from '@kiln/tensor';
import { derivativeOf, grad, gradcheck, gradgradcheck, noGrad } from '@kiln/autograd';
import {
  BatchNorm2d, BatchNormTrainFunction, Conv2d, Dropout, GroupNorm, GroupNormFunction, Linear, MaxPool2d, ReLU, Sequential, Upsample, init, priorProbBias,
} from '@kiln/nn';
import { expectAllocatedUnchanged, expectClose, forEachDevice, randomValues, toNumbers, expectError } from '@kiln/tensor/testing';

type Dev = 'cpu' | 'cuda';
const values = (t: Tensor): number[] => toNumbers(t.toTypedArray());
const numel = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);
function rand(seed: number, shape: readonly number[], dev: Dev, dtype: DType = 'float64'): Tensor {
  return tensor(randomValues(seed, numel(shape)), { dtype, device: dev }).reshape([...shape]);
}
const f64 = { rtol: 1e-10, atol: 1e-10 };
const maxAbs = (v: readonly number[]): number => v.reduce((a, b) => Math.max(a, Math.abs(b)), 0);

/**
 * A norm layer's float32 input gradient on values of 1000 ± 0.01, against its float64 one: the
 * largest difference relative to the largest gradient (Σg·x - mean·Σg would lose every digit).
 */
function float32GradError(layer: (dtype: DType) => { call(x: Tensor): Tensor }, shape: readonly number[], dev: Dev): number {
  const x64 = rand(33, shape, dev, 'float64').mul(0.01).add(1000), g64 = rand(34, shape, dev, 'float64');
  const gradOf = (dtype: DType) => {
    const x = x64.to(dtype).requiresGrad_();
    return values(grad(layer(dtype).call(x), [x], g64.to(dtype))[0]);
  };
  const want = gradOf('float64'), got = gradOf('float32');
  return Math.max(...got.map((v, i) => Math.abs(v - want[i]))) / Math.max(...want.map(Math.abs));
}

/**
 * A norm's Function on float16 and bfloat16 values [3, 4, 5, 5] with float32 parameters [4]
 * (autocast's case) against the same Function on the values in float32: its kernel runs, y and
 * the input's gradient come in the values' dtype, the parameters' gradients in float32, all close.
 * The weight is set to random values from `seed` (seed + 1, + 2: the input and the gradient).
 */
function checkHalfValuesFloat32Params(apply: (x: Tensor) => Tensor, weight: Tensor, bias: Tensor, kernel: string, seed: number, dev: Dev): void {
  noGrad(() => weight.copy_(rand(seed, [4], dev, 'float32').add(1)));
  const x32 = rand(seed + 1, [3, 4, 5, 5], dev, 'float32').mul(2).add(0.5);
  const g32 = rand(seed + 2, [3, 4, 5, 5], dev, 'float32');
  for (const dtype of ['float16', 'bfloat16'] as const) {
    const xh = x32.to(dtype).requiresGrad_();
    const ref = xh.detach().to('float32').requiresGrad_();
    let y: Tensor | null = null;
    const ran = profile(() => { y = apply(xh); }).keyAverages().map((r) => r.name);
    expect(ran, dtype).toContain(kernel);
    expect(y!.dtype).toBe(dtype);
    const [gx, gw, gb] = grad(y!, [xh, weight, bias], g32.to(dtype));
    expect([gx.dtype, gw.dtype, gb.dtype]).toEqual([dtype, 'float32', 'float32']);
    const want = grad(apply(ref), [ref, weight, bias], g32.to(dtype).to('float32'));
    const tol = dtype === 'float16' ? 5e-3 : 3e-2;
    expectClose(y!.to('float32'), values(apply(ref)), { rtol: tol, atol: tol, what: dtype });
    expectClose(gx.to('float32'), values(want[0]), { rtol: 4 * tol, atol: 4 * tol, what: `${dtype} input gradient` });
    expectClose(gw, values(want[1]), { rtol: 1e-4, atol: 1e-4, what: `${dtype} weight gradient` });
    expectClose(gb, values(want[2]), { rtol: 1e-4, atol: 1e-4, what: `${dtype} bias gradient` });
  }
}

/** Per-channel statistics of x [N, C, ...] over every dim but 1: [mean, biased variance]. */
function channelStats(x: readonly number[], shape: readonly number[]): [number[], number[]] {
  const [n, c] = shape as [number, number];
  const inner = numel(shape.slice(2));
  const mean = new Array<number>(c).fill(0), vr = new Array<number>(c).fill(0);
  for (let b = 0; b < n; b++) for (let ch = 0; ch < c; ch++) for (let i = 0; i < inner; i++) mean[ch] += x[(b * c + ch) * inner + i] / (n * inner);
  for (let b = 0; b < n; b++) for (let ch = 0; ch < c; ch++) for (let i = 0; i < inner; i++) vr[ch] += (x[(b * c + ch) * inner + i] - mean[ch]) ** 2 / (n * inner);
  return [mean, vr];
}

forEachDevice('Linear', (dev) => {
  it('y = x Wᵀ + b on batched input', () => {
    manualSeed(1);
    const lin = new Linear(4, 3, { dtype: 'float64', device: dev });
    const x = rand(2, [2, 5, 4], dev);
    const w = values(lin.weight), b = values(lin.bias!), xv = values(x);
    const expected: number[] = [];
    for (let r = 0; r < 10; r++) for (let o = 0; o < 3; o++) expected.push(b[o] + [0, 1, 2, 3].reduce((s, i) => s + xv[r * 4 + i] * w[o * 4 + i], 0));
    const y = lin.call(x);
    expect(y.shape).toEqual([2, 5, 3]);
    expectClose(y, expected, f64);
    expect(new Linear(4, 3, { bias: false }).bias).toBeNull();
  });

  it("initialises as PyTorch: U(-1/sqrt(in), 1/sqrt(in)) for weight and bias", () => {
    const lin = new Linear(64, 200, { device: dev });
    const bound = 1 / 8;
    for (const p of [lin.weight, lin.bias!]) {
      const v = values(p);
      expect(maxAbs(v)).toBeLessThanOrEqual(bound);
      expect(maxAbs(v)).toBeGreaterThan(0.9 * bound);
    }
    const v = values(lin.weight);
    expect(v.reduce((s, a) => s + a * a, 0) / v.length).toBeCloseTo(bound * bound / 3, 3);   // variance of U(-b, b)
  });

  it('errors', () => {
    expectError(() => new Linear(4, 3, { device: dev }).call(rand(1, [2, 5], dev, 'float32')), ShapeError, { op: 'Linear', argument: 'input', expected: 'a last dimension of 4 (in_features)', got: 'shape [2, 5]' });
    expectError(() => new Linear(-1, 3), ValueError, { op: 'Linear', argument: 'inFeatures', expected: 'an integer >= 0', got: '-1' });
  });

  it.skipIf(!derivativeOf('matmul') && !derivativeOf('mm'))('passes gradcheck', () => {
    const lin = new Linear(3, 2, { dtype: 'float64', device: dev });
    const x = rand(3, [4, 3], dev).requiresGrad_();
    expect(gradcheck((a: Tensor) => lin.call(a), [x, lin.weight, lin.bias!])).toBe(true);
  });
});

forEachDevice('Conv2d', (dev) => {
  it("takes padding 'same' (stride 1) and 'valid', as PyTorch's", () => {
    const x = rand(5, [1, 2, 5, 6], dev);
    expect(new Conv2d(2, 3, 4, { padding: 'same', dtype: 'float64', device: dev }).call(x).shape).toEqual([1, 3, 5, 6]);
    expect(new Conv2d(2, 3, 3, { padding: 'valid', dtype: 'float64', device: dev }).call(x).shape).toEqual([1, 3, 3, 4]);
    expectError(() => new Conv2d(2, 3, 3, { padding: 'same', stride: 2 }), ValueError, { op: 'Conv2d', argument: 'padding' });
  });

  it('matches a direct convolution with stride, padding, dilation and groups', () => {
    manualSeed(2);
    const conv = new Conv2d(4, 6, [3, 2], { stride: [2, 1], padding: [1, 2], dilation: [1, 2], groups: 2, dtype: 'float64', device: dev });
    expect(conv.weight.shape).toEqual([6, 2, 3, 2]);
    const x = rand(4, [2, 4, 7, 6], dev);
    const y = conv.call(x);
    const [xv, wv, bv] = [values(x), values(conv.weight), values(conv.bias!)];
    const oh = Math.floor((7 + 2 - 2 - 1) / 2) + 1, ow = Math.floor((6 + 4 - 2 - 1) / 1) + 1;
    expect(y.shape).toEqual([2, 6, oh, ow]);
    const expected: number[] = [];
    for (let n = 0; n < 2; n++) for (let o = 0; o < 6; o++) for (let i = 0; i < oh; i++) for (let j = 0; j < ow; j++) {
      let acc = bv[o];
      const g = Math.floor(o / 3);
      for (let ci = 0; ci < 2; ci++) for (let a = 0; a < 3; a++) for (let b = 0; b < 2; b++) {
        const h = i * 2 - 1 + a, w = j - 2 + b * 2;
        if (h < 0 || h >= 7 || w < 0 || w >= 6) continue;
        acc += xv[((n * 4 + g * 2 + ci) * 7 + h) * 6 + w] * wv[((o * 2 + ci) * 3 + a) * 2 + b];
      }
      expected.push(acc);
    }
    expectClose(y, expected, f64);
  });

  it('initialises weight and bias within PyTorch bounds (1/sqrt(fanIn))', () => {
    const conv = new Conv2d(8, 16, 3, { device: dev });
    const bound = 1 / Math.sqrt(8 * 9);
    expect(maxAbs(values(conv.weight))).toBeLessThanOrEqual(bound);
    expect(maxAbs(values(conv.bias!))).toBeLessThanOrEqual(bound);
  });

  it('errors', () => {
    expectError(() => new Conv2d(3, 4, 3, { groups: 2 }), ValueError, { op: 'Conv2d', argument: 'inChannels', expected: 'a multiple of groups (2)', got: '3' });
    expectError(() => new Conv2d(2, 4, 0), ValueError, { op: 'Conv2d', argument: 'kernelSize', expected: 'an integer >= 1 or a pair of them', got: '0' });
    // a truthy non-boolean is not "yes": bias: 'no' would have made a bias
    expectError(() => new Conv2d(2, 4, 3, { bias: 'no' as unknown as boolean }), ValueError, { op: 'Conv2d', argument: 'bias', expected: 'true or false', got: '"no"' });
    expectError(() => new Linear(2, 4, { bias: 0 as unknown as boolean }), ValueError, { op: 'Linear', argument: 'bias', expected: 'true or false', got: '0' });
    // a misspelt option was ignored: padd: 1 left padding 0, a GroupNorm's epsilon the default
    expectError(() => new Conv2d(2, 4, 3, { padd: 1 } as never), ValueError, { op: 'Conv2d', argument: 'options', expected: 'only the options stride, padding, dilation, groups, bias, dtype, device', got: '"padd"' });
    expectError(() => new Linear(2, 4, { dtpye: 'float64' } as never), ValueError, { op: 'Linear', argument: 'options', got: '"dtpye"' });
    expectError(() => new GroupNorm(2, 4, { epsilon: 1e-3 } as never), ValueError, { op: 'GroupNorm', argument: 'options', got: '"epsilon"' });
    expectError(() => new BatchNorm2d(4, { track_running_stats: false } as never), ValueError, { op: 'BatchNorm2d', argument: 'options', got: '"track_running_stats"' });
    expectError(() => new MaxPool2d(2, { ceil_mode: true } as never), ValueError, { op: 'MaxPool2d', argument: 'options', got: '"ceil_mode"' });
    expectError(() => new Dropout(0.5, { inplace: true } as never), ValueError, { op: 'Dropout', argument: 'options', expected: 'only the options generator', got: '"inplace"' });
    // the wording matters: the layer, the channels it wants and what came in (not the weight's shape)
    expectError(() => new Conv2d(2, 4, 3, { device: dev }).call(rand(1, [1, 3, 5, 5], dev, 'float32')), ShapeError,
      "Conv2d: argument 'input' expected [N, 2, H, W]: the 2 input channels of Conv2d(2, 4, kernelSize [3, 3]), got 3 channels in shape [1, 3, 5, 5]");
    expectError(() => new Conv2d(2, 4, 3, { device: dev }).call(rand(1, [2, 5, 5], dev, 'float32')), ShapeError, { op: 'Conv2d', argument: 'input', expected: '[N, 2, H, W]: the 2 input channels of Conv2d(2, 4, kernelSize [3, 3])', got: 'shape [2, 5, 5]' });
  });

  it.skipIf(!derivativeOf('conv2d'))('passes gradcheck (input, weight, bias)', () => {
    const conv = new Conv2d(4, 4, 3, { stride: 2, padding: 1, dilation: [1, 2], groups: 2, dtype: 'float64', device: dev });
    const x = rand(5, [2, 4, 5, 6], dev).requiresGrad_();
    expect(gradcheck((a: Tensor) => conv.call(a), [x, conv.weight, conv.bias!])).toBe(true);
  });
});

forEachDevice('GroupNorm', (dev) => {
  it('normalises each group of each sample, then scales and shifts per channel', () => {
    const gn = new GroupNorm(2, 6, { dtype: 'float64', device: dev, eps: 1e-3 });
    noGrad(() => gn.weight!.copy_(rand(6, [6], dev)));
    const x = rand(7, [3, 6, 4, 5], dev);
    const xv = values(x), wv = values(gn.weight!), bv = values(gn.bias!);
    // a group of a sample is 3 channels x 20 positions, contiguous in NCHW
    const expected = new Array<number>(xv.length);
    for (let s = 0; s < 3 * 2; s++) {
      const seg = xv.slice(s * 60, s * 60 + 60);
      const m = seg.reduce((a, b) => a + b, 0) / 60;
      const v = seg.reduce((a, b) => a + (b - m) ** 2, 0) / 60;
      seg.forEach((val, i) => {
        const ch = ((s % 2) * 3) + Math.floor(i / 20);
        expected[s * 60 + i] = ((val - m) / Math.sqrt(v + 1e-3)) * wv[ch] + bv[ch];
      });
    }
    expectClose(gn.call(x), expected, f64);
  });

  it('errors', () => {
    expectError(() => new GroupNorm(4, 6), ValueError, { op: 'GroupNorm', argument: 'numChannels', expected: 'a multiple of numGroups (4)', got: '6' });
    expectError(() => new GroupNorm(2, 6, { device: dev }).call(rand(1, [2, 4, 3], dev, 'float32')), ShapeError, { op: 'GroupNorm', argument: 'input', expected: 'at least 2 dimensions [N, C = 6, ...]', got: 'shape [2, 4, 3]' });
  });

  it('passes gradcheck (random weight: it varies inside a group)', () => {
    const gn = new GroupNorm(2, 4, { dtype: 'float64', device: dev });
    noGrad(() => gn.weight!.copy_(tensor([0.5, -1.5, 2, 1.25], { dtype: 'float64', device: dev })));
    const x = rand(8, [2, 4, 3, 2], dev).requiresGrad_();
    expect(gradcheck((a: Tensor) => gn.call(a), [x, gn.weight!, gn.bias!])).toBe(true);
  });

  // the layer is one Function with its derivative written out (group-norm-function.ts): check it
  // against the layer composed from tensor ops, which autograd differentiates by itself
  const composed = (x: Tensor, w: Tensor | null, b: Tensor | null, groups: number, eps: number): Tensor => {
    const [N, C] = x.shape as [number, number];
    const xg = x.reshape([N, groups, -1]);
    const m = xg.mean(2, true), v = variance(xg, 2, { correction: 0, keepdim: true });
    let y = xg.sub(m).div(v.add(eps).sqrt()).reshape([...x.shape]);
    const cshape = x.shape.map((s, i) => (i === 1 ? C : 1));
    if (w) y = y.mul(w.view(cshape));
    return b ? y.add(b.view(cshape)) : y;
  };

  it('output and gradients equal the composed layer\'s (random weight, bias, upstream gradient; 2-d to 4-d input, affine or not)', () => {
    for (const [shape, affine] of [[[4, 6, 3, 2], true], [[3, 6, 5], true], [[2, 6], true], [[4, 6, 3, 2], false]] as const) {
      const gn = new GroupNorm(3, 6, { dtype: 'float64', device: dev, affine, eps: 1e-4 });
      if (affine) noGrad(() => {
        gn.weight!.copy_(tensor([0.5, -1.5, 2, 0.75, 1.1, -0.3], { dtype: 'float64', device: dev }));
        gn.bias!.copy_(tensor([0.1, 0.2, -0.3, 0.4, -0.5, 0.6], { dtype: 'float64', device: dev }));
      });
      const x = rand(30, shape, dev, 'float64').mul(2).add(0.7).requiresGrad_();
      const g = rand(31, shape, dev, 'float64');
      const params = affine ? [gn.weight!, gn.bias!] : [];
      const y = gn.call(x);
      expect(y.gradFn?.name).toBe('GroupNormFunctionBackward');
      const got = grad(y, [x, ...params], g);
      const ref = composed(x, gn.weight, gn.bias, 3, gn.eps);
      const want = grad(ref, [x, ...params], g);
      expectClose(y, values(ref), { rtol: 1e-12, atol: 1e-13 });
      got.forEach((t, i) => expectClose(t, values(want[i]), { rtol: 1e-10, atol: 1e-12 }));
    }
  });

  it('runs its own kernels for float32 and float64: two launches forward, three backward', () => {
    for (const dtype of ['float32', 'float64'] as const) {
      const gn = new GroupNorm(2, 4, { device: dev, dtype });
      const x = rand(40, [2, 4, 3, 3], dev, dtype).requiresGrad_();
      const g = rand(41, [2, 4, 3, 3], dev, dtype);
      const kernels = (fn: () => void) => profile(fn).keyAverages().filter((r) => r.kind === 'kernel').map((r) => [r.name, r.calls]);
      const forward = kernels(() => tidy(() => void noGrad(() => gn.call(x))));
      expect(forward, dtype).toEqual([['group_norm_stats', 1], ['group_norm_apply', 1]]);
      const y = gn.call(x);
      const backward = kernels(() => tidy(() => void grad(y, [x, gn.weight!, gn.bias!], g)));
      expect(backward, dtype).toEqual([['group_norm_backward_reduce', 1], ['group_norm_backward_input', 1], ['group_norm_param_grads', 1]]);
    }
  });

  it('the kernels with a weight alone, a bias alone, a non-contiguous weight (GroupNormFunction.apply, against the composed layer)', () => {
    const x = rand(50, [3, 6, 4, 2], dev, 'float64').requiresGrad_();
    const g = rand(51, [3, 6, 4, 2], dev, 'float64');
    const w = rand(52, [6, 2], dev, 'float64').select(1, 1).requiresGrad_();       // a strided [6]
    expect(w.isContiguous).toBe(false);
    const b = rand(53, [6], dev, 'float64').requiresGrad_();
    for (const [weight, bias] of [[w, null], [null, b], [w, b]] as const) {
      const inputs = [x, ...[weight, bias].filter((t): t is Tensor => t !== null)];
      const y = GroupNormFunction.apply(x, weight, bias, 3, 1e-5);
      const ref = composed(x, weight, bias, 3, 1e-5);
      expectClose(y, values(ref), { rtol: 1e-12, atol: 1e-13 });
      const got = grad(y, inputs, g), want = grad(ref, inputs, g);
      got.forEach((t, i) => expectClose(t, values(want[i]), { rtol: 1e-10, atol: 1e-12, what: `${weight ? 'weight' : ''} ${bias ? 'bias' : ''} ${i}` }));
    }
  });

  it('an input without values (a zero-sized dim) gives an empty output and zero parameter gradients', () => {
    const gn = new GroupNorm(2, 4, { device: dev, dtype: 'float64' });
    const x = zeros([2, 4, 0], { dtype: 'float64', device: dev }).requiresGrad_();
    const y = gn.call(x);
    expect(y.shape).toEqual([2, 4, 0]);
    const [gx, gw, gb] = grad(y, [x, gn.weight!, gn.bias!], zeros([2, 4, 0], { dtype: 'float64', device: dev }));
    expect(gx.shape).toEqual([2, 4, 0]);
    expect(values(gw)).toEqual([0, 0, 0, 0]);
    expect(values(gb)).toEqual([0, 0, 0, 0]);
  });

  it.runIf(dev === 'cuda')('an input on another device than the layer is a DeviceError, not a kernel on the wrong memory', () => {
    const gn = new GroupNorm(2, 4, { device: 'cuda' });
    expectError(() => gn.call(rand(54, [2, 4, 3], 'cpu', 'float32')), DeviceError, { op: 'GroupNorm' });
  });

  it('edge sizes: one group, one channel per group, one position, rows longer than a block, large batches (against the composed layer)', () => {
    const cases: [number[], number][] = [[[3, 6, 4, 5], 1], [[3, 6, 4, 5], 6], [[5, 6], 3], [[2, 4, 33, 35], 2], [[65, 2, 3], 2], [[1, 8, 1, 1], 4]];
    for (const [shape, groups] of cases) {
      const C = shape[1];
      const gn = new GroupNorm(groups, C, { dtype: 'float64', device: dev });
      noGrad(() => {
        gn.weight!.copy_(rand(42, [C], dev).add(1));
        gn.bias!.copy_(rand(43, [C], dev));
      });
      const x = rand(44, shape, dev, 'float64').mul(3).add(-2).requiresGrad_();
      const g = rand(45, shape, dev, 'float64');
      const got = [gn.call(x), ...grad(gn.call(x), [x, gn.weight!, gn.bias!], g)];
      const ref = composed(x, gn.weight, gn.bias, groups, gn.eps);
      const want = [ref, ...grad(ref, [x, gn.weight!, gn.bias!], g)];
      got.forEach((t, i) => expectClose(t, values(want[i]), { rtol: 1e-9, atol: 1e-11, what: `[${shape.join(', ')}] / ${groups}, output ${i}` }));
    }
  });

  it('float16 and bfloat16 values with float32 parameters (autocast\'s case): the kernels, half output and input gradient, float32 parameter gradients', () => {
    const gn = new GroupNorm(2, 4, { device: dev });
    checkHalfValuesFloat32Params((x) => GroupNormFunction.apply(x, gn.weight, gn.bias, 2, 1e-5), gn.weight!, gn.bias!, 'group_norm_stats', 76, dev);
  });

  it('float16 and bfloat16 layers (half parameters) take the composed path (no group_norm kernel) and agree with float32, forward and backward', () => {
    const gn = new GroupNorm(2, 4, { device: dev });
    const x32 = rand(46, [2, 4, 3, 3], dev, 'float32').requiresGrad_();
    const g32 = rand(47, [2, 4, 3, 3], dev, 'float32');
    const want = values(gn.call(x32)), [wantGx] = grad(gn.call(x32), [x32], g32);
    for (const dtype of ['float16', 'bfloat16'] as const) {
      const gnh = new GroupNorm(2, 4, { device: dev, dtype });
      const xh = x32.detach().to(dtype).requiresGrad_();
      const ran = profile(() => tidy(() => void grad(gnh.call(xh), [xh], g32.to(dtype)))).keyAverages().map((r) => r.name);
      expect(ran.some((n) => n.startsWith('group_norm')), dtype).toBe(false);
      expectClose(gnh.call(xh).to('float32'), want, { rtol: 0.05, atol: 0.05, what: dtype });
      expectClose(grad(gnh.call(xh), [xh], g32.to(dtype))[0].to('float32'), values(wantGx), { rtol: 0.1, atol: 0.1, what: `${dtype} gradient` });
    }
  });

  it('a non-contiguous input gives the contiguous one\'s output and gradient', () => {
    const gn = new GroupNorm(2, 4, { dtype: 'float64', device: dev });
    const base = rand(36, [3, 2, 4, 5], dev).requiresGrad_();
    const x = base.transpose(1, 2);                         // [3, 4, 2, 5], strided
    const g = rand(37, [3, 4, 2, 5], dev);
    const [gx] = grad(gn.call(x), [base], g);
    const xc = x.contiguous().detach().requiresGrad_();
    const [gxc] = grad(gn.call(xc), [xc], g);
    expectClose(gn.call(x), values(gn.call(xc)), f64);
    expectClose(gx.transpose(1, 2), values(gxc), f64);
  });

  it.skipIf(!derivativeOf('var') || !derivativeOf('mean'))('second derivatives (gradgradcheck), also without affine parameters', () => {
    const w = tensor([1.5, -0.5, 0.8, 1.2], { dtype: 'float64', device: dev }).requiresGrad_();
    const b = tensor([0.1, 0.2, 0.3, 0.4], { dtype: 'float64', device: dev }).requiresGrad_();
    const x = rand(32, [2, 4, 2, 2], dev).requiresGrad_();
    expect(gradgradcheck((a: Tensor, ww: Tensor, bb: Tensor) => GroupNormFunction.apply(a, ww, bb, 2, 1e-5), [x, w, b])).toBe(true);
    expect(gradgradcheck((a: Tensor) => GroupNormFunction.apply(a, null, null, 2, 1e-5), [x])).toBe(true);
  });

  it('gradients stay accurate in float32 when the mean is far larger than the spread', () => {
    expect(float32GradError((dtype) => new GroupNorm(2, 4, { dtype, device: dev }), [4, 4, 4, 4], dev)).toBeLessThan(2e-2);
  });

  it('leaves no tensor behind, with or without a graph', () => {
    const gn = new GroupNorm(2, 4, { device: dev });
    const x = rand(35, [2, 4, 3, 3], dev, 'float32').requiresGrad_();
    // (the graph's tensors are the step's: tidy frees them, as a training step's)
    const run = () => {
      noGrad(() => gn.call(x).dispose());
      tidy(() => void grad(gn.call(x), [x, gn.weight!], rand(38, [2, 4, 3, 3], dev, 'float32')));
    };
    expectAllocatedUnchanged(dev, run, 3);
  });
});

forEachDevice('BatchNorm2d', (dev) => {
  it('training: batch statistics, running statistics updated with momentum and unbiased variance', () => {
    const bn = new BatchNorm2d(3, { dtype: 'float64', device: dev, momentum: 0.2 });
    const x1 = rand(10, [4, 3, 2, 5], dev, 'float64').mul(3).add(1), x2 = rand(11, [4, 3, 2, 5], dev);
    const [m1, v1] = channelStats(values(x1), x1.shape);
    const y = bn.call(x1);
    const expected = values(x1).map((v, i) => {
      const ch = Math.floor(i / 10) % 3;
      return (v - m1[ch]) / Math.sqrt(v1[ch] + 1e-5);
    });
    expectClose(y, expected, f64);
    bn.call(x2);
    const [m2, v2] = channelStats(values(x2), x2.shape);
    const n = 40;
    const rm = m1.map((m, c) => 0.8 * (0.2 * m) + 0.2 * m2[c]);
    const rv = v1.map((v, c) => 0.8 * (0.8 + 0.2 * v * n / (n - 1)) + 0.2 * v2[c] * n / (n - 1));
    expectClose(bn.runningMean!, rm, f64);
    expectClose(bn.runningVar!, rv, f64);
    expect(values(bn.numBatchesTracked!)).toEqual([2]);
  });

  it('evaluation uses the running statistics, affine parameters applied', () => {
    const bn = new BatchNorm2d(2, { dtype: 'float64', device: dev });
    bn.runningMean!.copy_(tensor([0.5, -1], { dtype: 'float64', device: dev }));
    bn.runningVar!.copy_(tensor([4, 0.25], { dtype: 'float64', device: dev }));
    bn.eval();
    const x = rand(12, [2, 2, 3, 3], dev);
    const y = bn.call(x);
    const expected = values(x).map((v, i) => {
      const ch = Math.floor(i / 9) % 2;
      return (v - [0.5, -1][ch]) / Math.sqrt([4, 0.25][ch] + 1e-5);
    });
    expectClose(y, expected, f64);
    expect(values(bn.numBatchesTracked!)).toEqual([0]);
  });

  it('momentum null keeps a cumulative average; trackRunningStats false always uses the batch', () => {
    const bn = new BatchNorm2d(1, { dtype: 'float64', device: dev, momentum: null });
    const xs = [rand(20, [2, 1, 2, 2], dev), rand(21, [2, 1, 2, 2], dev), rand(22, [2, 1, 2, 2], dev)];
    for (const x of xs) bn.call(x);
    const means = xs.map((x) => channelStats(values(x), x.shape)[0][0]);
    expectClose(bn.runningMean!, [means.reduce((a, b) => a + b, 0) / 3], f64);
    const free = new BatchNorm2d(1, { dtype: 'float64', device: dev, trackRunningStats: false }).eval();
    expect(free.runningMean).toBeNull();
    const [m, v] = channelStats(values(xs[0]), [2, 1, 2, 2]);
    expectClose(free.call(xs[0]), values(xs[0]).map((a) => (a - m[0]) / Math.sqrt(v[0] + 1e-5)), f64);
  });

  it('errors', () => {
    const bn = new BatchNorm2d(3, { device: dev });
    expectError(() => bn.call(rand(1, [1, 3, 1, 1], dev, 'float32')), ShapeError, { op: 'BatchNorm2d', argument: 'input', expected: 'more than 1 value per channel in training', got: 'shape [1, 3, 1, 1]' });
    expectError(() => bn.call(rand(1, [2, 4, 2, 2], dev, 'float32')), ShapeError, { op: 'BatchNorm2d', argument: 'input', expected: 'at least 4 dimensions [N, C = 3, ...]', got: 'shape [2, 4, 2, 2]' });
    expectError(() => new BatchNorm2d(3, { momentum: 2 }), ValueError, { op: 'BatchNorm2d', argument: 'momentum', expected: 'a number in [0, 1] or null', got: '2' });
    expectError(() => new BatchNorm2d(3, { affine: 'false' as unknown as boolean }), ValueError, { op: 'BatchNorm2d', argument: 'affine', expected: 'true or false' });
    expectError(() => new BatchNorm2d(3, { trackRunningStats: 0 as unknown as boolean }), ValueError, { op: 'BatchNorm2d', argument: 'trackRunningStats', expected: 'true or false' });
    expectError(() => new GroupNorm(2, 6, { affine: 1 as unknown as boolean }), ValueError, { op: 'GroupNorm', argument: 'affine', expected: 'true or false', got: '1' });
  });

  it('the Functions, called directly, check what the layers check: eps, the running factor, per-channel shapes, one value per channel', () => {
    const x = rand(2, [2, 3, 4, 4], dev, 'float32'), w = ones([3], { device: dev }), b = zeros([3], { device: dev });
    const running = (factor: number, dtype: 'float32' | 'float64' = 'float32') => ({ mean: zeros([3], { dtype, device: dev }), variance: ones([3], { dtype, device: dev }), factor });
    for (const eps of [-1, NaN, 'a' as never]) {
      expectError(() => BatchNormTrainFunction.apply(x, w, b, eps), ValueError, { op: 'BatchNorm2d', argument: 'eps' });
      expectError(() => GroupNormFunction.apply(x, w, b, 3, eps), ValueError, { op: 'GroupNorm', argument: 'eps' });
    }
    for (const factor of [NaN, 5, -0.1]) expectError(() => BatchNormTrainFunction.apply(x, w, b, 1e-5, running(factor)), ValueError, { op: 'BatchNorm2d', argument: 'running.factor' });
    for (const dtype of ['float32', 'float64'] as const) {   // the kernels' path and the composed one
      expectError(() => BatchNormTrainFunction.apply(rand(3, [1, 3, 1, 1], dev, 'float32'), w, b, 1e-5, running(0.1, dtype)), ShapeError,
        { op: 'BatchNorm2d', argument: 'input', expected: 'more than 1 value per channel to normalise with the batch statistics' });
    }
    expectError(() => GroupNormFunction.apply(x, ones([6], { device: dev }), b, 3, 1e-5), ShapeError, { op: 'GroupNorm', argument: 'weight', expected: '[3]: one value per channel of the input' });
    expectError(() => GroupNormFunction.apply(x, ones([3, 1], { device: dev }), b, 3, 1e-5), ShapeError, { op: 'GroupNorm', argument: 'weight' });
    // a weight left out is no weight, as null
    expect(values(BatchNormTrainFunction.apply(x, undefined as never, b, 1e-5))).toEqual(values(BatchNormTrainFunction.apply(x, null, b, 1e-5)));
    expect(values(GroupNormFunction.apply(x, undefined as never, b, 3, 1e-5))).toEqual(values(GroupNormFunction.apply(x, null, b, 3, 1e-5)));
  });

  it('an empty batch (N or H·W of 0) gives an empty output, zero parameter gradients, and leaves the running statistics as they were (as PyTorch)', () => {
    for (const dtype of ['float32', 'float64'] as const) {
      for (const shape of [[0, 3, 2, 2], [2, 3, 0, 2]]) {
        const bn = new BatchNorm2d(3, { dtype, device: dev });
        const x = zeros(shape, { dtype, device: dev }).requiresGrad_();
        const y = bn.call(x);
        expect(y.shape).toEqual(shape);
        y.sum().backward();
        expect([values(bn.weight!.grad!), values(bn.bias!.grad!), x.grad!.shape]).toEqual([[0, 0, 0], [0, 0, 0], shape]);
        expect([values(bn.runningMean!), values(bn.runningVar!)]).toEqual([[0, 0, 0], [1, 1, 1]]);
      }
    }
  });

  it.skipIf(!derivativeOf('var') || !derivativeOf('mean'))('passes gradcheck in training mode', () => {
    const bn = new BatchNorm2d(2, { dtype: 'float64', device: dev });
    const x = rand(13, [3, 2, 2, 2], dev).requiresGrad_();
    expect(gradcheck((a: Tensor) => bn.call(a), [x, bn.weight!, bn.bias!])).toBe(true);
  });

  // training mode is one Function with its derivative written out (batch-norm-function.ts): check
  // it against the layer composed from tensor ops, which autograd differentiates by itself
  const composed = (x: Tensor, w: Tensor | null, b: Tensor | null, eps: number): Tensor => {
    const m = x.mean([0, 2, 3], true), v = variance(x, [0, 2, 3], { correction: 0, keepdim: true });
    let y = x.sub(m).div(v.add(eps).sqrt());
    if (w) y = y.mul(w.view([1, -1, 1, 1]));
    return b ? y.add(b.view([1, -1, 1, 1])) : y;
  };

  it('training: output and gradients equal the composed layer\'s (random weight, bias, upstream gradient), with and without affine', () => {
    for (const affine of [true, false]) {
      const bn = new BatchNorm2d(3, { dtype: 'float64', device: dev, affine });
      if (affine) noGrad(() => {
        bn.weight!.copy_(tensor([0.5, -1.5, 2], { dtype: 'float64', device: dev }));
        bn.bias!.copy_(tensor([0.1, 0.2, -0.3], { dtype: 'float64', device: dev }));
      });
      const x = rand(30, [4, 3, 3, 2], dev, 'float64').mul(2).add(0.7).requiresGrad_();
      const g = rand(31, [4, 3, 3, 2], dev, 'float64');
      const params = affine ? [bn.weight!, bn.bias!] : [];
      const y = bn.call(x);
      expect(y.gradFn?.name).toBe('BatchNormTrainFunctionBackward');
      const got = grad(y, [x, ...params], g);
      const ref = composed(x, bn.weight, bn.bias, bn.eps);
      const want = grad(ref, [x, ...params], g);
      expectClose(y, values(ref), { rtol: 1e-12, atol: 1e-13 });
      got.forEach((t, i) => expectClose(t, values(want[i]), { rtol: 1e-10, atol: 1e-12 }));
    }
  });

  it.skipIf(!derivativeOf('var') || !derivativeOf('mean'))('training: second derivatives (gradgradcheck), also without affine parameters', () => {
    const bn = new BatchNorm2d(2, { dtype: 'float64', device: dev });
    noGrad(() => bn.weight!.copy_(tensor([1.5, -0.5], { dtype: 'float64', device: dev })));
    const x = rand(32, [3, 2, 2, 2], dev).requiresGrad_();
    expect(gradgradcheck((a: Tensor, w: Tensor, b: Tensor) => BatchNormTrainFunction.apply(a, w, b, 1e-5), [x, bn.weight!, bn.bias!])).toBe(true);
    expect(gradgradcheck((a: Tensor) => BatchNormTrainFunction.apply(a, null, null, 1e-5), [x])).toBe(true);
  });

  it('training runs its own kernels: two launches forward (the running statistics updated in the first), two backward', () => {
    for (const dtype of ['float32', 'float64', 'bfloat16'] as const) {
      const x = rand(60, [2, 3, 4, 4], dev, dtype).requiresGrad_();
      const w = rand(61, [3], dev, dtype === 'float64' ? 'float64' : 'float32').requiresGrad_();
      const rm = zeros([3], { dtype: w.dtype, device: dev }), rv = zeros([3], { dtype: w.dtype, device: dev });
      const kernels = (fn: () => void) => profile(fn).keyAverages().filter((r) => r.kind === 'kernel').map((r) => [r.name, r.calls]);
      const forward = kernels(() => tidy(() => void noGrad(() => BatchNormTrainFunction.apply(x, w, null, 1e-5, { mean: rm, variance: rv, factor: 0.1 }))));
      expect(forward, dtype).toEqual([['batch_norm_stats', 1], ['batch_norm_apply', 1]]);
      const y = BatchNormTrainFunction.apply(x, w, null, 1e-5);
      expect(y.dtype).toBe(dtype);
      const backward = kernels(() => tidy(() => void grad(y, [x, w], rand(62, [2, 3, 4, 4], dev, dtype))));
      expect(backward.filter(([n]) => String(n).startsWith('batch_norm')), dtype).toEqual([['batch_norm_backward_reduce', 1], ['batch_norm_backward_input', 1]]);
      expect(backward.length, dtype).toBeLessThanOrEqual(3);
    }
  });

  it('the kernels with a weight alone, a bias alone, a strided weight, a non-contiguous input (against the composed layer)', () => {
    const base = rand(63, [3, 4, 5, 2], dev, 'float64').mul(2).add(0.3).requiresGrad_();
    const x = base.transpose(1, 2);                        // [3, 5, 4, 2], strided
    const g = rand(64, [3, 5, 4, 2], dev, 'float64');
    const w = rand(65, [5, 2], dev, 'float64').select(1, 1).requiresGrad_();       // a strided [5]
    expect(w.isContiguous).toBe(false);
    const b = rand(66, [5], dev, 'float64').requiresGrad_();
    for (const [weight, bias] of [[w, null], [null, b], [w, b], [null, null]] as const) {
      const inputs = [base, ...[weight, bias].filter((t): t is Tensor => t !== null)];
      const y = BatchNormTrainFunction.apply(x, weight, bias, 1e-5);
      const ref = composed(x, weight, bias, 1e-5);
      const what = `${weight ? 'weight' : ''} ${bias ? 'bias' : ''}`;
      expectClose(y, values(ref), { rtol: 1e-12, atol: 1e-13, what });
      const got = grad(y, inputs, g), want = grad(ref, inputs, g);
      got.forEach((t, i) => expectClose(t, values(want[i]), { rtol: 1e-10, atol: 1e-12, what: `${what} ${i}` }));
    }
  });

  it('edge sizes: one position, segments longer than a tile, many channels, large and single batches (against the composed layer)', () => {
    for (const shape of [[3, 5, 1, 1], [2, 3, 70, 70], [4, 300, 2, 3], [65, 2, 3, 1], [1, 4, 5, 7]]) {
      const C = shape[1];
      const bn = new BatchNorm2d(C, { dtype: 'float64', device: dev, momentum: 0.3 });
      noGrad(() => {
        bn.weight!.copy_(rand(67, [C], dev).add(1));
        bn.bias!.copy_(rand(68, [C], dev));
      });
      const x = rand(69, shape, dev, 'float64').mul(3).add(-2).requiresGrad_();
      const g = rand(70, shape, dev, 'float64');
      const y = bn.call(x);
      const got = [y, ...grad(y, [x, bn.weight!, bn.bias!], g)];
      const ref = composed(x, bn.weight, bn.bias, bn.eps);
      const want = [ref, ...grad(ref, [x, bn.weight!, bn.bias!], g)];
      got.forEach((t, i) => expectClose(t, values(want[i]), { rtol: 1e-9, atol: 1e-11, what: `[${shape.join(', ')}], output ${i}` }));
      const [m, v] = channelStats(values(x), shape);
      const n = x.numel / C;
      expectClose(bn.runningMean!, m.map((a) => 0.3 * a), { rtol: 1e-12, atol: 1e-14, what: `[${shape.join(', ')}] running mean` });
      expectClose(bn.runningVar!, v.map((a) => 0.7 + 0.3 * a * n / (n - 1)), { rtol: 1e-12, atol: 1e-14, what: `[${shape.join(', ')}] running var` });
    }
  });

  it('parameters of another dtype than the statistics\' take the composed path, with the same output and running statistics', () => {
    const x = rand(71, [4, 3, 2, 2], dev, 'float64').mul(2).add(1);
    const byKernel = new BatchNorm2d(3, { dtype: 'float64', device: dev }), composedBn = new BatchNorm2d(3, { dtype: 'float32', device: dev });
    const ran = profile(() => tidy(() => void noGrad(() => composedBn.call(x)))).keyAverages().map((r) => r.name);
    expect(ran.some((name) => name.startsWith('batch_norm'))).toBe(false);
    noGrad(() => byKernel.call(x));
    expectClose(composedBn.runningMean!, values(byKernel.runningMean!), { rtol: 1e-6, atol: 1e-7 });
    expectClose(composedBn.runningVar!, values(byKernel.runningVar!), { rtol: 1e-6, atol: 1e-7 });
    expectClose(noGrad(() => composedBn.call(x)), values(noGrad(() => byKernel.call(x))), { rtol: 1e-5, atol: 1e-6 });
  });

  it('float16 and bfloat16 values with float32 parameters (autocast\'s case): the kernels, half output and input gradient, float32 parameter gradients', () => {
    const bn = new BatchNorm2d(4, { device: dev });
    checkHalfValuesFloat32Params((x) => BatchNormTrainFunction.apply(x, bn.weight, bn.bias, 1e-5), bn.weight!, bn.bias!, 'batch_norm_stats', 72, dev);
  });

  it('the composed path with half values (a half module without affine parameters; half values with a float32 weight and a half bias): y and the gradient in the values\' dtype', () => {
    const x32 = rand(80, [2, 3, 4, 4], dev, 'float32').mul(2).add(0.5), g32 = rand(81, [2, 3, 4, 4], dev, 'float32');
    const ref = new BatchNorm2d(3, { device: dev, affine: false });
    const xr = x32.detach().requiresGrad_();
    const want = values(ref.call(xr)), [wantGx] = grad(ref.call(xr), [xr], g32);
    for (const dtype of ['float16', 'bfloat16'] as const) {
      const bn = new BatchNorm2d(3, { device: dev, affine: false, dtype });
      const xh = x32.to(dtype).requiresGrad_();
      const y = bn.call(xh);
      expect(y.dtype).toBe(dtype);
      const [gx] = grad(y, [xh], g32.to(dtype));
      expect(gx.dtype).toBe(dtype);
      expectClose(y.to('float32'), want, { rtol: 0.05, atol: 0.05, what: dtype });
      expectClose(gx.to('float32'), values(wantGx), { rtol: 0.1, atol: 0.1, what: `${dtype} gradient` });
      // a float32 weight with a half bias: not the kernels' operands, the composed path, same dtypes
      const w = tensor([1, 1, 1], { dtype: 'float32', device: dev }).requiresGrad_(), b = zeros([3], { dtype, device: dev }).requiresGrad_();
      const y2 = BatchNormTrainFunction.apply(xh, w, b, 1e-5);
      expect(y2.dtype).toBe(dtype);
      const [gx2, gw2, gb2] = grad(y2, [xh, w, b], g32.to(dtype));
      expect([gx2.dtype, gw2.dtype, gb2.dtype]).toEqual([dtype, 'float32', dtype]);
      expectClose(gx2.to('float32'), values(wantGx), { rtol: 0.1, atol: 0.1, what: `${dtype} gradient, mixed parameters` });
      // GroupNorm, the same mixed operands
      const gy = GroupNormFunction.apply(xh, w, b, 3, 1e-5);
      expect(gy.dtype).toBe(dtype);
      expect(grad(gy, [xh], g32.to(dtype))[0].dtype).toBe(dtype);
    }
  });

  it('evaluation returns the input\'s dtype too (half values, float32 running statistics)', () => {
    const bn = new BatchNorm2d(3, { device: dev }).eval();
    expect(bn.call(rand(82, [2, 3, 2, 2], dev, 'bfloat16')).dtype).toBe('bfloat16');
  });

  it('the running statistics\' update counts as an in-place write (their version moves), with the kernels and composed', () => {
    for (const dtype of ['float32', 'float64'] as const) {
      const bn = new BatchNorm2d(3, { device: dev, dtype: 'float32' });
      const before = [bn.runningMean!.storage.version, bn.runningVar!.storage.version];
      noGrad(() => bn.call(rand(83, [2, 3, 2, 2], dev, dtype)));      // float64 values: the composed path
      expect(bn.runningMean!.storage.version, dtype).toBeGreaterThan(before[0]);
      expect(bn.runningVar!.storage.version, dtype).toBeGreaterThan(before[1]);
    }
  });

  it('BatchNormTrainFunction refuses operands of the wrong shape with a ShapeError naming them', () => {
    const x = rand(84, [2, 3, 2, 2], dev, 'float32');
    expectError(() => BatchNormTrainFunction.apply(x, zeros([4], { device: dev }), null, 1e-5), ShapeError, { op: 'BatchNorm2d', argument: 'weight', expected: '[3]: one value per channel of the input', got: 'shape [4]' });
    expectError(() => BatchNormTrainFunction.apply(x, null, null, 1e-5, { mean: zeros([3, 1], { device: dev }), variance: zeros([3], { device: dev }), factor: 0.1 }), ShapeError, { op: 'BatchNorm2d', argument: 'runningMean' });
    expectError(() => BatchNormTrainFunction.apply(x.view([2, 3, 4]), null, null, 1e-5), ShapeError, { op: 'BatchNorm2d', argument: 'input', expected: '4 dimensions [N, C, H, W]' });
  });

  it.runIf(dev === 'cuda')('an input on another device than the layer is a DeviceError, not a kernel on the wrong memory', () => {
    expectError(() => new BatchNorm2d(3, { device: 'cuda' }).call(rand(75, [2, 3, 2, 2], 'cpu', 'float32')), DeviceError, { op: 'BatchNorm2d' });
  });

  it('training: gradients stay accurate in float32 when the mean is far larger than the spread', () => {
    expect(float32GradError((dtype) => new BatchNorm2d(2, { dtype, device: dev }), [8, 2, 4, 4], dev)).toBeLessThan(2e-2);
  });

  it('the batch statistics handed to the running statistics are freed; no tensor is left behind', () => {
    const bn = new BatchNorm2d(3, { device: dev });
    const x = rand(35, [4, 3, 2, 2], dev, 'float32');
    expectAllocatedUnchanged(dev, () => noGrad(() => bn.call(x).dispose()), 5);
  });
});

forEachDevice('pooling, upsampling, activation and containers', (dev) => {
  it('MaxPool2d, Upsample, ReLU and Sequential compose', () => {
    const x = tensor([[[[1, -2, 3, -4], [5, -6, 7, -8], [-1, 2, -3, 4], [-5, 6, -7, 8]]]], { dtype: 'float32', device: dev });
    const net = new Sequential(new MaxPool2d(2), new ReLU(), new Upsample({ scaleFactor: 2 }));
    expect(net.call(x).toArray()).toEqual([[[[5, 5, 7, 7], [5, 5, 7, 7], [6, 6, 8, 8], [6, 6, 8, 8]]]]);
    expect(new MaxPool2d(3, { stride: 1, padding: 1 }).call(x).shape).toEqual([1, 1, 4, 4]);
    expect(new MaxPool2d(3, { stride: 2, ceilMode: true }).call(x).shape).toEqual([1, 1, 2, 2]);
    expect(new Upsample({ size: [3, 5] }).call(x).shape).toEqual([1, 1, 3, 5]);
    expectError(() => new Upsample({ scaleFactor: 2, mode: 'bilinear' as 'nearest' }), ValueError, { op: 'Upsample', argument: 'mode', expected: "'nearest' (the only mode implemented)", got: '"bilinear"' });
    expectError(() => new Upsample({ scaleFactor: 2, alignCorners: false } as never), ValueError, { op: 'Upsample', argument: 'options', expected: 'only the options scaleFactor, size, mode', got: '"alignCorners"' });
  });
});

forEachDevice('Dropout', (dev) => {
  it('zeroes about p of the elements and scales the rest by 1/(1-p); identity in eval', () => {
    const drop = new Dropout(0.3, { generator: new Generator(5) });
    const x = tensor(new Array(20000).fill(2), { dtype: 'float32', device: dev });
    const v = values(drop.call(x));
    const zeros = v.filter((a) => a === 0).length;
    expect(zeros / v.length).toBeGreaterThan(0.28);
    expect(zeros / v.length).toBeLessThan(0.32);
    expect(v.filter((a) => a !== 0).every((a) => Math.abs(a - 2 / 0.7) < 1e-5)).toBe(true);
    expect(drop.eval().call(x)).toBe(x);
  });

  it('is reproducible from a seeded generator; p = 0 and p = 1', () => {
    const x = tensor(new Array(100).fill(1), { dtype: 'float32', device: dev });
    const a = values(new Dropout(0.5, { generator: new Generator(9) }).call(x));
    const b = values(new Dropout(0.5, { generator: new Generator(9) }).call(x));
    expect(a).toEqual(b);
    expect(new Dropout(0).call(x)).toBe(x);
    expect(values(new Dropout(1).call(x))).toEqual(new Array(100).fill(0));
    expectError(() => new Dropout(1.5), ValueError, { op: 'Dropout', argument: 'p', expected: 'a probability in [0, 1]', got: '1.5' });
  });
});

forEachDevice('init', (dev) => {
  const big = (shape: number[]): Tensor => zeros(shape, { device: dev });
  const stats = (t: Tensor): [number, number] => {
    const v = values(t);
    const m = v.reduce((a, b) => a + b, 0) / v.length;
    return [m, Math.sqrt(v.reduce((a, b) => a + (b - m) ** 2, 0) / v.length)];
  };

  it('kaiming and xavier follow their documented bounds and standard deviations', () => {
    const g = { generator: new Generator(3) };
    const w = big([256, 64, 3, 3]);                    // fanIn 576, fanOut 2304
    init.kaimingNormal_(w, { ...g, mode: 'fan_out', nonlinearity: 'relu' });
    let [m, s] = stats(w);
    expect(Math.abs(m)).toBeLessThan(0.002);
    expect(s / Math.sqrt(2 / 2304)).toBeCloseTo(1, 1);
    init.kaimingUniform_(w, { ...g, a: 1 });           // gain sqrt(2 / (1 + 1)) = 1, bound sqrt(3 / 576)
    expect(maxAbs(values(w))).toBeLessThanOrEqual(Math.sqrt(3 / 576) * (1 + 1e-6));
    [, s] = stats(w);
    expect(s / Math.sqrt(1 / 576)).toBeCloseTo(1, 1);
    init.xavierUniform_(w, 2, g);
    expect(maxAbs(values(w))).toBeLessThanOrEqual(2 * Math.sqrt(6 / (576 + 2304)) * (1 + 1e-6));
    init.xavierNormal_(w, 1, g);
    [, s] = stats(w);
    expect(s / Math.sqrt(2 / (576 + 2304))).toBeCloseTo(1, 1);
    init.normal_(w, 3, 0.01, g);
    [m, s] = stats(w);
    expect(m).toBeCloseTo(3, 3);
    expect(s).toBeCloseTo(0.01, 3);
  });

  it('constant_, zeros_, ones_, the RetinaNet prior and the fan/gain helpers', () => {
    const t = big([2, 3]);
    expect(values(init.constant_(t, 0.5))).toEqual(new Array(6).fill(0.5));
    expect(values(init.zeros_(t))).toEqual(new Array(6).fill(0));
    expect(values(init.ones_(t))).toEqual(new Array(6).fill(1));
    expect(priorProbBias(0.01)).toBeCloseTo(-Math.log(99), 12);
    expect(priorProbBias(0.5)).toBe(-0);
    expectError(() => priorProbBias(0), ValueError, { op: 'priorProbBias', argument: 'pi', expected: 'a probability in (0, 1)', got: '0' });
    expect(init.calculateFanInAndFanOut(big([4, 3, 5, 5]))).toEqual([75, 100]);
    expectError(() => init.calculateFanInAndFanOut(big([4])), ShapeError, { op: 'calculateFanInAndFanOut', argument: 'tensor', expected: 'at least 2 dimensions [out, in, ...]', got: '1 dimensions' });
    expect(init.calculateGain('leaky_relu', Math.sqrt(5))).toBeCloseTo(Math.sqrt(1 / 3), 12);
    expect(init.calculateGain('tanh')).toBeCloseTo(5 / 3, 12);
  });

  it('draws the same values from the same seed on every device', () => {
    const a = init.normal_(big([5]), 0, 1, { seed: 11 });
    const b = init.normal_(zeros([5]), 0, 1, { seed: 11 });
    expectClose(a, values(b), { rtol: 1e-6, atol: 1e-6 });
  });
});

describe('init inside the module constructors', () => {
  it('is reproducible under manualSeed', () => {
    manualSeed(42);
    const a = values(new Conv2d(2, 3, 3).weight);
    manualSeed(42);
    expect(values(new Conv2d(2, 3, 3).weight)).toEqual(a);
  });
});
