/**
 * Argument checking and kernel dispatch of the sigmoid focal loss. The kernels (native/cpu/focal_loss.cc,
 * native/cuda/focal_loss.cu) share one argument layout, described in native/include/kiln/focal_loss_args.h:
 *
 *   inputs  [input [N, C], target, weight [N, C]?, classWeight [C]?, count?]
 *   attrs   [gamma, alpha, targetKind, hasWeight, hasClassWeight, scale, ...]
 *
 * `scale` is 1 / the mean's divisor when the host knows it, or NaN when the divisor is the number of
 * non-ignored rows × C, counted on the device (no device-to-host read per call).
 */
import {
  type DType, type Device, type Tensor, DTypeError, ShapeError, ValueError, checkOptionKeys, emptyOn, fmtShape, isFloating, launchKernel, commonDevice, tidy,
} from '@kiln/tensor';
import { checkAvgFactor, checkReduction, type Reduction } from '../reduction.js';
import { castTo, checkBoolean, checkExponent, checkFocalAlpha } from '../loss-args.js';
import type { SigmoidFocalLossOptions } from './options.js';

export const OP = 'sigmoid_focal_loss';
// the target kinds of native/include/kiln/focal_loss_args.h
const KIND = { first: 0, last: 1, float: 2 } as const;

/** The sigmoid focal loss's arguments, checked and normalised for its kernels: 2-D views and the kernel attributes. */
export interface FocalArgs {
  /** The logits as [N, C]. */
  input: Tensor;
  /** [N] class indices, or [N, C] float targets in the input's dtype. */
  target: Tensor;
  /** [N, C] weights (maybe an expanded [N]) in the input's dtype. */
  weight?: Tensor;
  /** [C] class weights in the input's dtype. */
  classWeight?: Tensor;
  /** The input's own shape ([..., C]), which the loss and gradient take back. */
  inputShape: readonly number[];
  /** Rows. */
  N: number;
  /** Classes. */
  C: number;
  /** The focusing exponent. */
  gamma: number;
  /** The positives' weight (negative: no weighting). */
  alpha: number;
  /** The target kind of native/include/kiln/focal_loss_args.h (index with the background first or last, or float). */
  kind: number;
  /** The reduction. */
  reduction: Reduction;
  /** 1 / divisor for the mean (1 for sum and none), or NaN: counted on the device. */
  scale: number;
}

/**
 * Checks the options that do not depend on the inputs (gamma, alpha, reduction, avgFactor,
 * backgroundClass, fusedGrad), with defaults applied; `op` names the caller in errors (the op, or the
 * module class at construction).
 */
export function checkSigmoidFocalLossOptions(op: string, options: SigmoidFocalLossOptions) {
  checkOptionKeys(op, options, {
    gamma: true, alpha: true, reduction: true, avgFactor: true, backgroundClass: true, weight: true, classWeight: true, fusedGrad: true,
  });
  const reduction = checkReduction(op, options.reduction ?? 'mean');
  const gamma = checkExponent(op, 'gamma', options.gamma ?? 2);
  const alpha = checkFocalAlpha(op, options.alpha ?? 0.25);
  const avgFactor = checkAvgFactor(op, options.avgFactor, reduction);
  const backgroundClass = options.backgroundClass ?? 'first';
  if (backgroundClass !== 'first' && backgroundClass !== 'last') throw new ValueError(op, 'backgroundClass', "'first' or 'last'", String(backgroundClass));
  if (options.fusedGrad !== undefined) checkBoolean(op, 'fusedGrad', options.fusedGrad);
  return { reduction, gamma, alpha, avgFactor, backgroundClass };
}

/** Checks and normalises the arguments (shapes, dtypes, devices, options) into 2-D form. */
export function prepareFocal(input: Tensor, target: Tensor, options: SigmoidFocalLossOptions = {}): FocalArgs {
  // (in tidy: the casts' and reshapes' intermediates are freed here; what the kernels read is kept)
  return tidy(() => focalArgs(input, target, options));
}

/**
 * Frees what prepareFocal made (the casts and views of the caller's tensors) after a kernel refused
 * the arguments, or once a call that records nothing has queued its kernels; the caller's own
 * tensors stay.
 */
export function disposeFocalArgs(f: FocalArgs, given: readonly (Tensor | undefined)[]): void {
  for (const t of [f.input, f.target, f.weight, f.classWeight]) if (t && !given.includes(t) && !t.isDisposed) t.dispose();
}

function focalArgs(input: Tensor, target: Tensor, options: SigmoidFocalLossOptions): FocalArgs {
  const { reduction: red, gamma: g, alpha: a, avgFactor, backgroundClass } = checkSigmoidFocalLossOptions(OP, options);
  if (!isFloating(input.dtype)) throw new DTypeError(OP, 'input', 'a floating-point tensor (logits)', input.dtype);
  if (input.ndim < 1) throw new ShapeError(OP, 'input', 'a tensor of shape [N, C] (or [..., C])', fmtShape(input.shape));
  commonDevice(OP, ['input', 'target', 'weight', 'classWeight'], [input, target, options.weight, options.classWeight]);
  const C = input.shape[input.ndim - 1];
  const lead = input.shape.slice(0, -1);
  const N = lead.reduce((p, s) => p * s, 1);
  const x = input.ndim === 2 ? input : input.reshape([N, C]);

  let kind: number;
  let t: Tensor;
  if (target.dtype === 'int32' || target.dtype === 'int64') {
    kind = KIND[backgroundClass];
    if (target.shape.length !== lead.length || target.shape.some((s, i) => s !== lead[i])) {
      throw new ShapeError(OP, 'target', `class indices of shape ${fmtShape(lead)} (input is ${fmtShape(input.shape)})`, fmtShape(target.shape));
    }
    t = target.ndim === 1 ? target : target.reshape([N]);
  } else if (isFloating(target.dtype) || target.dtype === 'bool') {
    kind = KIND.float;
    if (target.shape.length !== input.shape.length || target.shape.some((s, i) => s !== input.shape[i])) {
      throw new ShapeError(OP, 'target', `float targets of the input's shape ${fmtShape(input.shape)}`, fmtShape(target.shape));
    }
    t = castTo(target, input.dtype);
    if (t.ndim !== 2) t = t.reshape([N, C]);
  } else {
    throw new DTypeError(OP, 'target', 'int32/int64 class indices or float targets', target.dtype);
  }

  if (C === 0 && N > 0 && kind !== KIND.float) {
    // no class: no element for the kernels to check the targets on, so the host does (a read of
    // the targets, in this degenerate case only)
    const largest = t.amax().item();
    if (largest > 0) throw new ValueError(OP, 'target', 'a negative value (ignored row) or 0 (background): the input has no classes', String(largest));
  }

  let weight: Tensor | undefined;
  if (options.weight !== undefined) {
    const w = options.weight;
    const perRow = w.shape.length === lead.length && w.shape.every((s, i) => s === lead[i]);
    const perElem = w.shape.length === input.shape.length && w.shape.every((s, i) => s === input.shape[i]);
    if (!perRow && !perElem) {
      throw new ShapeError(OP, 'weight', `per-element weights ${fmtShape(input.shape)} or per-row weights ${fmtShape(lead)}`, fmtShape(w.shape));
    }
    if (!isFloating(w.dtype)) throw new DTypeError(OP, 'weight', 'a floating-point tensor', w.dtype);
    const wc = castTo(w, input.dtype);
    weight = perRow ? wc.reshape([N, 1]).expand([N, C]) : wc.reshape([N, C]);
  }
  let classWeight: Tensor | undefined;
  if (options.classWeight !== undefined) {
    const cw = options.classWeight;
    if (cw.ndim !== 1 || cw.shape[0] !== C) throw new ShapeError(OP, 'classWeight', `one weight per class: shape [${C}]`, fmtShape(cw.shape));
    if (!isFloating(cw.dtype)) throw new DTypeError(OP, 'classWeight', 'a floating-point tensor', cw.dtype);
    classWeight = castTo(cw, input.dtype);
  }

  let scale = 1;
  if (red === 'mean') {
    if (avgFactor !== undefined) scale = 1 / avgFactor;
    else if (kind === KIND.float || C === 0) scale = N * C > 0 ? 1 / (N * C) : 0;   // nothing to average: 0, as for N = 0
    else scale = NaN;
  }
  return { input: x, target: t, weight, classWeight, inputShape: input.shape, N, C, gamma: g, alpha: a, kind, reduction: red, scale };
}

/** t viewed with `shape`; a new view releases its hold on t, so disposing the view frees the memory. */
function asShape(t: Tensor, shape: readonly number[]): Tensor {
  if (t.shape.length === shape.length && t.shape.every((s, i) => s === shape[i])) return t;
  const v = t.reshape(shape);
  t.dispose();
  return v;
}

function kernelInputs(f: FocalArgs, count: Tensor | undefined): Tensor[] {
  const inputs = [f.input, f.target];
  if (f.weight) inputs.push(f.weight);
  if (f.classWeight) inputs.push(f.classWeight);
  if (Number.isNaN(f.scale)) inputs.push(count!);
  return inputs;
}

function kernelAttrs(f: FocalArgs): number[] {
  return [f.gamma, f.alpha, f.kind, f.weight ? 1 : 0, f.classWeight ? 1 : 0, f.scale];
}

/**
 * Number of partial sums: one per ~2048 elements on CUDA (one per block), one per ~8192 on the CPU
 * (a few per chunk of its thread pool, and a call of its row loop each), at most 1024 (a wave on
 * an H200). It depends on the size only, never on the thread count, so the sum is the same on any
 * number of threads.
 */
function partialCount(total: number, device: Device): number {
  const per = device.type === 'cpu' ? 8192 : 2048;
  return Math.max(1, Math.min(1024, Math.ceil(total / per)));
}

export interface FocalForwardResult {
  loss: Tensor;
  /** dloss/dx for an upstream gradient of 1, when requested (reduction 'mean'/'sum'). */
  grad?: Tensor;
  /** Non-ignored rows, counted on the device, when the mean's divisor needs it. */
  count?: Tensor;
}

/**
 * Runs the forward kernels: the loss, and the gradient in the same pass when `wantGrad`. When a
 * kernel refuses the arguments (a target out of range), what this call allocated is freed, and so
 * are f's tensors that prepareFocal made when `given` lists the caller's own (which stay).
 */
export function focalForward(f: FocalArgs, wantGrad: boolean, given?: readonly (Tensor | undefined)[]): FocalForwardResult {
  const dev = f.input.device;
  // what this call allocates, freed if a kernel refuses the arguments (a target out of range)
  const made: Tensor[] = [];
  const alloc = (shape: number[], dtype: DType): Tensor => {
    const t = emptyOn(shape, dtype, dev);
    made.push(t);
    return t;
  };
  try {
    let count: Tensor | undefined;
    if (Number.isNaN(f.scale)) {
      count = alloc([], 'int64');
      launchKernel('sigmoid_focal_loss_count', [f.target], [count]);
    }
    const inputs = kernelInputs(f, count);
    const total = f.N * f.C;
    if (f.reduction === 'none') {
      const loss = alloc([f.N, f.C], f.input.dtype);
      if (total > 0) launchKernel(OP, inputs, [loss], [...kernelAttrs(f), 0, 0, 1]);
      return { loss: asShape(loss, f.inputShape), count };
    }
    const P = partialCount(total, dev);
    const partials = alloc([P], 'float64');
    const outputs = [partials];
    let grad: Tensor | undefined;
    if (wantGrad) {
      grad = alloc([f.N, f.C], f.input.dtype);
      outputs.push(grad);
    }
    launchKernel(OP, inputs, outputs, [...kernelAttrs(f), 1, wantGrad ? 1 : 0, P]);
    const loss = alloc([], f.input.dtype);
    launchKernel('sigmoid_focal_loss_finalize', count ? [partials, count] : [partials], [loss], [f.scale, f.C]);
    partials.dispose();
    return { loss, grad: grad && asShape(grad, f.inputShape), count };
  } catch (e) {
    for (const t of made) if (!t.isDisposed) t.dispose();
    if (given) disposeFocalArgs(f, given);
    throw e;
  }
}

/**
 * The backward kernel: gradOutput (the loss's shape for 'none', a scalar otherwise) times
 * dloss/dx, the mean's divisor folded in.
 */
export function focalBackward(f: FocalArgs, gradOutput: Tensor, count: Tensor | undefined): Tensor {
  const go2 = f.reduction === 'none' ? gradOutput.reshape([f.N, f.C]) : gradOutput.reshape([1, 1]).expand([f.N, f.C]);
  const go = go2.dtype === f.input.dtype ? go2 : go2.to(f.input.dtype);
  const grad = emptyOn([f.N, f.C], f.input.dtype, f.input.device);
  try {
    if (f.N * f.C > 0) launchKernel('sigmoid_focal_loss_backward', [...kernelInputs(f, count), go], [grad], kernelAttrs(f));
  } catch (e) {
    grad.dispose();
    throw e;
  } finally {
    if (go !== go2) go.dispose();
    if (go2 !== gradOutput) go2.dispose();
  }
  return asShape(grad, f.inputShape);
}
