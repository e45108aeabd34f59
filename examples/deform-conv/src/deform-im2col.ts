/**
 * The extension's op: deformable im2col, the columns of an image sampled at learned offsets and
 * scaled by learned masks, as an autograd Function over the library's three kernels (forward, the
 * input's gradient, the offsets' and masks' gradients). The kernels' math is in
 * native/deform_conv.h; this file checks arguments (typed errors naming the argument, before
 * anything is allocated) and dispatches.
 */
import {
  DTypeError, ShapeError, type Size2, type Tensor, commonDevice, emptyOn, fmtShape, launchKernel, sizePair,
} from '@kiln/tensor';
import { Function, type FunctionCtx } from '@kiln/autograd';
import './extension.js';

/** The sliding window of a deformable convolution, resolved to [h, w] pairs. */
export interface DeformWindow {
  /** Kernel size [kh, kw]. */
  readonly kernelSize: readonly [number, number];
  /** Stride [sh, sw]. */
  readonly stride: readonly [number, number];
  /** Zero padding [ph, pw]. */
  readonly padding: readonly [number, number];
  /** Dilation [dh, dw]. */
  readonly dilation: readonly [number, number];
}

/** Options of {@link deformIm2col}: each size is one number or an [h, w] pair. */
export interface DeformIm2colOptions {
  /** The kernel's size. */
  kernelSize: Size2;
  /** Stride of the window (default 1). */
  stride?: Size2;
  /** Zero padding on each side (default 0). */
  padding?: Size2;
  /** Spacing of the kernel's taps (default 1). */
  dilation?: Size2;
}

/** @internal The window of `op` from its options, checked. */
export function windowOf(op: string, o: DeformIm2colOptions): DeformWindow {
  return {
    kernelSize: sizePair(op, 'kernelSize', o.kernelSize, 1),
    stride: sizePair(op, 'stride', o.stride ?? 1, 1),
    padding: sizePair(op, 'padding', o.padding ?? 0, 0),
    dilation: sizePair(op, 'dilation', o.dilation ?? 1, 1),
  };
}

/** @internal A 4-D float32 or float64 tensor, else a typed error naming the argument. */
export function checkImage(op: string, arg: string, t: Tensor, layout: string): void {
  t.assertAlive(op);
  if (t.dtype !== 'float32' && t.dtype !== 'float64') throw new DTypeError(op, arg, 'a float32 or float64 tensor', t.dtype);
  if (t.ndim !== 4) throw new ShapeError(op, arg, `4 dimensions ${layout}`, fmtShape(t.shape));
}

/** @internal Output size along one dim: floor((in + 2 pad - dilation (kernel - 1) - 1) / stride) + 1. */
export function outSize(size: number, k: number, s: number, p: number, d: number): number {
  const span = size + 2 * p - d * (k - 1) - 1;
  return span < 0 ? 0 : Math.floor(span / s) + 1;
}

/** The checked geometry of a deformable im2col: output size and offset groups. */
interface Geometry {
  readonly outH: number;
  readonly outW: number;
  readonly groups: number;
}

/** @internal Checks input, offset and mask against each other and the window; the geometry. */
export function checkDeformArgs(op: string, input: Tensor, offset: Tensor, mask: Tensor, w: DeformWindow): Geometry {
  checkImage(op, 'input', input, '[N, C, H, W]');
  checkImage(op, 'offset', offset, '[N, 2 G kh kw, OH, OW]');
  checkImage(op, 'mask', mask, '[N, G kh kw, OH, OW]');
  commonDevice(op, ['input', 'offset', 'mask'], [input, offset, mask]);
  for (const [name, t] of [['offset', offset], ['mask', mask]] as const) {
    if (t.dtype !== input.dtype) throw new DTypeError(op, name, `${input.dtype} (the input's dtype)`, t.dtype);
  }
  const [n, c, h, wd] = input.shape as [number, number, number, number];
  const [kh, kw] = w.kernelSize;
  const outH = outSize(h, kh, w.stride[0], w.padding[0], w.dilation[0]);
  const outW = outSize(wd, kw, w.stride[1], w.padding[1], w.dilation[1]);
  if (outH < 1 || outW < 1) {
    throw new ShapeError(op, 'input', `a padded size that holds the dilated ${kh}x${kw} kernel (output ${outH}x${outW})`, `spatial size ${h}x${wd}`);
  }
  const taps = kh * kw, oc = offset.shape[1];
  const groups = oc / (2 * taps);
  if (!Number.isInteger(groups) || groups < 1 || c % groups !== 0) {
    throw new ShapeError(op, 'offset', `2 G kh kw = ${2 * taps} G channels, G (the offset groups) dividing the input's ${c} channels`, fmtShape(offset.shape));
  }
  const expectOffset = [n, oc, outH, outW], expectMask = [n, groups * taps, outH, outW];
  if (offset.shape.some((s, i) => s !== expectOffset[i])) throw new ShapeError(op, 'offset', `shape ${fmtShape(expectOffset)}`, fmtShape(offset.shape));
  if (mask.shape.some((s, i) => s !== expectMask[i])) throw new ShapeError(op, 'mask', `shape ${fmtShape(expectMask)}`, fmtShape(mask.shape));
  return { outH, outW, groups };
}

/** The kernels' attributes: [kh, kw, sh, sw, ph, pw, dh, dw, offset groups]. */
const attrsOf = (w: DeformWindow, groups: number): number[] => [...w.kernelSize, ...w.stride, ...w.padding, ...w.dilation, groups];

/**
 * Deformable im2col as an autograd Function: `apply(input, offset, mask, window)` gives the
 * columns [N, C kh kw, OH OW]. Its backward runs the library's two backward kernels; it is
 * once-differentiable (as torchvision's and mmcv's deformable convolutions are): differentiating
 * its gradient raises.
 */
/** What forward keeps for backward: the input, offsets and masks, and the kernels' attributes. */
interface DeformIm2colCtx extends FunctionCtx<[Tensor, Tensor, Tensor]> {
  attrs: number[];
}

export class DeformIm2colFunction extends Function<DeformIm2colCtx> {
  static override readonly onceDifferentiable = true;

  // ANCHOR: forward (quoted in docs/writing-an-extension.md)
  static override forward(ctx: DeformIm2colCtx, input: Tensor, offset: Tensor, mask: Tensor, window: DeformWindow): Tensor {
    const { outH, outW, groups } = checkDeformArgs('deform_im2col', input, offset, mask, window);
    const [n, c] = input.shape as [number, number];
    const [kh, kw] = window.kernelSize;
    const columns = emptyOn([n, c * kh * kw, outH * outW], input.dtype, input.device);
    if (columns.numel > 0) launchKernel('deform_im2col', [input, offset, mask], [columns], attrsOf(window, groups));
    ctx.saveForBackward(input, offset, mask);
    ctx.attrs = attrsOf(window, groups);
    return columns;
  }
  // ANCHOR_END: forward

  static override backward(ctx: DeformIm2colCtx, gradColumns: Tensor): [Tensor | null, Tensor | null, Tensor | null, null] {
    const [input, offset, mask] = ctx.savedTensors;
    const attrs = ctx.attrs;
    let gradInput: Tensor | null = null, gradOffset: Tensor | null = null, gradMask: Tensor | null = null;
    if (ctx.needsInputGrad[0]) {
      gradInput = emptyOn(input.shape, input.dtype, input.device);
      if (gradInput.numel > 0) launchKernel('deform_im2col_backward_input', [gradColumns, offset, mask], [gradInput], attrs);
    }
    if (ctx.needsInputGrad[1] || ctx.needsInputGrad[2]) {
      gradOffset = emptyOn(offset.shape, offset.dtype, offset.device);
      gradMask = emptyOn(mask.shape, mask.dtype, mask.device);
      if (gradOffset.numel > 0) launchKernel('deform_im2col_backward_offset_mask', [gradColumns, input, offset, mask], [gradOffset, gradMask], attrs);
      if (!ctx.needsInputGrad[1]) {
        gradOffset.dispose();
        gradOffset = null;
      }
      if (!ctx.needsInputGrad[2]) {
        gradMask.dispose();
        gradMask = null;
      }
    }
    return [gradInput, gradOffset, gradMask, null];
  }
}

/**
 * The columns of a deformable convolution (DCNv2): for input [N, C, H, W], offsets
 * [N, 2 G kh kw, OH, OW] and masks [N, G kh kw, OH, OW] (G offset groups, dividing C), the tensor
 * [N, C kh kw, OH OW] whose entry (n, c kh kw + k, l) is mask · input[n, c] sampled bilinearly at
 * the regular position of tap k for output position l, moved by the tap's (dy, dx) offset (zero
 * outside the image). A deformable convolution is a matmul of the weight with these columns, which
 * is what {@link deformConv2d} computes. float32 and float64; differentiable in input, offset and
 * mask (once).
 *
 * @example
 * ```ts
 * const x = randn([1, 4, 8, 8]);
 * const offset = randn([1, 2 * 9, 8, 8]).mul(0.5), mask = rand([1, 9, 8, 8]);
 * const cols = deformIm2col(x, offset, mask, { kernelSize: 3, padding: 1 });   // [1, 36, 64]
 * ```
 */
export function deformIm2col(input: Tensor, offset: Tensor, mask: Tensor, options: DeformIm2colOptions): Tensor {
  return DeformIm2colFunction.apply(input, offset, mask, windowOf('deform_im2col', options));
}
