/**
 * The gradcheck cases of every differentiable op of the tensor core, by family: each case
 * differentiates one or more ops against central finite differences, with broadcasting,
 * non-contiguous inputs and random shapes; `gradgrad` cases also check second derivatives.
 *
 * One test file per family runs them (derivatives-<family>.test.ts), so that each file stays
 * small enough to run under compute-sanitizer on the GPU machine; derivatives-table.test.ts checks
 * that together they cover every differentiable op. The cases are built when this module loads,
 * in a fixed order, so each file sees the same seeded shapes.
 */
import { expect, it } from 'vitest';
import * as k from '@kiln/tensor';
import { type Tensor, tensor } from '@kiln/tensor';
import { devicesUnderTest, testRng } from '@kiln/tensor/testing';
import { gradcheck, gradgradcheck, type GradcheckOptions } from '@kiln/autograd';
import { leaf, leafAwayFromZero, leafOf, leafStrided, leafT } from './helpers.js';

export interface Case {
  /** ops (declared names) the case differentiates */
  ops: string[];
  title: string;
  build(dev: string): { fn: (...xs: never[]) => Tensor | Tensor[]; inputs: unknown[] };
  /** also check second derivatives */
  gradgrad?: boolean;
  options?: GradcheckOptions;
}

const rng = testRng(42);
/** Whether a CUDA device is present (pinned host memory needs one). */
const cudaPresent = devicesUnderTest().some((d) => d.name === 'cuda' && d.available);
/** A random shape of `ndim` dims with sizes in [1, max]. */
const randomShape = (ndim: number, max = 4): number[] => Array.from({ length: ndim }, () => 1 + Math.floor(rng() * max));

const unary = (op: string, fn: (x: Tensor) => Tensor, make: (dev: string) => Tensor, gradgrad = true): Case => ({
  ops: [op],
  title: `${op} (non-contiguous input)`,
  build: (dev) => ({ fn: fn, inputs: [make(dev)] }),
  gradgrad,
});

const positive = (dev: string) => leafT(dev, [3, 4], 0.2, 2);
const anyReal = (dev: string) => leafT(dev, [3, 4], -2, 2);
const apart = (dev: string) => leafAwayFromZero(dev, [3, 4]);


/** The family table as written, its keys kept as the type of a family's name. */
function families<K extends string>(table: Record<K, Case[]>): Record<K, Case[]> {
  return table;
}

/**
 * The cases of each family. A new family is a new key here and a derivatives-<family>.test.ts that
 * calls gradcheckFamily('<family>', dev): `Family` is this object's keys.
 */
export const casesByFamily = families({
  unary: [
    // ---- elementwise, unary
    unary('exp', (x) => x.exp(), anyReal),
    unary('log', (x) => x.log(), positive),
    unary('log1p', (x) => x.log1p(), positive),
    unary('expm1', (x) => x.expm1(), anyReal),
    unary('sqrt', (x) => x.sqrt(), positive),
    unary('rsqrt', (x) => x.rsqrt(), positive),
    unary('sigmoid', (x) => x.sigmoid(), anyReal),
    unary('logsigmoid', (x) => x.logsigmoid(), anyReal),
    unary('softplus', (x) => x.softplus(), anyReal),
    unary('silu', (x) => x.silu(), anyReal),
    unary('tanh', (x) => x.tanh(), anyReal),
    unary('sin', (x) => x.sin(), anyReal),
    unary('cos', (x) => x.cos(), anyReal),
    unary('atan', (x) => x.atan(), anyReal),
    unary('log2', (x) => x.log2(), positive),
    unary('neg', (x) => x.neg(), anyReal),
    unary('abs', (x) => x.abs(), apart),
    unary('sign', (x) => x.sign(), apart),
    unary('floor', (x) => x.floor(), apart),
    unary('ceil', (x) => x.ceil(), apart),
    unary('trunc', (x) => x.trunc(), apart),
    unary('round', (x) => x.round(), apart),
    unary('relu', (x) => x.relu(), apart),
  ],
  binary: [
    // ---- elementwise, binary with broadcasting and scalars
    ...(['add', 'sub', 'mul'] as const).flatMap((op): Case[] => [
      { ops: [op], title: `${op} broadcast [2,3,4] with [3,1]`, gradgrad: true, build: (dev) => ({ fn: ((a: Tensor, b: Tensor) => k[op](a, b)), inputs: [leaf(dev, [2, 3, 4]), leaf(dev, [3, 1])] }) },
      { ops: [op], title: `${op} non-contiguous with a 0-d tensor`, build: (dev) => ({ fn: ((a: Tensor, b: Tensor) => k[op](b, a)), inputs: [leafT(dev, [3, 2]), leaf(dev, [])] }) },
      { ops: [op], title: `${op} with a JS number on each side`, build: (dev) => ({ fn: ((a: Tensor) => k[op](k[op](a, 2.5), -1.5)), inputs: [leaf(dev, [5])] }) },
      { ops: [op], title: `${op} random shapes`, build: (dev) => { const s = randomShape(3); return { fn: ((a: Tensor, b: Tensor) => k[op](a, b)), inputs: [leaf(dev, s), leaf(dev, s.map((n, i) => (i === 1 ? 1 : n)))] }; } },
    ]),
    { ops: ['div'], title: 'div broadcast, b away from 0', gradgrad: true, build: (dev) => ({ fn: ((a: Tensor, b: Tensor) => a.div(b)), inputs: [leafT(dev, [3, 4]), leaf(dev, [4], 0.5, 2)] }) },
    // seeded operands whose quotients lie far from whole numbers (the rounded quotient jumps there)
    { ops: ['fmod', 'remainder'], title: 'fmod and remainder broadcast, positive and negative divisors', build: (dev) => ({ fn: ((a: Tensor, b: Tensor, c: Tensor) => [k.fmod(a, b), k.remainder(a, b), k.fmod(a, c), k.remainder(a, c), k.remainder(a, 0.7)]), inputs: [leafT(dev, [3, 4], -3, 3), leaf(dev, [4], 0.5, 2), leaf(dev, [3, 1], -2, -0.5)] }) },
    { ops: ['floor_divide'], title: 'floorDivide: a zero gradient', build: (dev) => ({ fn: ((a: Tensor, b: Tensor) => k.floorDivide(a, b).add(a)), inputs: [leafT(dev, [3, 4], -3, 3), leaf(dev, [4], 0.5, 2)] }) },
    { ops: ['div'], title: 'div of a number by a tensor, and by a number', gradgrad: true, build: (dev) => ({ fn: ((b: Tensor) => k.div(1.5, b).div(4)), inputs: [leaf(dev, [2, 3], 0.5, 2)] }) },
    { ops: ['pow'], title: 'pow tensor ^ tensor with broadcasting', gradgrad: true, build: (dev) => ({ fn: ((a: Tensor, b: Tensor) => a.pow(b)), inputs: [leafT(dev, [3, 4], 0.3, 2), leaf(dev, [1, 4], -2, 2)] }) },
    { ops: ['pow'], title: 'pow tensor ^ number (3, 0.5, 0) and number ^ tensor', gradgrad: true, build: (dev) => ({ fn: ((a: Tensor) => [a.pow(3), a.pow(0.5), a.pow(0), k.pow(2, a)]), inputs: [leaf(dev, [2, 3], 0.3, 2)] }) },
    ...(['maximum', 'minimum'] as const).map((op): Case => ({
      ops: [op], title: `${op} with broadcasting and a number`, gradgrad: true,
      build: (dev) => ({ fn: ((a: Tensor, b: Tensor) => [k[op](a, b), k[op](a, 0.05)]), inputs: [leafT(dev, [3, 4]), leaf(dev, [4])] }),
    })),
    { ops: ['maximum', 'minimum'], title: 'maximum/minimum split the gradient on ties', build: (dev) => ({ fn: ((a: Tensor, b: Tensor) => [k.maximum(a, b), k.minimum(a, b)]), inputs: [leafOf(dev, [1, 2, 3]), leafOf(dev, [1, 0, 5])] }) },
    { ops: ['clamp'], title: 'clamp with both bounds, one bound each', gradgrad: true, build: (dev) => ({ fn: ((a: Tensor) => [a.clamp(-0.5, 0.5), a.clamp(0.1), a.clamp(undefined, 0.2)]), inputs: [leafT(dev, [3, 5], -1, 1)] }) },
    // the output is a constant (the mask jumps at 0, where finite differences are meaningless);
    // relu's own gradgrad case differentiates through an output that depends on the input
    { ops: ['relu_backward'], title: 'relu_backward: the gradient masked by an output of mixed signs and zeros, broadcast', gradgrad: true, build: (dev) => {
      const y = tensor(Float64Array.from([0.5, -1, 0, 2, -0.3, 1.5, 0, -2, 3, 0.1, -0.1, 0]), { dtype: 'float64', device: dev }).reshape([3, 4]);
      return { fn: ((g: Tensor) => [k.reluBackward(g, y), k.reluBackward(g, y.slice(0, 0, 1))]), inputs: [leafT(dev, [3, 4])] };
    } },
    { ops: ['where'], title: 'where with broadcasting and JS numbers', gradgrad: true, build: (dev) => {
      const cond = tensor([true, false, true, false], { device: dev });
      return { fn: ((a: Tensor, b: Tensor) => [k.where(cond, a, b), k.where(cond, a, 0.5), k.where(cond, 2, b)]), inputs: [leaf(dev, [3, 4]), leaf(dev, [3, 1])] };
    } },
  ],
  views: [
    // ---- views
    { ops: ['view'], title: 'view and reshape (a copy for non-contiguous input)', gradgrad: true, build: (dev) => ({ fn: ((a: Tensor, b: Tensor) => [a.view([6, 2]).mul(2), b.reshape([-1]).exp()]), inputs: [leaf(dev, [3, 4]), leafT(dev, [3, 4])] }) },
    { ops: ['permute'], title: 'permute and transpose', gradgrad: true, build: (dev) => ({ fn: ((a: Tensor) => [a.permute(2, 0, 1).exp(), a.transpose(0, 2)]), inputs: [leaf(dev, [2, 3, 4])] }) },
    { ops: ['expand'], title: 'expand (new and size-1 dims)', gradgrad: true, build: (dev) => ({ fn: ((a: Tensor) => a.expand([2, 3, 4]).mul(tensor(Float64Array.from({ length: 24 }, (_, i) => i), { dtype: 'float64', device: dev }).reshape([2, 3, 4]))), inputs: [leaf(dev, [3, 1])] }) },
    { ops: ['slice'], title: 'slice with start, end and step; narrow', gradgrad: true, build: (dev) => ({ fn: ((a: Tensor) => [a.slice(1, 1, 5, 2), a.slice(0, -2), a.narrow(1, 2, 3).exp()]), inputs: [leafStrided(dev, [3, 6])] }) },
    { ops: ['select'], title: 'select (negative index)', gradgrad: true, build: (dev) => ({ fn: ((a: Tensor) => [a.select(1, -1).exp(), a.select(0, 0)]), inputs: [leafT(dev, [3, 4])] }) },
    { ops: ['squeeze', 'unsqueeze'], title: 'squeeze and unsqueeze', gradgrad: true, build: (dev) => ({ fn: ((a: Tensor) => [a.squeeze().exp(), a.unsqueeze(1).unsqueeze(-1).mul(3), a.squeeze(0)]), inputs: [leaf(dev, [1, 3, 1, 2])] }) },
    // ---- conversions
    { ops: ['to_dtype'], title: 'to float32 and back', build: (dev) => ({ fn: ((a: Tensor) => a.to('float32').mul(3).to('float64')), inputs: [leaf(dev, [4])] }), options: { eps: 1e-2, atol: 1e-4, rtol: 1e-4 } },
    { ops: ['to_device'], title: 'to another device and back', build: (dev) => ({ fn: ((a: Tensor) => a.to(dev === 'cpu' ? 'cpu' : 'cpu').mul(2).to(dev).exp()), inputs: [leaf(dev, [3])] }) },
    // pinned memory needs a CUDA device: where there is none, the case checks the copy back alone
    // (the suite runs it for real on the GPU machine)
    { ops: ['pin_memory'], title: 'pinMemory (a copy in pinned host memory) and back', build: (dev) => ({ fn: ((a: Tensor) => (cudaPresent ? a.cpu().pinMemory() : a.cpu()).mul(2).to(dev)), inputs: [leafT(dev, [2, 3])] }) },
    { ops: ['clone'], title: 'clone and contiguous', gradgrad: true, build: (dev) => ({ fn: ((a: Tensor) => [a.clone().mul(2), a.contiguous().exp()]), inputs: [leafT(dev, [2, 3])] }) },
  ],
  reductions: [
    // ---- reductions
    { ops: ['sum'], title: 'sum: all, dims, keepdim, negative dims', gradgrad: true, build: (dev) => ({ fn: ((a: Tensor) => [a.sum(), a.sum([0, 2]), a.sum(-1, true).exp()]), inputs: [leafT(dev, [2, 3, 4])] }) },
    { ops: ['mean'], title: 'mean: all, one dim, keepdim', gradgrad: true, build: (dev) => ({ fn: ((a: Tensor) => [a.mean(), a.mean(1), a.mean(0, true).exp()]), inputs: [leafT(dev, [3, 4])] }) },
    { ops: ['prod'], title: 'prod without zeros', gradgrad: true, build: (dev) => ({ fn: ((a: Tensor) => [a.prod(), a.prod(1), a.prod(0, true)]), inputs: [leafT(dev, [3, 4], 0.5, 1.5)] }) },
    { ops: ['prod'], title: 'prod with one and with two zeros in a row', gradgrad: true, build: (dev) => ({ fn: ((a: Tensor) => [a.prod(1), a.prod()]), inputs: [leafOf(dev, [0, 2, 3, 0.5, 0, 0, 1.5, 2, 0.7], [3, 3])] }) },
    ...(['amax', 'amin'] as const).map((op): Case => ({
      ops: [op], title: `${op} over dims`, gradgrad: true,
      build: (dev) => ({ fn: ((a: Tensor) => [a[op](1), a[op](), a[op]([0, 1], true)]), inputs: [leafT(dev, [3, 4])] }),
    })),
    // (at a tie the first derivative jumps, so there is no second derivative to check)
    { ops: ['amax', 'amin'], title: 'amax/amin share the gradient among ties', build: (dev) => ({ fn: ((t: Tensor) => [t.amax(), t.amin()]), inputs: [leafOf(dev, [1, 3, 3, 1])] }) },
    ...(['max', 'min'] as const).map((op): Case => ({
      ops: [`${op}_dim`], title: `${op}(x, dim) values, keepdim`, gradgrad: true,
      build: (dev) => ({ fn: ((a: Tensor) => [a[op](1).values, a[op](0, true).values.exp()]), inputs: [leafT(dev, [3, 4])] }),
    })),
    { ops: ['var', 'std'], title: 'var and std: corrections, keepdim', gradgrad: true, build: (dev) => ({ fn: ((a: Tensor) => [a.var(), a.var(1, { correction: 0 }), a.std(0, { keepdim: true }), a.std([0, 1], { correction: 0 })]), inputs: [leafT(dev, [3, 4])] }) },
    { ops: ['logsumexp'], title: 'logsumexp', gradgrad: true, build: (dev) => ({ fn: ((a: Tensor) => [a.logsumexp(1), a.logsumexp([0, 1], true)]), inputs: [leafT(dev, [3, 4], -3, 3)] }) },
    // ---- softmax and its backward kernels
    { ops: ['softmax', 'softmax_backward'], title: 'softmax along each dim', gradgrad: true, build: (dev) => ({ fn: ((a: Tensor) => [a.softmax(1), a.softmax(0).mul(tensor([1, 2, 3, 4], { dtype: 'float64', device: dev }))]), inputs: [leafT(dev, [3, 4], -2, 2)] }) },
    { ops: ['log_softmax', 'log_softmax_backward'], title: 'log_softmax along each dim', gradgrad: true, build: (dev) => ({ fn: ((a: Tensor) => [a.logSoftmax(-1), a.logSoftmax(0)]), inputs: [leafT(dev, [3, 4], -2, 2)] }) },
    { ops: ['softmax_backward', 'log_softmax_backward'], title: 'the backward kernels themselves', gradgrad: true, build: (dev) => ({
      fn: ((g: Tensor, x: Tensor) => [k.softmaxBackward(g, x.softmax(1), 1), k.logSoftmaxBackward(g, x.logSoftmax(1), 1)]),
      inputs: [leaf(dev, [2, 3]), leaf(dev, [2, 3])],
    }) },
  ],
  linalg: [
    // ---- matmul (mm, bmm, dot record as matmul)
    { ops: ['matmul'], title: 'matmul 2-D, 1-D on either side, dot', gradgrad: true, build: (dev) => ({
      fn: ((a: Tensor, b: Tensor, v: Tensor, u: Tensor) => [a.matmul(b), v.matmul(b), a.matmul(u), u.matmul(u), a.mm(b), u.dot(u)]),
      inputs: [leafT(dev, [2, 3]), leaf(dev, [3, 4]), leaf(dev, [3]), leaf(dev, [3])],
    }) },
    { ops: ['matmul'], title: 'matmul batched with broadcast batch dims, bmm', gradgrad: true, build: (dev) => ({
      fn: ((a: Tensor, b: Tensor, c: Tensor, v: Tensor) => [a.matmul(b), b.matmul(c), a.bmm(k.expand(c.transpose(1, 2), [2, 3, 2])), v.matmul(b)]),
      inputs: [leaf(dev, [2, 2, 3]), leafT(dev, [3, 2]), leaf(dev, [1, 2, 3]), leaf(dev, [3])],
    }) },
    // ---- linear (y = x Wᵀ + b)
    { ops: ['linear'], title: 'linear: batched non-contiguous input, 1-D input, no bias', gradgrad: true, build: (dev) => ({
      fn: ((x: Tensor, w: Tensor, b: Tensor, v: Tensor) => [k.linear(x, w, b), k.linear(x.transpose(0, 1), w), k.linear(v, w, b)]),
      inputs: [leafT(dev, [2, 3, 4]), leaf(dev, [5, 4]), leaf(dev, [5]), leafStrided(dev, [4])],
    }) },
    // ---- indexing
    { ops: ['gather'], title: 'gather with repeated indices', gradgrad: true, build: (dev) => ({
      fn: ((a: Tensor) => a.gather(1, tensor([[0, 0, 2], [1, 3, 3], [2, 1, 0]], { device: dev }))), inputs: [leafT(dev, [3, 4])],
    }) },
    { ops: ['scatter'], title: 'scatter of a tensor (larger than index) and of a number', gradgrad: true, build: (dev) => {
      const index = tensor([[0, 2], [3, 1]], { device: dev });
      return { fn: ((a: Tensor, s: Tensor) => [a.scatter(1, index, s), a.scatter(1, index, 0.5)]), inputs: [leaf(dev, [2, 4]), leafT(dev, [2, 3])] };
    } },
    { ops: ['scatter_add'], title: 'scatterAdd with repeated indices', gradgrad: true, build: (dev) => ({
      fn: ((a: Tensor, s: Tensor) => a.scatterAdd(0, tensor([[0, 1, 0], [0, 1, 2]], { device: dev }), s)), inputs: [leaf(dev, [3, 3]), leaf(dev, [2, 3])],
    }) },
    { ops: ['index_select'], title: 'indexSelect with repeats, along each dim', gradgrad: true, build: (dev) => ({
      fn: ((a: Tensor) => [a.indexSelect(0, tensor([2, 0, 2], { device: dev })), a.indexSelect(1, tensor([3, 1], { dtype: 'int32', device: dev }))]), inputs: [leafT(dev, [3, 4])],
    }) },
    // ---- join
    { ops: ['cat'], title: 'cat along dims, one input without grad; stack', gradgrad: true, build: (dev) => {
      const c = tensor(Float64Array.from([1, 2, 3, 4, 5, 6]), { dtype: 'float64', device: dev }).reshape([3, 2]);
      return { fn: ((a: Tensor, b: Tensor) => [k.cat([a, c, b], 1), k.cat([a.t(), b.t()], 0).exp(), k.stack([a, b], 1)]), inputs: [leafT(dev, [3, 2]), leaf(dev, [3, 2])] };
    } },
  ],
  nn: [
    // ---- nn
    { ops: ['conv2d'], title: 'conv2d with bias, stride, padding, dilation', gradgrad: true, build: (dev) => ({
      fn: ((x: Tensor, w: Tensor, b: Tensor) => k.conv2d(x, w, b, { stride: [1, 2], padding: 1, dilation: [2, 1] })),
      inputs: [leaf(dev, [2, 2, 4, 5]), leaf(dev, [3, 2, 2, 3]), leaf(dev, [3])],
    }) },
    { ops: ['conv2d'], title: 'conv2d with groups, no bias, strided input', gradgrad: true, build: (dev) => ({
      fn: ((x: Tensor, w: Tensor) => k.conv2d(x, w, null, { groups: 2 })), inputs: [leafT(dev, [1, 4, 3, 3]), leaf(dev, [2, 2, 2, 2])],
    }) },
    { ops: ['conv2d_backward_input', 'conv2d_backward_weight'], title: 'the conv2d backward passes themselves (stride, padding, dilation, groups)', gradgrad: true,
      build: (dev) => {
        const opts = { stride: [2, 1] as [number, number], padding: 1, dilation: [1, 2] as [number, number], groups: 2 };
        // x [1, 4, 4, 5], w [4, 2, 3, 2] -> y [1, 4, 2, 5]
        return {
          fn: ((g: Tensor, w: Tensor, x: Tensor) => [k.conv2dBackwardInput(g, w, [1, 4, 4, 5], opts), k.conv2dBackwardWeight(g, x, [4, 2, 3, 2], opts)]),
          inputs: [leafT(dev, [1, 4, 2, 5]), leaf(dev, [4, 2, 3, 2]), leaf(dev, [1, 4, 4, 5])],
        };
      } },
    { ops: ['im2col', 'col2im'], title: 'im2col and col2im', gradgrad: true, build: (dev) => ({
      fn: ((x: Tensor, c: Tensor) => [k.im2col(x, [2, 2], 1, 1), k.col2im(c, [3, 3], 2, 1, 0)]), inputs: [leafT(dev, [1, 2, 3, 3]), leaf(dev, [1, 4, 4])],
    }) },
    { ops: ['max_pool2d', 'max_pool2d_backward'], title: 'maxPool2d (overlapping windows, padding)', gradgrad: true, build: (dev) => ({
      fn: ((x: Tensor) => [k.maxPool2d(x, 2, 1), k.maxPool2d(x, 3, 2, 1)]), inputs: [leafT(dev, [1, 2, 4, 5])],
    }) },
    { ops: ['max_pool2d_backward'], title: 'maxPool2dBackward itself', gradgrad: true, build: (dev) => {
      const x = leaf(dev, [1, 1, 4, 4]).detach();
      const { indices } = k.maxPool2dWithIndices(x, 2);
      return { fn: ((g: Tensor) => k.maxPool2dBackward(g, indices, x.shape)), inputs: [leaf(dev, [1, 1, 2, 2])] };
    } },
    { ops: ['upsample_nearest2d', 'upsample_nearest2d_backward'], title: 'upsampleNearest2d by scale and by size', gradgrad: true, build: (dev) => ({
      fn: ((x: Tensor) => [k.upsampleNearest2d(x, { scaleFactor: 2 }), k.upsampleNearest2d(x, { size: [5, 4] })]), inputs: [leafT(dev, [1, 2, 2, 3])],
    }) },
    { ops: ['upsample_nearest2d_backward'], title: 'upsampleNearest2dBackward itself', gradgrad: true, build: (dev) => ({
      fn: ((g: Tensor) => [k.upsampleNearest2dBackward(g, [1, 1, 2, 3], { scaleFactor: 2 }), k.upsampleNearest2dBackward(g.slice(2, 0, 3), [1, 1, 2, 2])]),
      inputs: [leaf(dev, [1, 1, 4, 6])],
    }) },
  ],
  selection: [
    // ---- sort, topk, masked_select (distinct values: a tie would make the gradient jump)
    { ops: ['sort'], title: 'sort along each dim, both orders (non-contiguous input)', gradgrad: true, build: (dev) => ({
      fn: ((a: Tensor) => [a.sort(1).values, a.sort(0, { descending: true }).values.mul(tensor([1, 2, 3, 4], { dtype: 'float64', device: dev }))]),
      inputs: [leafT(dev, [3, 4])],
    }) },
    { ops: ['topk'], title: 'topk largest and smallest, k < n', gradgrad: true, build: (dev) => ({
      fn: ((a: Tensor) => [a.topk(2, 1).values, a.topk(1, 0, { largest: false }).values.exp()]), inputs: [leafT(dev, [3, 5])],
    }) },
    { ops: ['masked_select', 'masked_select_backward'], title: 'maskedSelect with a broadcast mask', gradgrad: true, build: (dev) => {
      const mask = tensor([[true, false, true, true]], { device: dev });
      return { fn: ((a: Tensor) => a.maskedSelect(mask).mul(tensor([1, 2, 3, 4, 5, 6, 7, 8, 9], { dtype: 'float64', device: dev }))), inputs: [leafT(dev, [3, 4])] };
    } },
    { ops: ['masked_select_backward'], title: 'maskedSelectBackward itself', gradgrad: true, build: (dev) => {
      const mask = tensor([true, false, true, true, false], { device: dev });
      return { fn: ((g: Tensor) => k.maskedSelectBackward(g, mask, [2, 5])), inputs: [leaf(dev, [6])] };
    } },
  ],
});

/** A family of cases: one derivatives-<family>.test.ts runs it. */
export type Family = keyof typeof casesByFamily;

// ---- a random sweep: random shapes, broadcasting of random dims, random reduced dims
/** Two shapes that broadcast: b drops some leading dims of a and has size 1 in some others. */
function broadcastPair(): [number[], number[]] {
  const a = randomShape(1 + Math.floor(rng() * 3), 3);
  const b = a.slice(Math.floor(rng() * a.length)).map((n) => (rng() < 0.4 ? 1 : n));
  return rng() < 0.5 ? [a, b] : [b, a];
}
const sweepBinary: [string, (a: Tensor, b: Tensor) => Tensor, number, number][] = [
  ['add', (a, b) => a.add(b), -1, 1], ['sub', (a, b) => a.sub(b), -1, 1], ['mul', (a, b) => a.mul(b), -1, 1],
  ['div', (a, b) => a.div(b), 0.5, 2], ['pow', (a, b) => a.pow(b), 0.5, 2],
  ['maximum', (a, b) => a.maximum(b), -1, 1], ['minimum', (a, b) => a.minimum(b), -1, 1],
];
for (const [op, f, lo, hi] of sweepBinary) {
  for (let r = 0; r < 3; r++) {
    const [sa, sb] = broadcastPair();
    casesByFamily.binary.push({ ops: [op], title: `${op} sweep ${r}: [${sa}] with [${sb}]`, build: (dev) => ({ fn: f, inputs: [leaf(dev, sa, lo, hi), leaf(dev, sb, lo, hi)] }) });
  }
}
const sweepReduce: [string, (a: Tensor, dims: number[], keep: boolean) => Tensor][] = [
  ['sum', (a, d, k) => a.sum(d, k)], ['mean', (a, d, k) => a.mean(d, k)], ['prod', (a, d, k) => a.prod(d, k)],
  ['amax', (a, d, k) => a.amax(d, k)], ['amin', (a, d, k) => a.amin(d, k)], ['logsumexp', (a, d, k) => a.logsumexp(d, k)],
  ['var', (a, d, k) => a.var(d, { keepdim: k })], ['std', (a, d, k) => a.std(d, { keepdim: k })],
];
for (const [op, f] of sweepReduce) {
  for (let r = 0; r < 2; r++) {
    const shape = randomShape(3, 3).map((n) => n + 1);
    const dims = [0, 1, 2].filter(() => rng() < 0.5);
    const keep = rng() < 0.5;
    casesByFamily.reductions.push({ ops: [op], title: `${op} sweep ${r}: [${shape}] over [${dims}]${keep ? ' keepdim' : ''}`, build: (dev) => ({ fn: ((a: Tensor) => f(a, dims, keep)), inputs: [leafT(dev, shape, 0.3, 1.5)] }) });
  }
}

/** Every case of every family. */
export const allCases = (): Case[] => Object.values<Case[]>(casesByFamily).flat();

/** The gradcheck and gradgradcheck tests of one family's cases, on one device. */
export function gradcheckFamily(family: Family, dev: string): void {
  for (const c of casesByFamily[family]) {
    it(`gradcheck: ${c.title}`, () => {
      const { fn, inputs } = c.build(dev);
      expect(gradcheck(fn, inputs, c.options)).toBe(true);
    });
  }
  for (const c of casesByFamily[family].filter((x) => x.gradgrad)) {
    it(`gradgradcheck: ${c.title}`, () => {
      const { fn, inputs } = c.build(dev);
      expect(gradgradcheck(fn, inputs, undefined, c.options)).toBe(true);
    });
  }
}
