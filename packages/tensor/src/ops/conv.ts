/**
 * 2-D convolution (PyTorch's conv2d: cross-correlation with stride, padding, dilation and groups)
 * and its two backward passes, each one native kernel on every device: on CUDA through cuDNN where
 * it is installed (else im2col and the CUDA matrix product), on the CPU through im2col and the CPU
 * matrix product (native/cpu/conv.cc, native/cuda/conv.cu; the kernels' contract is
 * native/include/kiln/math/conv.h). This file validates the arguments and computes the shapes
 * before any allocation, and records the ops for autograd: the backward passes are ops of their
 * own, so second derivatives work (packages/autograd/src/derivatives/nn.ts).
 */
import type { DType } from '../dtype.js';
import { DTypeError, ShapeError, ValueError } from '../errors.js';
import { commonDevice, declareOp, empty, launchKernel, needsRecording, recordOp } from '../dispatch.js';
import { type Shape, fmtShape } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { matmulPrecisionCode } from './precision.js';
import { withAutocast } from '../autocast.js';
import { sum } from './reduce.js';
import { pad } from './pad.js';
import { type Size2, checkOptionKeys } from '../check.js';
import { type Window, checkFloating, checkImage, convOutput, windowOf } from './window.js';

// Autograd calls the backward passes with the forward's dtypes: in an autocast scope, bfloat16 in
// and out, as cuDNN's half-precision kernels; the recorded casts bring the gradients to float32.
const conv2dOp = declareOp('conv2d', ['input', 'weight', 'bias'], { autocast: 'lower' });
const conv2dBackwardInputOp = declareOp('conv2d_backward_input', ['grad_output', 'weight'], { autocast: 'lower' });
const conv2dBackwardWeightOp = declareOp('conv2d_backward_weight', ['grad_output', 'input'], { autocast: 'lower' });

/** Options of {@link conv2d}: each size is one number or an [h, w] pair. */
export interface Conv2dOptions {
  /** Step of the window (default 1). */
  stride?: Size2;
  /**
   * Zeros added on each side of the input (default 0); or 'valid' (none) or 'same' (the output has
   * the input's size: stride 1 only; where the kernel's reach dilation·(k - 1) is odd, the extra
   * zero goes after, on the right and bottom, as PyTorch's).
   */
  padding?: Size2 | 'same' | 'valid';
  /** Spacing between the kernel's taps (default 1). */
  dilation?: Size2;
  /** Number of channel groups; in and out channels must divide by it (default 1). */
  groups?: number;
}

/** Conv2d options resolved to pairs (the attrs recorded with 'conv2d'). */
export interface Conv2dAttrs {
  /** [h, w] step of the window. */
  stride: [number, number];
  /** [h, w] zeros added on each side. */
  padding: [number, number];
  /** [h, w] spacing between the kernel's taps. */
  dilation: [number, number];
  /** Number of channel groups. */
  groups: number;
}

/**
 * @internal Where cuDNN is not used, the CUDA convolution kernels run im2col, whose columns hold
 * C kh kw OH OW values per image: a large batch is processed in chunks whose columns stay under
 * `columnBudget` elements (512 MiB in float32). Tests lower it to exercise the chunked path. (The
 * CPU's kernels never form the columns and ignore it.)
 */
export const nnTuning = { columnBudget: 2 ** 27 };

function resolveConv(op: string, opts: Conv2dOptions | undefined, kernel: readonly number[]): { w: Window; groups: number } {
  checkOptionKeys(op, opts, { stride: true, padding: true, dilation: true, groups: true });
  const groups = opts?.groups ?? 1;
  if (!Number.isInteger(groups) || groups < 1) throw new ValueError(op, 'groups', 'a positive integer', String(groups));
  const padding = opts?.padding ?? 0;
  if (typeof padding === 'string') throw new ValueError(op, 'padding', "sizes (conv2d alone takes 'same' or 'valid')", JSON.stringify(padding));
  const w = windowOf(op, [kernel[0], kernel[1]], opts?.stride ?? 1, padding, opts?.dilation ?? 1);
  return { w, groups };
}

/** Validates weight [O, C/groups, kh, kw] against an input of C channels; returns O. */
function checkWeight(op: string, weight: Tensor, channels: number, groups: number): number {
  checkFloating(op, 'weight', weight);
  if (weight.ndim !== 4) throw new ShapeError(op, 'weight', '4 dimensions [out, in/groups, kh, kw]', fmtShape(weight.shape));
  const [o, cg, kh, kw] = weight.shape as [number, number, number, number];
  if (kh < 1 || kw < 1) throw new ShapeError(op, 'weight', 'a kernel of at least 1x1', fmtShape(weight.shape));
  if (channels % groups !== 0) throw new ShapeError(op, 'input', `a channel count divisible by groups = ${groups}`, `${channels} channels`);
  if (o % groups !== 0) throw new ShapeError(op, 'weight', `an output channel count (dim 0) divisible by groups = ${groups}`, fmtShape(weight.shape));
  if (cg * groups !== channels) {
    throw new ShapeError(op, 'weight', `in/groups = ${channels}/${groups} = ${channels / groups} input channels (dim 1) to match the input's ${channels} channels`, fmtShape(weight.shape));
  }
  return o;
}

function checkSameDType(op: string, names: readonly string[], ts: readonly (Tensor | null | undefined)[]): DType {
  const first = ts[0]!;
  ts.forEach((t, i) => {
    if (t && t.dtype !== first.dtype) throw new DTypeError(op, names[i], `the dtype of '${names[0]}' (${first.dtype})`, t.dtype);
  });
  return first.dtype;
}

/** A shape argument of 4 non-negative integer sizes. */
function checkShape4(op: string, arg: string, shape: Shape, layout: string): void {
  if (shape.length !== 4 || !shape.every((s) => Number.isInteger(s) && s >= 0)) {
    throw new ShapeError(op, arg, `4 non-negative integer sizes ${layout}`, fmtShape(shape));
  }
}

function checkGradOut(op: string, gradOut: Tensor, expected: readonly number[]): void {
  if (gradOut.shape.some((s, i) => s !== expected[i])) {
    throw new ShapeError(op, 'grad_output', `shape ${fmtShape(expected)} (conv2d's output)`, fmtShape(gradOut.shape));
  }
}

/** The kernels' attributes: [sh, sw, ph, pw, dh, dw, groups, precision, column budget]. */
function kernelAttrs(w: Window, groups: number): number[] {
  return [w.stride[0], w.stride[1], w.padding[0], w.padding[1], w.dilation[0], w.dilation[1], groups, matmulPrecisionCode(), nnTuning.columnBudget];
}

function recordedAttrs(w: Window, groups: number): Conv2dAttrs {
  return { stride: w.stride, padding: w.padding, dilation: w.dilation, groups };
}

/**
 * 2-D convolution (cross-correlation, as PyTorch's conv2d) of x [N, C, H, W] with weight
 * [O, C/groups, kh, kw] and an optional bias [O]: out [N, O, OH, OW], with
 * OH = floor((H + 2 padding - dilation (kh - 1) - 1) / stride) + 1 (likewise OW). Recorded as one
 * 'conv2d' op (attrs {stride, padding, dilation, groups}) whose derivative uses
 * {@link conv2dBackwardInput}, {@link conv2dBackwardWeight} and {@link conv2dBackwardBias}.
 *
 * @example
 * ```ts
 * const x = randn([8, 3, 32, 32]);
 * const w = randn([16, 3, 3, 3]);
 * const y = conv2d(x, w, null, { padding: 1 });   // [8, 16, 32, 32]
 * const z = conv2d(y, randn([16, 4, 3, 3]), randn([16]), { stride: 2, groups: 4 });   // [8, 16, 15, 15]
 * ```
 */
export const conv2d = withAutocast(conv2dOp, function conv2d(x: Tensor, weight: Tensor, bias?: Tensor | null, opts?: Conv2dOptions): Tensor {
  const op = 'conv2d';
  if (typeof opts?.padding === 'string') return convPaddedBy(opts.padding, x, weight, bias, opts);
  checkImage(op, 'input', x);
  commonDevice(op, ['input', 'weight', 'bias'], [x, weight, bias]);
  const { w, groups } = resolveConv(op, opts, weight.ndim === 4 ? weight.shape.slice(2) : [1, 1]);
  const [n, c] = x.shape as [number, number];
  const o = checkWeight(op, weight, c, groups);
  if (bias) {
    checkFloating(op, 'bias', bias);
    if (bias.ndim !== 1 || bias.shape[0] !== o) throw new ShapeError(op, 'bias', `shape [${o}] (the weight's output channels)`, fmtShape(bias.shape));
  }
  checkSameDType(op, ['input', 'weight', 'bias'], [x, weight, bias]);
  const [oh, ow] = convOutput(op, 'input', x.shape.slice(2), w);
  const out = empty([n, o, oh, ow], x.dtype, x.device);
  if (out.numel > 0) launchKernel(op, bias ? [x, weight, bias] : [x, weight], [out], kernelAttrs(w, groups));
  return recordOp(conv2dOp, [x, weight, bias ?? null], [out], { ...recordedAttrs(w, groups) });
});

/**
 * conv2d with padding 'valid' (none) or 'same': the kernel's reach r = dilation·(k - 1) per dim,
 * r / 2 zeros on each side when r is even; when r is odd the input is first padded by one zero
 * after (right, bottom), then r // 2 on each side (PyTorch's rule).
 */
function convPaddedBy(mode: string, x: Tensor, weight: Tensor, bias: Tensor | null | undefined, opts: Conv2dOptions): Tensor {
  const op = 'conv2d';
  if (mode === 'valid') return conv2d(x, weight, bias, { ...opts, padding: 0 });
  if (mode !== 'same') throw new ValueError(op, 'padding', "a size, a pair, 'same' or 'valid'", JSON.stringify(mode));
  if (weight.ndim !== 4) throw new ShapeError(op, 'weight', '4 dimensions [out, in/groups, kh, kw]', fmtShape(weight.shape));
  const w = windowOf(op, [weight.shape[2], weight.shape[3]], opts.stride ?? 1, 0, opts.dilation ?? 1);
  if (w.stride[0] !== 1 || w.stride[1] !== 1) {
    throw new ValueError(op, 'padding', "'same' with stride 1 only (as PyTorch: a strided output cannot keep the input's size)", `'same' with stride ${fmtShape(w.stride)}`);
  }
  const reach = [w.dilation[0] * (w.kernel[0] - 1), w.dilation[1] * (w.kernel[1] - 1)];
  const symmetric: [number, number] = [Math.floor(reach[0] / 2), Math.floor(reach[1] / 2)];
  if (reach[0] % 2 === 0 && reach[1] % 2 === 0) return conv2d(x, weight, bias, { ...opts, padding: symmetric });
  const padded = pad(x, [0, reach[1] % 2, 0, reach[0] % 2]);
  const y = conv2d(padded, weight, bias, { ...opts, padding: symmetric });
  if (!needsRecording([x])) padded.dispose();
  return y;
}

function convOptsFor(op: string, opts: Conv2dOptions | undefined, weightShape: readonly number[]): { w: Window; groups: number } {
  if (weightShape.length !== 4) throw new ShapeError(op, 'weight', '4 dimensions [out, in/groups, kh, kw]', fmtShape(weightShape));
  return resolveConv(op, opts, weightShape.slice(2));
}

/**
 * Gradient of conv2d with respect to its input [N, C, H, W] (`inputShape`), from the gradient of
 * its output and its weight: the transposed convolution of gradOut. Recorded as the op
 * 'conv2d_backward_input' (so it has derivatives itself).
 *
 * @example
 * ```ts
 * const x = randn([2, 3, 8, 8]), w = randn([4, 3, 3, 3]);
 * const g = onesLike(conv2d(x, w, null, { padding: 1 }));
 * const gx = conv2dBackwardInput(g, w, x.shape, { padding: 1 });   // [2, 3, 8, 8]
 * ```
 */
export const conv2dBackwardInput = withAutocast(conv2dBackwardInputOp, function conv2dBackwardInput(gradOut: Tensor, weight: Tensor, inputShape: Shape, opts?: Conv2dOptions): Tensor {
  const op = 'conv2d_backward_input';
  checkImage(op, 'grad_output', gradOut);
  commonDevice(op, ['grad_output', 'weight'], [gradOut, weight]);
  checkShape4(op, 'inputShape', inputShape, '[N, C, H, W]');
  const { w, groups } = convOptsFor(op, opts, weight.shape);
  const [n, c, h, wd] = inputShape as [number, number, number, number];
  const o = checkWeight(op, weight, c, groups);
  checkSameDType(op, ['grad_output', 'weight'], [gradOut, weight]);
  const [oh, ow] = convOutput(op, 'inputShape', [h, wd], w);
  checkGradOut(op, gradOut, [n, o, oh, ow]);
  const gradIn = empty(inputShape, gradOut.dtype, gradOut.device);
  if (gradIn.numel > 0) launchKernel(op, [gradOut, weight], [gradIn], kernelAttrs(w, groups));
  return recordOp(conv2dBackwardInputOp, [gradOut, weight], [gradIn], { ...recordedAttrs(w, groups), inputShape: [...inputShape] });
});

/**
 * Gradient of conv2d with respect to its weight (`weightShape` [O, C/groups, kh, kw]), from the
 * gradient of its output and its input: the sum over images and positions of gradOut times the
 * input's windows. Recorded as the op 'conv2d_backward_weight'.
 *
 * @example
 * ```ts
 * const x = randn([2, 3, 8, 8]), w = randn([4, 3, 3, 3]);
 * const g = onesLike(conv2d(x, w));
 * const gw = conv2dBackwardWeight(g, x, w.shape);   // [4, 3, 3, 3]
 * ```
 */
export const conv2dBackwardWeight = withAutocast(conv2dBackwardWeightOp, function conv2dBackwardWeight(gradOut: Tensor, input: Tensor, weightShape: Shape, opts?: Conv2dOptions): Tensor {
  const op = 'conv2d_backward_weight';
  checkImage(op, 'grad_output', gradOut);
  checkImage(op, 'input', input);
  commonDevice(op, ['grad_output', 'input'], [gradOut, input]);
  checkShape4(op, 'weightShape', weightShape, '[out, in/groups, kh, kw]');
  const { w, groups } = convOptsFor(op, opts, weightShape);
  const [n, c] = input.shape as [number, number];
  const [o, cg, kh, kw] = weightShape as [number, number, number, number];
  if (c % groups !== 0 || o % groups !== 0 || cg * groups !== c || kh < 1 || kw < 1) {
    throw new ShapeError(op, 'weightShape', `[out, in/groups = ${c / groups}, kh, kw] with out divisible by groups = ${groups}`, fmtShape(weightShape));
  }
  checkSameDType(op, ['grad_output', 'input'], [gradOut, input]);
  const [oh, ow] = convOutput(op, 'input', input.shape.slice(2), w);
  checkGradOut(op, gradOut, [n, o, oh, ow]);
  const gradWeight = empty(weightShape, gradOut.dtype, gradOut.device);
  if (gradWeight.numel > 0) launchKernel(op, [gradOut, input], [gradWeight], kernelAttrs(w, groups));
  return recordOp(conv2dBackwardWeightOp, [gradOut, input], [gradWeight], { ...recordedAttrs(w, groups), weightShape: [...weightShape] });
});

/**
 * Gradient of conv2d with respect to its bias: gradOut summed over batch and positions.
 *
 * @example
 * ```ts
 * const gb = conv2dBackwardBias(randn([2, 4, 8, 8]));   // [4]
 * ```
 */
export function conv2dBackwardBias(gradOut: Tensor): Tensor {
  checkImage('conv2d_backward_bias', 'grad_output', gradOut);
  return sum(gradOut, [0, 2, 3]);
}
