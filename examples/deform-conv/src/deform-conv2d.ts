/**
 * The modulated deformable convolution (DCNv2), composed as Kiln composes conv2d: the deformable
 * columns of the extension's kernel times the weight, one batched matmul per group, plus the bias.
 * Autograd differentiates the matmul and bias with Kiln's own derivatives and the columns with the
 * extension's backward kernels.
 */
import {
  DTypeError, ShapeError, type Size2, type Tensor, cat, checkInt, commonDevice, fmtShape, needsRecording, ones,
} from '@kiln/tensor';
import { DeformIm2colFunction, type DeformWindow, checkDeformArgs, checkImage, outSize, windowOf } from './deform-im2col.js';

/** Options of {@link deformConv2d}, as torchvision.ops.deform_conv2d's arguments. */
export interface DeformConv2dOptions {
  /** Bias [C_out], added to every output position. */
  bias?: Tensor | null;
  /**
   * Modulation masks [N, G kh kw, OH, OW] (DCNv2), one per offset group, tap and output position;
   * absent: every mask is 1 (DCNv1).
   */
  mask?: Tensor | null;
  /** Stride of the window (default 1). */
  stride?: Size2;
  /** Zero padding on each side (default 0). */
  padding?: Size2;
  /** Spacing of the kernel's taps (default 1). */
  dilation?: Size2;
  /**
   * Images whose columns are computed at once, as mmcv's im2col_step: the columns hold
   * C_in kh kw OH OW values per image. Default: as many as fit in 2^27 values (512 MiB of float32).
   */
  im2colStep?: number;
}

/** The default column budget of a chunk of images, in elements. */
const COLUMN_BUDGET = 2 ** 27;

/**
 * Modulated deformable 2-D convolution (DCNv2, Zhu et al. 2019), as torchvision.ops.deform_conv2d:
 * input [N, C_in, H, W], offset [N, 2 G kh kw, OH, OW] (for each of G offset groups, tap and
 * output position, the (dy, dx) by which the tap's sampling point moves), weight
 * [C_out, C_in / groups, kh, kw], and optionally a mask [N, G kh kw, OH, OW] scaling each sample and
 * a bias [C_out]. Samples fall between pixels and are read by bilinear interpolation, zero outside
 * the image. Returns [N, C_out, OH, OW]. float32 and float64, on every device the extension has
 * kernels for; differentiable in every tensor argument (once).
 *
 * @example
 * ```ts
 * const x = randn([2, 8, 16, 16]), weight = randn([16, 8, 3, 3]).mul(0.1);
 * const offset = randn([2, 18, 16, 16]).mul(0.5), mask = rand([2, 9, 16, 16]);
 * const y = deformConv2d(x, offset, weight, { mask, padding: 1 });   // [2, 16, 16, 16]
 * ```
 */
export function deformConv2d(input: Tensor, offset: Tensor, weight: Tensor, options: DeformConv2dOptions = {}): Tensor {
  const op = 'deform_conv2d';
  checkImage(op, 'input', input, '[N, C_in, H, W]');
  checkImage(op, 'weight', weight, '[C_out, C_in / groups, kh, kw]');
  const { bias = null, stride = 1, padding = 0, dilation = 1 } = options;
  const dev = commonDevice(op, ['input', 'offset', 'weight', 'bias', 'mask'], [input, offset, weight, bias, options.mask]);
  const [n, cin, h, w] = input.shape as [number, number, number, number];
  const [cout, cinPerGroup, kh, kw] = weight.shape as [number, number, number, number];
  if (weight.dtype !== input.dtype) throw new DTypeError(op, 'weight', `${input.dtype} (the input's dtype)`, weight.dtype);
  const groups = cinPerGroup > 0 ? cin / cinPerGroup : NaN;
  if (!Number.isInteger(groups) || groups < 1 || cout % groups !== 0) {
    throw new ShapeError(op, 'weight', `[C_out, C_in / groups, kh, kw] with groups dividing C_in = ${cin} and C_out`, fmtShape(weight.shape));
  }
  if (bias !== null) {
    bias.assertAlive(op);
    if (bias.dtype !== input.dtype) throw new DTypeError(op, 'bias', `${input.dtype} (the input's dtype)`, bias.dtype);
    if (bias.ndim !== 1 || bias.shape[0] !== cout) throw new ShapeError(op, 'bias', `shape [${cout}] (the weight's output channels)`, fmtShape(bias.shape));
  }
  const window: DeformWindow = windowOf(op, { kernelSize: [kh, kw], stride, padding, dilation });
  const step = options.im2colStep === undefined ? undefined : checkInt(op, 'im2colStep', options.im2colStep, 1);
  const outH = outSize(h, kh, window.stride[0], window.padding[0], window.dilation[0]);
  const outW = outSize(w, kw, window.stride[1], window.padding[1], window.dilation[1]);
  // without a mask every sample counts fully: a broadcast view of one 1, no memory per position
  const offsetGroups = offset.ndim === 4 && kh * kw > 0 ? offset.shape[1] / (2 * kh * kw) : 1;
  const temps: Tensor[] = [];
  const temp = <T extends Tensor>(t: T): T => (temps.push(t), t);
  const mask = options.mask ?? temp(temp(ones([1, 1, 1, 1], { dtype: input.dtype, device: dev })).expand([n, Math.max(1, offsetGroups) * kh * kw, outH, outW]));
  try {
    checkDeformArgs(op, input, offset, mask, window);
  } catch (e) {
    for (const t of temps) t.dispose();
    throw e;
  }

  const recorded = needsRecording([input, offset, mask, weight, bias]);
  // out[n, g] = W[g] @ columns[n, g]: weight [1, groups, C_out / groups, K] against columns
  // [n, groups, K, L], K = C_in / groups kh kw, L = OH OW
  const k = cinPerGroup * kh * kw, l = outH * outW;
  const wg = temp(weight.reshape([1, groups, cout / groups, k]));
  const perImage = cin * kh * kw * l;
  const chunk = step ?? Math.max(1, Math.floor(COLUMN_BUDGET / Math.max(1, perImage)));
  const parts: Tensor[] = [];
  for (let start = 0; start === 0 || start < n; start += chunk) {
    const len = Math.min(chunk, n - start);
    const slice = (t: Tensor): Tensor => (start === 0 && len === n ? t : temp(t.narrow(0, start, len)));
    const columns = temp(DeformIm2colFunction.apply(slice(input), slice(offset), slice(mask), window));
    const prod = temp(wg.matmul(temp(columns.reshape([len, groups, k, l]))));
    parts.push(prod.reshape([len, cout, outH, outW]));
  }
  let out = parts.length === 1 ? parts[0] : cat(parts, 0);
  if (parts.length > 1) temps.push(...parts);
  if (bias !== null) out = (temps.push(out), out.add(temp(bias.reshape([1, cout, 1, 1]))));
  // what was recorded stays for backward (autograd holds it); otherwise the intermediates go now
  if (!recorded) for (const t of new Set(temps)) if (t !== out) t.dispose();
  return out;
}
