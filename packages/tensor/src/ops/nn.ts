/**
 * Neural-network ops on NCHW images: im2col / col2im, conv2d (composed from im2col and matmul),
 * max pooling and nearest upsampling, with the backward kernels autograd's derivatives call.
 * The index math is native (native/include/kiln/math/nn.h, shared by the CPU and CUDA kernels);
 * this file validates arguments, works out output shapes and dispatches.
 *
 * Every op takes floating tensors (float16 / bfloat16 are computed in float32 inside the kernels)
 * and strided inputs; outputs are new contiguous tensors.
 */
import { type Size2, describeValue, sizePair as pair } from '../check.js';
import { type DType, isFloating } from '../dtype.js';
import { DTypeError, ShapeError, ValueError } from '../errors.js';
import { commonDevice, declareOp, empty, launchKernel, needsRecording, recordOp } from '../dispatch.js';
import { type Shape, contiguousStrides, fmtShape } from '../shape.js';
import { Tensor } from '../tensor.js';
import { to } from './convert.js';
import { add } from './elementwise.js';
import { cat } from './join.js';
import { matmul } from './matmul.js';
import { sum } from './reduce.js';
import { makeView } from './views.js';

const im2colOp = declareOp('im2col', ['input']);
const col2imOp = declareOp('col2im', ['input']);
const conv2dOp = declareOp('conv2d', ['input', 'weight', 'bias']);
const maxPool2dOp = declareOp('max_pool2d', ['input']);
const maxPool2dBackwardOp = declareOp('max_pool2d_backward', ['grad_output', 'indices']);
const upsampleOp = declareOp('upsample_nearest2d', ['input']);
const upsampleBackwardOp = declareOp('upsample_nearest2d_backward', ['grad_output']);

// ---- argument checks ---------------------------------------------------------------------

function checkFloating(op: string, arg: string, t: Tensor): void {
  t.assertAlive(op);
  if (!isFloating(t.dtype)) throw new DTypeError(op, arg, 'a floating-point tensor', t.dtype);
}

function checkImage(op: string, arg: string, t: Tensor, layout = '[N, C, H, W]'): void {
  checkFloating(op, arg, t);
  if (t.ndim !== 4) throw new ShapeError(op, arg, `4 dimensions ${layout}`, fmtShape(t.shape));
}

/** @internal The geometry of a sliding window, as the kernels read it: [kh, kw, sh, sw, ph, pw, dh, dw]. */
export interface Window {
  kernel: [number, number];
  stride: [number, number];
  padding: [number, number];
  dilation: [number, number];
}

function windowOf(op: string, kernel: Size2, stride: Size2, padding: Size2, dilation: Size2): Window {
  return {
    kernel: pair(op, 'kernelSize', kernel, 1),
    stride: pair(op, 'stride', stride, 1),
    padding: pair(op, 'padding', padding, 0),
    dilation: pair(op, 'dilation', dilation, 1),
  };
}

function windowAttrs(w: Window): number[] {
  return [w.kernel[0], w.kernel[1], w.stride[0], w.stride[1], w.padding[0], w.padding[1], w.dilation[0], w.dilation[1]];
}

/**
 * Convolution output length: floor((in + 2 pad - dilation (kernel - 1) - 1) / stride) + 1 (the same
 * formula as conv_out_size in native/include/kiln/math/nn.h, which the kernels check against).
 */
function convOutSize(inSize: number, k: number, s: number, p: number, d: number): number {
  const span = inSize + 2 * p - d * (k - 1) - 1;
  return span < 0 ? 0 : Math.floor(span / s) + 1;
}

/** Output [OH, OW] of a window over an image, or a ShapeError when it would be empty. */
function convOutput(op: string, arg: string, hw: readonly number[], w: Window): [number, number] {
  const oh = convOutSize(hw[0]!, w.kernel[0], w.stride[0], w.padding[0], w.dilation[0]);
  const ow = convOutSize(hw[1]!, w.kernel[1], w.stride[1], w.padding[1], w.dilation[1]);
  if (oh < 1 || ow < 1) throw outputTooSmall(op, arg, hw, w, [oh, ow]);
  return [oh, ow];
}

function outputTooSmall(op: string, arg: string, hw: readonly number[], w: Window, out: readonly number[]): ShapeError {
  const eff = [0, 1].map((i) => w.dilation[i]! * (w.kernel[i]! - 1) + 1);
  const padded = [0, 1].map((i) => hw[i]! + 2 * w.padding[i]!);
  return new ShapeError(op, arg,
    `a spatial size whose padded size ${fmtShape(padded)} holds the dilated kernel ${fmtShape(eff)} (output size would be ${fmtShape(out)}, must be at least 1)`,
    `spatial size ${fmtShape(hw)}`);
}

function attrsOf(w: Window): Record<string, unknown> {
  return { kernelSize: w.kernel, stride: w.stride, padding: w.padding, dilation: w.dilation };
}

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

// ---- conv2d ------------------------------------------------------------------------------

/** Options of {@link conv2d}: each size is one number or an [h, w] pair. */
export interface Conv2dOptions {
  /** Step of the window (default 1). */
  stride?: Size2;
  /** Zeros added on each side of the input (default 0). */
  padding?: Size2;
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

function resolveConv(op: string, opts: Conv2dOptions | undefined, kernel: readonly number[]): { w: Window; groups: number } {
  const groups = opts?.groups ?? 1;
  if (!Number.isInteger(groups) || groups < 1) throw new ValueError(op, 'groups', 'a positive integer', String(groups));
  const w = windowOf(op, [kernel[0]!, kernel[1]!], opts?.stride ?? 1, opts?.padding ?? 0, opts?.dilation ?? 1);
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
    if (t && t.dtype !== first.dtype) throw new DTypeError(op, names[i]!, `the dtype of '${names[0]}' (${first.dtype})`, t.dtype);
  });
  return first.dtype;
}

/** An alias of t that does not require grad: ops on it are not recorded. */
function untracked(t: Tensor): Tensor {
  return t.requiresGrad ? makeView(t, t.shape, t.strides, t.offset) : t;
}

/**
 * The elements of `t` (a fresh, unrecorded result) in another shape, as a tensor of its own rather
 * than a view, so the result has no disposed base. Consumes t.
 */
function ownReshape(t: Tensor, shape: Shape): Tensor {
  const c = t.isContiguous ? t : to(t, { dtype: t.dtype, copy: true });
  const r = new Tensor(c.storage, [...shape], contiguousStrides(shape), c.offset, c.dtype);
  if (c !== t) c.dispose();
  t.dispose();
  return r;
}

/**
 * Disposes the intermediate tensors `ts` except those in `keep` (the caller's arguments and its
 * result). Nothing is disposed while the computation is being recorded: autograd may have saved
 * intermediates for a higher-order backward.
 */
function release(recorded: boolean, ts: readonly Tensor[], ...keep: readonly (Tensor | null | undefined)[]): void {
  if (recorded) return;
  for (const t of new Set(ts)) if (!keep.includes(t)) t.dispose();
}

/**
 * @internal im2col's columns hold C kh kw L values per image: a large batch is processed in chunks
 * so that the columns of one chunk stay under `columnBudget` elements (512 MiB in float32). Tests
 * lower it to exercise the chunked path.
 */
export const nnTuning = { columnBudget: 2 ** 27 };

/** [start, length] chunks of a batch of n images of `perImage` column elements each. */
function batchChunks(n: number, perImage: number): [number, number][] {
  const size = Math.max(1, Math.floor(nnTuning.columnBudget / Math.max(1, perImage)));
  const chunks: [number, number][] = [];
  for (let s = 0; s < n; s += size) chunks.push([s, Math.min(size, n - s)]);
  return chunks.length > 0 ? chunks : [[0, 0]];
}

/** t[start : start + length] along dim 0 (t itself for the whole batch). */
function batchSlice(t: Tensor, [start, length]: [number, number]): Tensor {
  return start === 0 && length === t.shape[0] ? t : t.narrow(0, start, length);
}

/** Joins per-chunk results along dim 0 (disposing the parts when not recorded). */
function joinChunks(parts: Tensor[], recorded: boolean): Tensor {
  if (parts.length === 1) return parts[0]!;
  const joined = cat(parts, 0);
  release(recorded, parts, joined);
  return joined;
}

/**
 * 2-D convolution (cross-correlation, as PyTorch's conv2d) of x [N, C, H, W] with weight
 * [O, C/groups, kh, kw] and an optional bias [O]: out [N, O, OH, OW]. Computed as one batched
 * matmul of the weight [groups, O/groups, C/groups kh kw] with im2col's columns; recorded as a
 * single 'conv2d' op (attrs {stride, padding, dilation, groups}) whose derivative uses
 * conv2dBackwardInput, conv2dBackwardWeight and conv2dBackwardBias.
 */
export function conv2d(x: Tensor, weight: Tensor, bias?: Tensor | null, opts?: Conv2dOptions): Tensor {
  const op = 'conv2d';
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

  // Nothing below is recorded: it runs on aliases that do not require grad.
  // out[n, g] = W[g] @ cols[n, g]: weight [1, g, O/g, K] against columns [n, g, K, L], K = C/g kh kw.
  const k = (c / groups) * w.kernel[0] * w.kernel[1], l = oh * ow;
  const temps: Tensor[] = [];
  const keep = <T extends Tensor>(t: T): T => (temps.push(t), t);
  const xs = keep(untracked(x));
  const wt = keep(keep(keep(untracked(weight)).contiguous()).view([1, groups, o / groups, k]));
  const parts = batchChunks(n, c * w.kernel[0] * w.kernel[1] * l).map((chunk) => {
    const part = keep(batchSlice(xs, chunk));
    const cols = keep(im2colRaw(part, w, [oh, ow]));
    return ownReshape(matmul(wt, keep(cols.view([chunk[1], groups, k, l]))), [chunk[1], o, oh, ow]);
  });
  let out = joinChunks(parts, false);
  if (bias) out = add(keep(out), keep(keep(untracked(bias)).view([1, o, 1, 1])));
  release(false, temps, out, x, weight, bias);
  const attrs: Conv2dAttrs = { stride: w.stride, padding: w.padding, dilation: w.dilation, groups };
  return recordOp(conv2dOp, [x, weight, bias ?? null], [out], { ...attrs });
}

function convOptsFor(op: string, opts: Conv2dOptions | undefined, weightShape: readonly number[]): { w: Window; groups: number } {
  if (weightShape.length !== 4) throw new ShapeError(op, 'weight', '4 dimensions [out, in/groups, kh, kw]', fmtShape(weightShape));
  return resolveConv(op, opts, weightShape.slice(2));
}

function checkGradOut(op: string, gradOut: Tensor, expected: readonly number[]): void {
  if (gradOut.shape.some((s, i) => s !== expected[i])) {
    throw new ShapeError(op, 'grad_output', `shape ${fmtShape(expected)} (conv2d's output)`, fmtShape(gradOut.shape));
  }
}

/**
 * Gradient of conv2d with respect to its input [N, C, H, W] (`inputShape`): the columns
 * Wᵀ[g] @ gradOut[n, g] folded back into an image by col2im. Composed from recorded ops
 * (matmul, col2im), so it is itself differentiable when autograd records it.
 */
export function conv2dBackwardInput(gradOut: Tensor, weight: Tensor, inputShape: Shape, opts?: Conv2dOptions): Tensor {
  const op = 'conv2d_backward_input';
  checkImage(op, 'grad_output', gradOut);
  commonDevice(op, ['grad_output', 'weight'], [gradOut, weight]);
  if (inputShape.length !== 4) throw new ShapeError(op, 'inputShape', '4 dimensions [N, C, H, W]', fmtShape(inputShape));
  const { w, groups } = convOptsFor(op, opts, weight.shape);
  const [n, c, h, wd] = inputShape as [number, number, number, number];
  const o = checkWeight(op, weight, c, groups);
  const [oh, ow] = convOutput(op, 'inputShape', [h, wd], w);
  checkGradOut(op, gradOut, [n, o, oh, ow]);
  const recorded = needsRecording([gradOut, weight]);
  const k = (c / groups) * w.kernel[0] * w.kernel[1], l = oh * ow;
  const temps: Tensor[] = [];
  const keep = <T extends Tensor>(t: T): T => (temps.push(t), t);
  // [1, g, K, O/g] @ [n, g, O/g, L] -> [n, g, K, L] -> col2im. Contiguous copies are made
  // explicitly (gradients often arrive expanded) so that they are released with the temporaries.
  const wT = keep(keep(keep(weight.contiguous()).view([1, groups, o / groups, k])).transpose(2, 3));
  const gout = keep(gradOut.contiguous());
  const parts = batchChunks(n, c * w.kernel[0] * w.kernel[1] * l).map((chunk) => {
    const go = keep(keep(batchSlice(gout, chunk)).view([chunk[1], groups, o / groups, l]));
    const gcols = keep(matmul(wT, go));
    return col2im(keep(gcols.reshape([chunk[1], c * w.kernel[0] * w.kernel[1], l])), [h, wd], w.kernel, w.stride, w.padding, w.dilation);
  });
  const result = joinChunks(parts, recorded);
  release(recorded, temps, result, gradOut, weight);
  return result;
}

/**
 * Gradient of conv2d with respect to its weight (`weightShape` [O, C/groups, kh, kw]):
 * sum over n of gradOut[n, g] @ cols[n, g]ᵀ, done as one matmul per group with the batch folded
 * into the inner dimension: [g, O/g, n L] @ [g, n L, K]. Composed from recorded ops.
 */
export function conv2dBackwardWeight(gradOut: Tensor, input: Tensor, weightShape: Shape, opts?: Conv2dOptions): Tensor {
  const op = 'conv2d_backward_weight';
  checkImage(op, 'grad_output', gradOut);
  checkImage(op, 'input', input);
  commonDevice(op, ['grad_output', 'input'], [gradOut, input]);
  const { w, groups } = convOptsFor(op, opts, weightShape);
  const [n, c] = input.shape as [number, number];
  const [o, cg] = weightShape as [number, number];
  if (c % groups !== 0 || o % groups !== 0 || cg * groups !== c) {
    throw new ShapeError(op, 'weightShape', `[out, in/groups = ${c / groups}, kh, kw] with out divisible by groups = ${groups}`, fmtShape(weightShape));
  }
  const [oh, ow] = convOutput(op, 'input', input.shape.slice(2), w);
  checkGradOut(op, gradOut, [n, o, oh, ow]);
  const recorded = needsRecording([gradOut, input]);
  const k = cg * w.kernel[0] * w.kernel[1], l = oh * ow;
  const temps: Tensor[] = [];
  const keep = <T extends Tensor>(t: T): T => (temps.push(t), t);
  let gw: Tensor | null = null;
  const gout = keep(gradOut.contiguous());
  for (const chunk of batchChunks(n, c * w.kernel[0] * w.kernel[1] * l)) {
    const m = chunk[1];
    const cols = keep(im2col(keep(batchSlice(input, chunk)), w.kernel, w.stride, w.padding, w.dilation));
    // gradOut [m, O, OH, OW] -> [g, O/g, m L];  cols [m, g K, L] -> [g, m L, K]
    // (contiguous() explicitly, so that the copies are released with the other temporaries)
    const go = keep(keep(keep(keep(keep(batchSlice(gout, chunk)).view([m, groups, o / groups, l])).permute(1, 2, 0, 3)).contiguous()).view([groups, o / groups, m * l]));
    const colsT = keep(keep(keep(keep(cols.reshape([m, groups, k, l])).permute(1, 0, 3, 2)).contiguous()).view([groups, m * l, k]));
    const part = matmul(go, colsT);
    gw = gw === null ? part : add(keep(gw), keep(part));
  }
  const result = recorded ? gw!.reshape([...weightShape]) : ownReshape(gw!, weightShape);
  release(recorded, temps, result, gradOut, input);
  return result;
}

/** Gradient of conv2d with respect to its bias: gradOut summed over batch and positions. */
export function conv2dBackwardBias(gradOut: Tensor): Tensor {
  checkImage('conv2d_backward_bias', 'grad_output', gradOut);
  return sum(gradOut, [0, 2, 3]);
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
    if (w.padding[i]! > w.kernel[i]! / 2) {
      throw new ValueError(op, 'padding', `at most half the kernel size ${fmtShape(w.kernel)}`, fmtShape(w.padding));
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
  const hw = x.shape.slice(2);
  const out = [0, 1].map((i) => poolOutSize(hw[i]!, w.kernel[i]!, w.stride[i]!, w.padding[i]!, w.dilation[i]!, ceilMode));
  if (out[0]! < 1 || out[1]! < 1) throw outputTooSmall(op, 'input', hw, w, out);
  const shape = [x.shape[0]!, x.shape[1]!, out[0]!, out[1]!];
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
    if (gradOut.numel > 0 && inputShape[2]! * inputShape[3]! === 0) {
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
  const op = 'upsample_nearest2d';
  checkImage(op, 'input', x);
  const { scales, size } = upsampleArgs(op, opts);
  const hw = x.shape.slice(2) as [number, number];
  const outHW: [number, number] = scales ? [Math.floor(hw[0] * scales[0]), Math.floor(hw[1] * scales[1])] : size!;
  if (hw[0] < 1 || hw[1] < 1 || outHW[0] < 1 || outHW[1] < 1) {
    throw new ShapeError(op, 'input', 'input and output spatial sizes of at least 1', `input ${fmtShape(hw)}, output ${fmtShape(outHW)}`);
  }
  const out = empty([x.shape[0]!, x.shape[1]!, outHW[0], outHW[1]], x.dtype, x.device);
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
  if (gradOut.shape[2]! < 1 || gradOut.shape[3]! < 1) {
    throw new ShapeError(op, 'grad_output', 'an output spatial size of at least 1', fmtShape(gradOut.shape));
  }
  const gradIn = empty(inputShape, gradOut.dtype, gradOut.device);
  if (gradIn.numel > 0) launchKernel(op, [gradOut], [gradIn], [scales?.[0] ?? 0, scales?.[1] ?? 0]);
  return recordOp(upsampleBackwardOp, [gradOut], [gradIn], { inputShape: [...inputShape], scaleFactor: scales, outputSize: gradOut.shape.slice(2) });
}
