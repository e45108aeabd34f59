// deformConv2d on every device against a float64 reference written from the op's definition
// (test/reference.ts), on random inputs: several geometries, both dtypes, non-contiguous views,
// edge sizes; its gradients by float64 gradcheck; errors; memory.
import { describe, expect, it } from 'vitest';
import {
  AutogradError, DTypeError, DeviceError, ShapeError, type Tensor, ValueError, collectGarbage, conv2d, emptyOn, im2col, launchKernel, memoryStats, ones, tensor, tidy, zeros,
} from '@kiln/tensor';
import { grad, gradcheck } from '@kiln/autograd';
import { deformConv2d, deformIm2col } from '../src/index.js';
import { cudaUnavailable, forEachDevice } from './devices.js';
import { dense, expectError, random, toTensor, worstError } from './helpers.js';
import { type Conv, type Dense, deformConv2dReference } from './reference.js';

interface Case {
  name: string;
  input: [number, number, number, number];     // N, C, H, W
  weight: [number, number, number, number];    // O, C / groups, kh, kw
  conv: Conv;
  offsetGroups: number;
}

const conv = (stride: [number, number], padding: [number, number], dilation: [number, number]): Conv => ({ stride, padding, dilation });

const CASES: Case[] = [
  { name: '3x3, padding 1', input: [2, 4, 7, 6], weight: [5, 4, 3, 3], conv: conv([1, 1], [1, 1], [1, 1]), offsetGroups: 1 },
  { name: 'stride 2, dilation 2, odd sizes', input: [1, 3, 9, 11], weight: [4, 3, 3, 3], conv: conv([2, 2], [2, 1], [2, 2]), offsetGroups: 1 },
  { name: 'groups 2, offset groups 2, 2x3 kernel', input: [2, 4, 6, 5], weight: [6, 2, 2, 3], conv: conv([1, 2], [0, 1], [1, 1]), offsetGroups: 2 },
  { name: 'offset group per channel, stride 3', input: [1, 3, 8, 8], weight: [2, 3, 3, 3], conv: conv([3, 3], [1, 1], [1, 1]), offsetGroups: 3 },
  { name: '1x1 kernel on a 1x1 image', input: [3, 2, 1, 1], weight: [3, 2, 1, 1], conv: conv([1, 1], [0, 0], [1, 1]), offsetGroups: 1 },
];

const outSize = (size: number, k: number, s: number, p: number, d: number): number => Math.floor((size + 2 * p - d * (k - 1) - 1) / s) + 1;

/** Random dense inputs of a case: offsets in [-2, 2) move samples across pixels and off the image. */
function inputsOf(c: Case, seed: number) {
  const [n, , h, w] = c.input;
  const [o, , kh, kw] = c.weight;
  const oh = outSize(h, kh, c.conv.stride[0], c.conv.padding[0], c.conv.dilation[0]);
  const ow = outSize(w, kw, c.conv.stride[1], c.conv.padding[1], c.conv.dilation[1]);
  const taps = c.offsetGroups * kh * kw;
  return {
    x: random(c.input, seed),
    offset: random([n, 2 * taps, oh, ow], seed + 1, -2, 2),
    mask: random([n, taps, oh, ow], seed + 2, 0, 1),
    weight: random(c.weight, seed + 3),
    bias: random([o], seed + 4).data,
  };
}

const options = (c: Case) => ({ stride: c.conv.stride, padding: c.conv.padding, dilation: c.conv.dilation });

forEachDevice('deformConv2d', (dev) => {
  for (const dtype of ['float64', 'float32'] as const) {
    const [atol, rtol] = dtype === 'float64' ? [1e-12, 1e-12] : [2e-5, 2e-5];
    for (const c of CASES) {
      it(`${c.name} (${dtype}) matches the reference, with and without mask and bias`, () => {
        const d = inputsOf(c, 11);
        const t = (x: Dense): Tensor => toTensor(x, dtype, dev);
        const withAll = deformConv2d(t(d.x), t(d.offset), t(d.weight), { ...options(c), mask: t(d.mask), bias: tensor(d.bias, { dtype, device: dev }) });
        const ref = deformConv2dReference(d.x, d.offset, d.weight, d.mask, d.bias, c.conv);
        expect(withAll.shape).toEqual(ref.shape);
        expect(worstError(dense(withAll).data, ref.data, atol, rtol)).toBeLessThanOrEqual(1);
        const plain = deformConv2d(t(d.x), t(d.offset), t(d.weight), options(c));
        expect(worstError(dense(plain).data, deformConv2dReference(d.x, d.offset, d.weight, null, null, c.conv).data, atol, rtol)).toBeLessThanOrEqual(1);
      });
    }
  }

  it('reads non-contiguous views: transposed input, strided offset, expanded mask, permuted weight', () => {
    const c = CASES[0];
    const d = inputsOf(c, 5);
    const [n, ch, h, w] = c.input;
    // the input stored as [N, C, W, H] and transposed; the offset as every other channel of a wider tensor
    const xT = toTensor(d.x, 'float64', dev).transpose(2, 3).contiguous().transpose(2, 3);
    expect(xT.isContiguous).toBe(false);
    const wide = zeros([d.offset.shape[0], 2 * d.offset.shape[1], d.offset.shape[2], d.offset.shape[3]], { dtype: 'float64', device: dev });
    const offsetView = wide.slice(1, 0, undefined, 2);
    offsetView.copy_(toTensor(d.offset, 'float64', dev));
    expect(offsetView.isContiguous).toBe(false);
    // one mask per tap, the same for every image and position: an expanded view of [1, 9, 1, 1]
    const perTap = random([1, d.mask.shape[1], 1, 1], 9, 0, 1);
    const maskView = toTensor(perTap, 'float64', dev).expand([...d.mask.shape]);
    const maskDense: Dense = dense(maskView.contiguous());
    const wT = toTensor(d.weight, 'float64', dev).permute([1, 0, 2, 3]).contiguous().permute([1, 0, 2, 3]);
    expect(wT.isContiguous).toBe(false);
    const y = deformConv2d(xT, offsetView, wT, { ...options(c), mask: maskView });
    const ref = deformConv2dReference(d.x, d.offset, d.weight, maskDense, null, c.conv);
    expect(worstError(dense(y).data, ref.data, 1e-12, 1e-12)).toBeLessThanOrEqual(1);
    expect([n, ch, h, w]).toEqual(c.input);
  });

  it('with zero offsets and unit masks is conv2d', () => {
    const c = CASES[2];
    const d = inputsOf(c, 21);
    const x = toTensor(d.x, 'float64', dev), weight = toTensor(d.weight, 'float64', dev);
    const offset = zeros([...d.offset.shape], { dtype: 'float64', device: dev });
    const bias = tensor(d.bias, { dtype: 'float64', device: dev });
    const y = deformConv2d(x, offset, weight, { ...options(c), bias });
    const expected = conv2d(x, weight, bias, { ...options(c), groups: c.input[1] / c.weight[1] });
    expect(worstError(dense(y).data, dense(expected).data, 1e-12, 1e-12)).toBeLessThanOrEqual(1);
  });

  it('computes a large batch in chunks (im2colStep) with the same values and gradients', () => {
    const c = CASES[0];
    const d = inputsOf(c, 31);
    const make = () => ({
      x: toTensor(d.x, 'float64', dev).requiresGrad_(), offset: toTensor(d.offset, 'float64', dev).requiresGrad_(),
      mask: toTensor(d.mask, 'float64', dev).requiresGrad_(), weight: toTensor(d.weight, 'float64', dev).requiresGrad_(),
    });
    const a = make(), b = make();
    const ya = deformConv2d(a.x, a.offset, a.weight, { ...options(c), mask: a.mask });
    const yb = deformConv2d(b.x, b.offset, b.weight, { ...options(c), mask: b.mask, im2colStep: 1 });
    expect(worstError(dense(yb).data, dense(ya).data, 1e-13, 1e-13)).toBeLessThanOrEqual(1);
    ya.sum().backward();
    yb.sum().backward();
    for (const k of ['x', 'offset', 'mask', 'weight'] as const) {
      expect(worstError(dense(b[k].grad!).data, dense(a[k].grad!).data, 1e-12, 1e-12), k).toBeLessThanOrEqual(1);
    }
  });

  it('handles an empty batch and an empty channel count', () => {
    const empty = deformConv2d(zeros([0, 2, 5, 5], { dtype: 'float64', device: dev }), zeros([0, 18, 5, 5], { dtype: 'float64', device: dev }),
      zeros([3, 2, 3, 3], { dtype: 'float64', device: dev }), { padding: 1, mask: zeros([0, 9, 5, 5], { dtype: 'float64', device: dev }) });
    expect(empty.shape).toEqual([0, 3, 5, 5]);
    const x = zeros([0, 2, 5, 5], { dtype: 'float64', device: dev }).requiresGrad_();
    deformConv2d(x, zeros([0, 18, 5, 5], { dtype: 'float64', device: dev }), zeros([3, 2, 3, 3], { dtype: 'float64', device: dev }), { padding: 1 })
      .sum().backward();
    expect(x.grad!.shape).toEqual([0, 2, 5, 5]);
  });

  it('has the gradients of finite differences (float64 gradcheck), in every argument', () => {
    for (const c of [CASES[0], CASES[2]]) {
      const small: Case = { ...c, input: [1, c.input[1], 4, 4] };
      const d = inputsOf(small, 41);
      const args = [
        toTensor(d.x, 'float64', dev).transpose(2, 3).contiguous().transpose(2, 3),   // non-contiguous
        toTensor(d.offset, 'float64', dev), toTensor(d.mask, 'float64', dev), toTensor(d.weight, 'float64', dev),
        tensor(d.bias, { dtype: 'float64', device: dev }),
      ].map((t) => t.requiresGrad_());
      const fn = (x: Tensor, offset: Tensor, mask: Tensor, weight: Tensor, bias: Tensor) =>
        deformConv2d(x, offset, weight, { ...options(small), mask, bias });
      expect(gradcheck(fn, args), c.name).toBe(true);
    }
  });

  it('is once-differentiable: differentiating its gradient raises', () => {
    const x = toTensor(random([1, 1, 3, 3], 3), 'float64', dev).requiresGrad_();
    const offset = toTensor(random([1, 2, 3, 3], 4), 'float64', dev).requiresGrad_();
    const w = ones([1, 1, 1, 1], { dtype: 'float64', device: dev });
    const [gx] = grad(deformConv2d(x, offset, w).sum(), [x], null, { createGraph: true });
    expect(() => gx.sum().backward()).toThrow(AutogradError);
  });

  it('gives typed errors naming the argument', () => {
    const f64 = { dtype: 'float64' as const, device: dev };
    const x = zeros([1, 2, 5, 5], f64), off = zeros([1, 18, 5, 5], f64), w = zeros([3, 2, 3, 3], f64);
    const cases: [string, () => unknown, new (...a: never[]) => Error, string][] = [
      ['3-D input', () => deformConv2d(zeros([2, 5, 5], f64), off, w, { padding: 1 }), ShapeError, 'input'],
      ['int32 input', () => deformConv2d(zeros([1, 2, 5, 5], { dtype: 'int32', device: dev }), off, w, { padding: 1 }), DTypeError, 'input'],
      ['float16 weight', () => deformConv2d(x, off, zeros([3, 2, 3, 3], { dtype: 'float16', device: dev }), { padding: 1 }), DTypeError, 'weight'],
      ['float32 offset', () => deformConv2d(x, zeros([1, 18, 5, 5], { dtype: 'float32', device: dev }), w, { padding: 1 }), DTypeError, 'offset'],
      ['offset channels', () => deformConv2d(x, zeros([1, 17, 5, 5], f64), w, { padding: 1 }), ShapeError, 'offset'],
      ['offset size', () => deformConv2d(x, zeros([1, 18, 4, 5], f64), w, { padding: 1 }), ShapeError, 'offset'],
      ['offset groups not dividing channels', () => deformConv2d(zeros([1, 3, 5, 5], f64), zeros([1, 36, 5, 5], f64), zeros([3, 3, 3, 3], f64), { padding: 1 }), ShapeError, 'offset'],
      ['mask shape', () => deformConv2d(x, off, w, { padding: 1, mask: zeros([1, 8, 5, 5], f64) }), ShapeError, 'mask'],
      ['weight channels', () => deformConv2d(x, off, zeros([3, 3, 3, 3], f64), { padding: 1 }), ShapeError, 'weight'],
      ['bias shape', () => deformConv2d(x, off, w, { padding: 1, bias: zeros([2], f64) }), ShapeError, 'bias'],
      ['stride 0', () => deformConv2d(x, off, w, { padding: 1, stride: 0 }), ValueError, 'stride'],
      ['window larger than the image', () => deformConv2d(zeros([1, 2, 2, 2], f64), zeros([1, 18, 1, 1], f64), w), ShapeError, 'input'],
    ];
    for (const [what, call, cls, argument] of cases) {
      expect(expectError(call, cls, { op: 'deform_conv2d', argument }).message, what).toMatch(/^deform_conv2d: /);
    }
  });

  it('checks its arguments natively too: a call around TypeScript is a typed error, not a read out of bounds', () => {
    const f64 = { dtype: 'float64' as const, device: dev };
    const x = zeros([1, 2, 5, 5], f64), mask = zeros([1, 9, 5, 5], f64);
    const attrs = [3, 3, 1, 1, 1, 1, 1, 1, 1];
    const columns = emptyOn([1, 18, 25], 'float64', x.device);
    // the extension's KILN_CHECK_ARG: its facts reach JS through the C ABI
    expectError(() => launchKernel('deform_im2col', [x, zeros([1, 18, 9, 9], f64), mask], [columns], attrs), ShapeError, {
      op: 'deform_im2col', argument: 'offset', expected: 'the output size 5x5 of the window', got: '[1, 18, 9, 9]',
    });
    expectError(() => launchKernel('deform_im2col', [x, zeros([1, 18, 5, 5], f64), zeros([1, 8, 5, 5], f64)], [columns], attrs), ShapeError, {
      op: 'deform_im2col', argument: 'mask', expected: 'shape [1, 9, 5, 5]', got: '[1, 8, 5, 5]',
    });
    expectError(() => launchKernel('deform_im2col', [x, zeros([1, 18, 5, 5], f64), mask], [columns], [3, 3, 1, 1, 1, 1, 1, 1, 3]), ShapeError, { op: 'deform_im2col' });
    expectError(() => launchKernel('deform_im2col', [x, zeros([1, 18, 5, 5], f64), mask], [emptyOn([1, 18, 25], 'float32', x.device)], attrs), DTypeError, {
      op: 'deform_im2col', argument: 'columns', expected: 'float64', got: 'float32',
    });
  });

  it('leaves no memory behind: forward, backward and dropped intermediates', async () => {
    const c = CASES[2];
    const d = inputsOf(c, 51);
    // tensors earlier tests dropped are returned once the GC took them and an allocation swept
    // their blocks: collect, allocate and yield until the figure stops moving, so that it moves
    // only with what this test allocates
    const settled = async (): Promise<number> => {
      let last = -1;
      for (let i = 0; i < 10 && memoryStats(dev).allocated !== last; i++) {
        last = memoryStats(dev).allocated;
        collectGarbage();
        // the next native allocation returns the blocks of the tensors the collection took (1 MiB:
        // past the small buffers TypeScript keeps for reuse)
        zeros([1 << 18], { dtype: 'float32', device: dev }).dispose();
        await new Promise((r) => setImmediate(r));
      }
      return memoryStats(dev).allocated;
    };
    const before = await settled();
    tidy(() => {
      const x = toTensor(d.x, 'float32', dev).requiresGrad_(), w = toTensor(d.weight, 'float32', dev).requiresGrad_();
      const offset = toTensor(d.offset, 'float32', dev).requiresGrad_(), mask = toTensor(d.mask, 'float32', dev).requiresGrad_();
      deformConv2d(x, offset, w, { ...options(c), mask }).sum().backward();
      deformConv2d(x, offset, w, { ...options(c), im2colStep: 1 });   // no grad needed for the mask: a broadcast one
      expect(x.grad!.shape).toEqual(c.input);
    });
    expect(memoryStats(dev).allocated).toBe(before);
    // without autograd the intermediates are disposed at once: only the output is left
    const x = toTensor(d.x, 'float32', dev), w = toTensor(d.weight, 'float32', dev), offset = toTensor(d.offset, 'float32', dev);
    const held = await settled();
    const y = deformConv2d(x, offset, w, options(c));
    const extra = memoryStats(dev).allocated - held;
    y.dispose();
    expect(memoryStats(dev).allocated).toBe(held);
    expect(extra).toBeLessThanOrEqual(Math.max(512, y.numel * 4 * 2));
    for (const t of [x, w, offset]) t.dispose();
  });

  it('deformIm2col is the columns conv2d multiplies: with zero offsets, im2col', () => {
    const x = toTensor(random([2, 3, 5, 4], 61), 'float64', dev);
    const cols = deformIm2col(x, zeros([2, 18, 5, 4], { dtype: 'float64', device: dev }), ones([2, 9, 5, 4], { dtype: 'float64', device: dev }),
      { kernelSize: 3, padding: 1 });
    const expected = dense(im2col(x, 3, 1, 1));
    expect(cols.shape).toEqual([...expected.shape]);
    // sampling exactly at pixels reads them exactly: equal, not close
    expect(Array.from(dense(cols).data)).toEqual(Array.from(expected.data));
  });
});

describe.skipIf(cudaUnavailable !== null)('deformConv2d on CUDA agrees with the CPU', () => {
  it('forward and gradients, float32 and float64', () => {
    for (const dtype of ['float64', 'float32'] as const) {
      const c = CASES[2];
      const d = inputsOf(c, 71);
      const run = (dev: string) => {
        const ts = [d.x, d.offset, d.mask, d.weight].map((x) => toTensor(x, dtype, dev).requiresGrad_());
        const y = deformConv2d(ts[0], ts[1], ts[3], { ...options(c), mask: ts[2] });
        y.mul(y).sum().backward();
        return [y, ...ts.map((t) => t.grad!)].map((t) => dense(t).data);
      };
      const cpu = run('cpu'), gpu = run('cuda');
      const tol = dtype === 'float64' ? 1e-11 : 1e-4;
      cpu.forEach((v, i) => expect(worstError(gpu[i], v, tol, tol), `${dtype} ${i}`).toBeLessThanOrEqual(1));
    }
  });

  it('refuses tensors on different devices', () => {
    const x = zeros([1, 1, 3, 3], { dtype: 'float64', device: 'cuda' });
    expect(() => deformConv2d(x, zeros([1, 2, 3, 3], { dtype: 'float64' }), zeros([1, 1, 1, 1], { dtype: 'float64', device: 'cuda' }))).toThrow(DeviceError);
  });
});
