/**
 * Neural-network ops on NCHW images: im2col / col2im (PyTorch's unfold / fold), max pooling and
 * nearest upsampling, with the backward kernels autograd's derivatives call (conv2d is in
 * ops/conv.ts). The index math is native (native/include/kiln/math/nn.h, shared by the CPU and CUDA
 * kernels); this file validates arguments, works out output shapes and dispatches.
 *
 * Every op takes floating tensors (float16 / bfloat16 are computed in float32 inside the kernels)
 * and strided inputs; outputs are new contiguous tensors.
 */
import { type Size2, checkBoolean, checkOptionKeys, describeValue, sizePair as pair } from '../check.js';
import { DTypeError, ShapeError, ValueError } from '../errors.js';
import { commonDevice, declareOp, empty, launchKernel, recordOp } from '../dispatch.js';
import { type Shape, fmtShape } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { to } from './convert.js';
import { type Window, attrsOf, checkFloating, checkImage, convOutput, outputTooSmall, untracked, windowAttrs, windowOf } from './window.js';

export type { Window } from './window.js';

const im2colOp = declareOp('im2col', ['input']);
const col2imOp = declareOp('col2im', ['input']);
const maxPool2dOp = declareOp('max_pool2d', ['input']);
const maxPool2dBackwardOp = declareOp('max_pool2d_backward', ['grad_output', 'indices']);
const upsampleOp = declareOp('upsample_nearest2d', ['input']);
const upsampleBackwardOp = declareOp('upsample_nearest2d_backward', ['grad_output']);

// ---- im2col / col2im ---------------------------------------------------------------------

/** im2col without recording: the columns of x for window w, [N, C kh kw, OH OW]. */
function im2colRaw(x: Tensor, w: Window, out: readonly [number, number]): Tensor {
  const [n, c] = x.shape as [number, number];
  const cols = empty([n, c * w.kernel[0] * w.kernel[1], out[0] * out[1]], x.dtype, x.device);
  if (cols.numel > 0) launchKernel('im2col', [x], [cols], windowAttrs(w));
  return cols;
}

/**
 * The sliding-window columns of an image (PyTorch's `unfold`): for x [N, C, H, W] a tensor
 * [N, C kh kw, L] whose column l holds the window at output position l = oh OW + ow, channels
 * outermost then kernel rows then kernel columns; positions in the padding read 0.
 */
export function im2col(x: Tensor, kernelSize: Size2, stride: Size2 = 1, padding: Size2 = 0, dilation: Size2 = 1): Tensor {
  checkImage('im2col', 'input', x);
  const w = windowOf('im2col', kernelSize, stride, padding, dilation);
  const out = convOutput('im2col', 'input', x.shape.slice(2), w);
  return recordOp(im2colOp, [x], [im2colRaw(x, w, out)], { ...attrsOf(w), inputShape: x.shape });
}

/**
 * The adjoint of im2col (PyTorch's `fold`): sums the columns [N, C kh kw, L] back into an image
 * [N, C, H, W] of spatial size `outputSize`, adding the values of overlapping windows.
 */
export function col2im(cols: Tensor, outputSize: Size2, kernelSize: Size2, stride: Size2 = 1, padding: Size2 = 0, dilation: Size2 = 1): Tensor {
  checkFloating('col2im', 'input', cols);
  if (cols.ndim !== 3) throw new ShapeError('col2im', 'input', '3 dimensions [N, C*kh*kw, L]', fmtShape(cols.shape));
  const size = pair('col2im', 'outputSize', outputSize, 1);
  const w = windowOf('col2im', kernelSize, stride, padding, dilation);
  const [n, ckk, l] = cols.shape as [number, number, number];
  const kk = w.kernel[0] * w.kernel[1];
  if (ckk % kk !== 0) {
    throw new ShapeError('col2im', 'input', `a size of dim 1 divisible by kh*kw = ${kk}`, `${fmtShape(cols.shape)}`);
  }
  const [oh, ow] = convOutput('col2im', 'outputSize', size, w);
  if (l !== oh * ow) {
    throw new ShapeError('col2im', 'input', `${oh * ow} columns (dim 2) for outputSize ${fmtShape(size)}: ${oh}x${ow} window positions`, `${fmtShape(cols.shape)}`);
  }
  const image = empty([n, ckk / kk, size[0], size[1]], cols.dtype, cols.device);
  if (image.numel > 0) launchKernel('col2im', [cols], [image], windowAttrs(w));
  return recordOp(col2imOp, [cols], [image], { ...attrsOf(w), outputSize: size });
}

// ---- max pooling -------------------------------------------------------------------------

/** What max pooling with indices returns. */
export interface MaxPool2dResult {
  /** The maximum of each window [N, C, outH, outW]. */
  values: Tensor;
  /** int64 positions h W + w of each window's maximum in its input plane */
  indices: Tensor;
}

/**
 * Pooling output length (PyTorch's pooling_output_shape; the kernels check the same formula,
 * pool_out_size in native/include/kiln/math/nn.h). ceil mode keeps a last partial window when it
 * starts inside the input or the left padding.
 */
function poolOutSize(inSize: number, k: number, s: number, p: number, d: number, ceilMode: boolean): number {
  const span = inSize + 2 * p - d * (k - 1) - 1 + (ceilMode ? s - 1 : 0);
  if (span < 0) return 0;
  let out = Math.floor(span / s) + 1;
  if (ceilMode && (out - 1) * s >= inSize + p) out--;
  return out;
}

/**
 * @internal Max pooling's window checked, errors naming `op` (nn.MaxPool2d checks it when it is
 * made): stride defaults to the kernel size, padding is at most half the kernel (as PyTorch).
 */
export function maxPoolWindow(op: string, kernelSize: Size2, stride: Size2 | null | undefined, padding: Size2, dilation: Size2): Window {
  const w = windowOf(op, kernelSize, stride ?? kernelSize, padding, dilation);
  for (const i of [0, 1]) {
    if (w.padding[i] > w.kernel[i] / 2) {
      throw new ValueError(op, 'padding', `at most half the kernel size (${fmtShape(w.kernel.map((k) => Math.floor(k / 2)))} for a kernel of ${fmtShape(w.kernel)})`, fmtShape(w.padding));
    }
  }
  return w;
}

/**
 * Max pooling over [N, C, H, W] windows, with the argmax positions. As PyTorch: stride defaults to
 * the kernel size, padding is at most half the kernel, padding never wins, NaN propagates.
 */
export function maxPool2dWithIndices(x: Tensor, kernelSize: Size2, stride?: Size2 | null, padding: Size2 = 0, dilation: Size2 = 1, ceilMode = false): MaxPool2dResult {
  const op = 'max_pool2d';
  checkImage(op, 'input', x);
  const w = maxPoolWindow(op, kernelSize, stride, padding, dilation);
  checkBoolean(op, 'ceilMode', ceilMode);
  const hw = x.shape.slice(2);
  const out = [0, 1].map((i) => poolOutSize(hw[i], w.kernel[i], w.stride[i], w.padding[i], w.dilation[i], ceilMode));
  if (out[0] < 1 || out[1] < 1) throw outputTooSmall(op, 'input', hw, w, out);
  const shape = [x.shape[0], x.shape[1], out[0], out[1]];
  const values = empty(shape, x.dtype, x.device);
  const indices = empty(shape, 'int64', x.device);
  if (values.numel > 0) launchKernel('max_pool2d', [x], [values, indices], [...windowAttrs(w), ceilMode ? 1 : 0]);
  recordOp(maxPool2dOp, [x], [values, indices], { ...attrsOf(w), ceilMode, inputShape: x.shape });
  return { values, indices };
}

/** Max pooling: the values of maxPool2dWithIndices (stride defaults to the kernel size). */
export function maxPool2d(x: Tensor, kernelSize: Size2, stride?: Size2 | null, padding: Size2 = 0, dilation: Size2 = 1, ceilMode = false): Tensor {
  return maxPool2dWithIndices(x, kernelSize, stride, padding, dilation, ceilMode).values;
}

/** t in float32 when it is a half type (without recording the cast), else t itself. */
function widened(t: Tensor): Tensor {
  if (t.dtype !== 'float16' && t.dtype !== 'bfloat16') return t;
  const alias = untracked(t);
  const wide = to(alias, 'float32');
  if (alias !== t) alias.dispose();
  return wide;
}

/**
 * Gradient of max pooling with respect to its input [N, C, H, W] (`inputShape`): each gradOut
 * element is added at its window's argmax (`indices` from maxPool2dWithIndices).
 */
export function maxPool2dBackward(gradOut: Tensor, indices: Tensor, inputShape: Shape): Tensor {
  const op = 'max_pool2d_backward';
  checkImage(op, 'grad_output', gradOut);
  indices.assertAlive(op);
  commonDevice(op, ['grad_output', 'indices'], [gradOut, indices]);
  if (indices.dtype !== 'int64') throw new DTypeError(op, 'indices', 'an int64 tensor', indices.dtype);
  if (indices.ndim !== 4 || indices.shape.some((s, i) => s !== gradOut.shape[i])) {
    throw new ShapeError(op, 'indices', `grad_output's shape ${fmtShape(gradOut.shape)}`, fmtShape(indices.shape));
  }
  if (inputShape.length !== 4 || inputShape[0] !== gradOut.shape[0] || inputShape[1] !== gradOut.shape[1] || !inputShape.every((s) => Number.isInteger(s) && s >= 0)) {
    throw new ShapeError(op, 'inputShape', `4 sizes [N, C, H, W] with N, C = ${gradOut.shape[0]}, ${gradOut.shape[1]} (grad_output's)`, fmtShape(inputShape));
  }
  const g = widened(gradOut);
  const gradIn = empty(inputShape, g.dtype, gradOut.device);
  if (gradIn.numel > 0) {
    if (gradOut.numel > 0 && inputShape[2] * inputShape[3] === 0) {
      gradIn.dispose();
      throw new ShapeError(op, 'inputShape', 'a non-empty plane to scatter gradients into', fmtShape(inputShape));
    }
    launchKernel(op, [g, indices], [gradIn]);
  }
  if (g !== gradOut) g.dispose();
  const result = gradIn.dtype === gradOut.dtype ? gradIn : to(gradIn, gradOut.dtype);
  if (result !== gradIn) gradIn.dispose();
  return recordOp(maxPool2dBackwardOp, [gradOut, indices], [result], { inputShape: [...inputShape] });
}

// ---- nearest upsampling ------------------------------------------------------------------

/** Options of nearest-neighbour upsampling: a scale factor or an output size. */
export interface UpsampleOptions {
  /** output = floor(input * scaleFactor) per spatial dim */
  scaleFactor?: number | readonly [number, number];
  /** the output's spatial size */
  size?: Size2;
}

function scalePair(op: string, sf: number | readonly [number, number]): [number, number] {
  const isPair = Array.isArray(sf) && sf.length === 2;
  const p = isPair ? [sf[0], sf[1]] : [sf, sf];
  if ((typeof sf !== 'number' && !isPair) || !p.every((v) => typeof v === 'number' && Number.isFinite(v) && v > 0)) {
    throw new ValueError(op, 'scaleFactor', 'a positive number or a pair of them', describeValue(sf));
  }
  return p as [number, number];
}

/**
 * @internal Upsampling's options checked (exactly one of scaleFactor and size, each valid), with
 * errors naming `op` (nn.Upsample checks them when it is made).
 */
export function upsampleArgs(op: string, opts: UpsampleOptions): { scales: [number, number] | null; size: [number, number] | null } {
  if ((opts.scaleFactor === undefined) === (opts.size === undefined)) {
    throw new ValueError(op, null, 'exactly one of scaleFactor and size', opts.scaleFactor === undefined ? 'neither' : 'both');
  }
  if (opts.scaleFactor !== undefined) return { scales: scalePair(op, opts.scaleFactor), size: null };
  return { scales: null, size: pair(op, 'size', opts.size!, 1) };
}

/**
 * Nearest-neighbour upsampling (PyTorch's mode 'nearest'): output position d reads input position
 * min(floor(d * scale), in - 1) with scale = 1 / scaleFactor when a scale factor is given, in / out
 * otherwise. Give exactly one of scaleFactor and size.
 */
export function upsampleNearest2d(x: Tensor, opts: UpsampleOptions): Tensor {
  checkOptionKeys('upsample_nearest2d', opts, { scaleFactor: true, size: true });
  const op = 'upsample_nearest2d';
  checkImage(op, 'input', x);
  const { scales, size } = upsampleArgs(op, opts);
  const hw = x.shape.slice(2) as [number, number];
  const outHW: [number, number] = scales ? [Math.floor(hw[0] * scales[0]), Math.floor(hw[1] * scales[1])] : size!;
  if (hw[0] < 1 || hw[1] < 1 || outHW[0] < 1 || outHW[1] < 1) {
    throw new ShapeError(op, 'input', 'input and output spatial sizes of at least 1', `input ${fmtShape(hw)}, output ${fmtShape(outHW)}`);
  }
  const out = empty([x.shape[0], x.shape[1], outHW[0], outHW[1]], x.dtype, x.device);
  if (out.numel > 0) launchKernel(op, [x], [out], [scales?.[0] ?? 0, scales?.[1] ?? 0]);
  return recordOp(upsampleOp, [x], [out], { outputSize: outHW, scaleFactor: scales, inputShape: x.shape });
}

/**
 * Gradient of upsampleNearest2d with respect to its input [N, C, H, W] (`inputShape`): each input
 * position sums the gradOut positions that read it. Pass the forward's scaleFactor when it was
 * given (it decides which positions are read); the output size is gradOut's.
 */
export function upsampleNearest2dBackward(gradOut: Tensor, inputShape: Shape, opts: { scaleFactor?: number | readonly [number, number] | null } = {}): Tensor {
  const op = 'upsample_nearest2d_backward';
  checkImage(op, 'grad_output', gradOut);
  if (inputShape.length !== 4 || inputShape[0] !== gradOut.shape[0] || inputShape[1] !== gradOut.shape[1] || !inputShape.every((s) => Number.isInteger(s) && s >= 1)) {
    throw new ShapeError(op, 'inputShape', `4 positive sizes [N, C, H, W] with N, C = ${gradOut.shape[0]}, ${gradOut.shape[1]} (grad_output's)`, fmtShape(inputShape));
  }
  const scales = opts.scaleFactor == null ? null : scalePair(op, opts.scaleFactor);
  if (gradOut.shape[2] < 1 || gradOut.shape[3] < 1) {
    throw new ShapeError(op, 'grad_output', 'an output spatial size of at least 1', fmtShape(gradOut.shape));
  }
  const gradIn = empty(inputShape, gradOut.dtype, gradOut.device);
  if (gradIn.numel > 0) launchKernel(op, [gradOut], [gradIn], [scales?.[0] ?? 0, scales?.[1] ?? 0]);
  return recordOp(upsampleBackwardOp, [gradOut], [gradIn], { inputShape: [...inputShape], scaleFactor: scales, outputSize: gradOut.shape.slice(2) });
}
