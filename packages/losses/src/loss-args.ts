/**
 * Argument checks shared by the losses and their module forms. Each throws a typed error naming the op, the argument, what was expected and
 * what was given, as the tensor core's ops do.
 */
import {
  type DType, type Tensor, DTypeError, ShapeError, ValueError, fmtShape, isFloating, sameShape,
} from '@kiln/tensor';

/** Throws unless `t` is a floating-point tensor. */
export function checkFloating(op: string, name: string, t: Tensor, what = 'a floating-point tensor'): void {
  if (!isFloating(t.dtype)) throw new DTypeError(op, name, what, t.dtype);
}

/** Throws unless `t` holds int32 or int64 values. */
export function checkIndexTensor(op: string, name: string, t: Tensor, what = 'int32 or int64 class indices'): void {
  if (t.dtype !== 'int32' && t.dtype !== 'int64') throw new DTypeError(op, name, what, t.dtype);
}

/** Throws unless `t` has exactly `shape` (`of` says whose shape that is, e.g. "the input's shape"). */
export function checkShape(op: string, name: string, t: Tensor, shape: readonly number[], of: string): void {
  if (!sameShape(t.shape, shape)) throw new ShapeError(op, name, `${of} ${fmtShape(shape)}`, fmtShape(t.shape));
}

/** A number option checked by `ok` (`expected` describes the valid values). */
export function checkNumber(op: string, name: string, v: unknown, ok: (x: number) => boolean, expected: string): number {
  if (typeof v !== 'number' || !ok(v)) throw new ValueError(op, name, expected, String(v));
  return v;
}

/** A focusing exponent (the focal losses' gamma, quality focal loss's beta): finite and >= 0. */
export function checkExponent(op: string, name: string, v: unknown): number {
  return checkNumber(op, name, v, (x) => Number.isFinite(x) && x >= 0, 'a finite number >= 0');
}

/** The focal losses' alpha: at most 1; a negative alpha disables the weighting. */
export function checkFocalAlpha(op: string, v: unknown): number {
  return checkNumber(op, 'alpha', v, (x) => Number.isFinite(x) && x <= 1, 'a number <= 1 (negative disables the weighting)');
}

/** A boolean option. */
export function checkBoolean(op: string, name: string, v: unknown): boolean {
  if (typeof v !== 'boolean') throw new ValueError(op, name, 'true or false', String(v));
  return v;
}

/**
 * The dtype a loss is computed in: the input's for float32/float64; float32 for float16/bfloat16
 * (their logs and exps lose too much in 8 or 11 bits; the result is cast back, as the sigmoid focal
 * loss's kernels do).
 */
export function computeDType(dtype: DType): DType {
  return dtype === 'float16' || dtype === 'bfloat16' ? 'float32' : dtype;
}

/** Validates per-class weights (one per class, [C], floating) and casts them to `dtype`. */
export function classWeightOf(op: string, w: Tensor | undefined, C: number, dtype: DType): Tensor | undefined {
  if (w === undefined) return undefined;
  checkFloating(op, 'classWeight', w);
  if (w.ndim !== 1 || w.shape[0] !== C) throw new ShapeError(op, 'classWeight', `one weight per class: shape [${C}]`, fmtShape(w.shape));
  return castTo(w, dtype);
}

/** t in `dtype` (a recorded, differentiable cast when it changes). */
export function castTo(t: Tensor, dtype: DType): Tensor {
  return t.dtype === dtype ? t : t.to(dtype);
}

/**
 * A weight that multiplies a loss of shape `lossShape`: floating, and broadcastable to that shape
 * without enlarging it (as PyTorch's `weight` of binary_cross_entropy_with_logits and mmdetection's
 * `weight`). Returned in `dtype`.
 */
export function broadcastWeight(op: string, name: string, w: Tensor, lossShape: readonly number[], dtype: DType): Tensor {
  checkFloating(op, name, w);
  if (!broadcastsInto(w.shape, lossShape)) throw new ShapeError(op, name, `a shape broadcastable to the loss's shape ${fmtShape(lossShape)}`, fmtShape(w.shape));
  return castTo(w, dtype);
}

/** True when `shape` broadcasts to `target` without enlarging it. */
export function broadcastsInto(shape: readonly number[], target: readonly number[]): boolean {
  return shape.length <= target.length && shape.every((s, i) => s === 1 || s === target[target.length - shape.length + i]);
}

/**
 * A per-row weight [N] of an [N, C] loss, or a per-element weight of the loss's shape (the sigmoid
 * focal loss's convention; a per-row weight is not aligned with C as broadcasting would). Returned
 * in `dtype`, shaped to multiply the [N, C] loss.
 */
export function rowOrElementWeight(op: string, name: string, w: Tensor, lossShape: readonly [number, number], dtype: DType): Tensor {
  checkFloating(op, name, w);
  const [n] = lossShape;
  if (sameShape(w.shape, lossShape)) return castTo(w, dtype);
  if (w.ndim === 1 && w.shape[0] === n) return castTo(w, dtype).reshape([n, 1]);
  throw new ShapeError(op, name, `per-element weights ${fmtShape(lossShape)} or per-row weights [${n}]`, fmtShape(w.shape));
}

/**
 * Runs `f`, which reads class indices through an index kernel (gather, one_hot), and renames the
 * kernel's out-of-range error after the loss's own argument. On the CPU the kernel throws at once;
 * on CUDA the kernel's error surfaces at the next synchronisation under the kernel's name (there is
 * no device-to-host read per call to check the values first).
 */
export function renamingIndexErrors<T>(op: string, name: string, expected: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof ValueError) throw new ValueError(op, name, expected, `a value outside that range (${e.message})`);
    throw e;
  }
}

/**
 * Checks, at a module's construction, the tensor options that can be checked without the inputs:
 * floating-point, and class weights 1-D (their length, C, is checked against the input at each call).
 */
export function checkTensorOptions(op: string, options: { weight?: Tensor; posWeight?: Tensor; classWeight?: Tensor }): void {
  if (options.weight !== undefined) checkFloating(op, 'weight', options.weight);
  if (options.posWeight !== undefined) checkFloating(op, 'posWeight', options.posWeight);
  const cw = options.classWeight;
  if (cw !== undefined) {
    checkFloating(op, 'classWeight', cw);
    if (cw.ndim !== 1) throw new ShapeError(op, 'classWeight', 'one weight per class: shape [C]', fmtShape(cw.shape));
  }
}

/** A frozen copy of a module's options (mutating the caller's object later changes nothing). */
export function frozenCopy<O extends object>(options: O): Readonly<O> {
  return Object.freeze({ ...options });
}
