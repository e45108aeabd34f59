/**
 * The argument checks and window geometry shared by the sliding-window ops (ops/nn.ts: im2col,
 * col2im, pooling, upsampling; ops/conv.ts: conv2d and its backward passes). Not exported from the
 * package: the ops validate with these, before any allocation.
 */
import { type Size2, sizePair as pair } from '../check.js';
import { isFloating } from '../dtype.js';
import { DTypeError, ShapeError } from '../errors.js';
import { fmtShape } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { makeView } from './views.js';

export function checkFloating(op: string, arg: string, t: Tensor): void {
  t.assertAlive(op);
  if (!isFloating(t.dtype)) throw new DTypeError(op, arg, 'a floating-point tensor', t.dtype);
}

export function checkImage(op: string, arg: string, t: Tensor, layout = '[N, C, H, W]'): void {
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

export function windowOf(op: string, kernel: Size2, stride: Size2, padding: Size2, dilation: Size2): Window {
  return {
    kernel: pair(op, 'kernelSize', kernel, 1),
    stride: pair(op, 'stride', stride, 1),
    padding: pair(op, 'padding', padding, 0),
    dilation: pair(op, 'dilation', dilation, 1),
  };
}

export function windowAttrs(w: Window): number[] {
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
export function convOutput(op: string, arg: string, hw: readonly number[], w: Window): [number, number] {
  const oh = convOutSize(hw[0], w.kernel[0], w.stride[0], w.padding[0], w.dilation[0]);
  const ow = convOutSize(hw[1], w.kernel[1], w.stride[1], w.padding[1], w.dilation[1]);
  if (oh < 1 || ow < 1) throw outputTooSmall(op, arg, hw, w, [oh, ow]);
  return [oh, ow];
}

export function outputTooSmall(op: string, arg: string, hw: readonly number[], w: Window, out: readonly number[]): ShapeError {
  const eff = [0, 1].map((i) => w.dilation[i] * (w.kernel[i] - 1) + 1);
  const padded = [0, 1].map((i) => hw[i] + 2 * w.padding[i]);
  return new ShapeError(op, arg,
    `a spatial size whose padded size ${fmtShape(padded)} holds the dilated kernel ${fmtShape(eff)} (output size would be ${fmtShape(out)}, must be at least 1)`,
    `spatial size ${fmtShape(hw)}`);
}

export function attrsOf(w: Window): Record<string, unknown> {
  return { kernelSize: w.kernel, stride: w.stride, padding: w.padding, dilation: w.dilation };
}

/** An alias of t that does not require grad: ops on it are not recorded. */
export function untracked(t: Tensor): Tensor {
  return t.requiresGrad ? makeView(t, t.shape, t.strides, t.offset) : t;
}
