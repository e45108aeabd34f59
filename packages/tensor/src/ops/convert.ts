/**
 * Moving data between JS and devices: to(device | dtype), contiguous, clone, copy_, reading values
 * back (toTypedArray, toArray, item, data).
 */
import { type Device, type DeviceLike, backendFor, device as toDevice } from '../device.js';
import { type DType, type NumericDType, type ScalarOf, type StorageArray, checkDType, dtypeInfo } from '../dtype.js';
import { checkBoolean, checkOptionKeys, describeValue } from '../check.js';
import { DTypeError, OutOfMemoryError, ShapeError, ValueError } from '../errors.js';
import { declareOp, empty, launchKernel, recordOp, autogradHook, needsRecording } from '../dispatch.js';
import { fmtShape, sameShape } from '../shape.js';
import { Tensor } from '../tensor.js';
import { expand } from './views.js';
import { recordFunction } from '../profiler/session.js';

const toDtypeOp = declareOp('to_dtype', ['input']);
const toDeviceOp = declareOp('to_device', ['input']);
const cloneOp = declareOp('clone', ['input']);

/**
 * Copies `src` into `dst` (same shape after broadcasting src), converting dtype and device. When src
 * shares memory with dst (m.copy_(m.t()), a shifted slice of the same storage), the copy kernel
 * would read elements it has already overwritten: src is then copied to a temporary first, so the
 * result is always the values src had before the call.
 */
export function copyInto(dst: Tensor, src: Tensor): void {
  if (dst.device !== src.device) {
    const staged = transfer(src, dst.device);
    copyBroadcast(dst, staged);
    staged.dispose();
  } else if (overlaps(dst, src)) {
    const temp = castCopy(src, src.dtype);
    copyBroadcast(dst, temp);
    temp.dispose();
  } else {
    copyBroadcast(dst, src);
  }
}

/** The copy kernel from src, broadcast to dst's shape (the broadcast view released after). */
function copyBroadcast(dst: Tensor, src: Tensor): void {
  const view = broadcastTo(src, dst.shape);
  launchKernel('copy', [view], [dst]);
  if (view !== src) view.dispose();
}

/**
 * @internal The bytes of its storage a view can touch, [first, end); [0, 0) for an empty view. From
 * the lowest and highest element offsets its shape and strides reach (negative strides lower the
 * low end), as the native boundary computes them.
 */
export function byteExtent(t: Tensor): [number, number] {
  let lo = t.offset, hi = t.offset;
  for (let d = 0; d < t.shape.length; d++) {
    const n = t.shape[d];
    if (n === 0) return [0, 0];
    const reach = (n - 1) * t.strides[d];
    if (reach < 0) lo += reach;
    else hi += reach;
  }
  return [lo * t.itemsize, (hi + 1) * t.itemsize];
}

/** @internal True when two tensors can touch a common byte of one storage. */
export function overlaps(a: Tensor, b: Tensor): boolean {
  if (a.storage !== b.storage) return false;
  const [a0, a1] = byteExtent(a), [b0, b1] = byteExtent(b);
  return a0 < a1 && b0 < b1 && a0 < b1 && b0 < a1;
}

/** True when two tensors are the same view of the same memory (PyTorch's is_same_data check in copy_). */
function sameView(a: Tensor, b: Tensor): boolean {
  return a.storage === b.storage && a.offset === b.offset && a.dtype === b.dtype && sameShape(a.shape, b.shape) && sameShape(a.strides, b.strides);
}

function broadcastTo(t: Tensor, shape: readonly number[]): Tensor {
  return sameShape(t.shape, shape) ? t : expand(t, shape);
}

/**
 * Runs a copy between the host and device `dev` as a profiler range named `name` (on CUDA, a copy to
 * the host waits for the device's queued work: the range's host time shows it). CPU copies are not ranges.
 */
function hostCopy(name: 'copy_to_host' | 'copy_to_device', dev: Device, copy: () => void): void {
  if (dev.type === 'cpu') copy();
  else recordFunction(name, copy);
}

/** A new contiguous tensor with src's values in `dtype` (same device). */
function castCopy(src: Tensor, dtype: DType): Tensor {
  const out = empty(src.shape, dtype, src.device);
  if (out.numel > 0) launchKernel('copy', [src], [out]);
  return out;
}

/**
 * Contiguous copy of `src` on another device. `nonBlocking`: an upload from pinned memory is queued
 * and returns at once (elsewhere the copy is complete on return, as PyTorch's non_blocking, a hint).
 */
function transfer(src: Tensor, dev: Device, nonBlocking = false): Tensor {
  const c = src.isContiguous ? src : castCopy(src, src.dtype);
  try {
    return transferContiguous(c, dev, nonBlocking);
  } finally {
    if (c !== src) c.dispose();
  }
}

function transferContiguous(c: Tensor, dev: Device, nonBlocking = false): Tensor {
  const nbytes = c.numel * c.itemsize;
  if (c.device.type !== 'cpu' && dev.type !== 'cpu') {
    // between two accelerators: through the host
    const host = transferContiguous(c, toDevice('cpu'));
    try {
      return transferContiguous(host, dev);
    } finally {
      host.dispose();
    }
  }
  const out = empty(c.shape, c.dtype, dev);
  if (nbytes === 0) return out;
  const byteOffset = c.offset * c.itemsize;
  if (c.device.type === 'cpu') {
    const backend = backendFor(dev);
    const bytes = new Uint8Array(c.storage.buffer!, byteOffset, nbytes);
    if (nonBlocking && backend.pinnedHost && c.storage.pinnedFor === dev.type) {
      const pinned = backend.pinnedHost;
      hostCopy('copy_to_device', dev, () => pinned.uploadAsync(out.storage, 0, bytes));
    } else {
      hostCopy('copy_to_device', dev, () => backend.upload(out.storage, 0, bytes));
    }
  } else {
    hostCopy('copy_to_host', c.device, () => backendFor(c.device).download(c.storage, byteOffset, new Uint8Array(out.storage.buffer!, 0, nbytes)));
  }
  return out;
}

/** What {@link to} converts to: a dtype, a device, or both. */
export interface ToOptions {
  /** Target element type. */
  dtype?: DType;
  /** Target device. */
  device?: DeviceLike;
  /** copy even when nothing changes */
  copy?: boolean;
  /**
   * As PyTorch's `non_blocking`: an upload from pinned memory ({@link pinMemory}) is queued and
   * returns at once, so it overlaps with the device's queued work (the source must not be written
   * until the device has read it: a later kernel on the result, or a synchronisation, comes after
   * it). Elsewhere the copy is made as without it.
   */
  nonBlocking?: boolean;
}

/** The options of `to(target, options)`: those of {@link ToOptions} that are not the target. */
export type TransferOptions = Pick<ToOptions, 'copy' | 'nonBlocking'>;

/**
 * `t.to('cuda')`, `t.to('float64')`, `t.to({device, dtype})`. Returns `t` itself when nothing
 * changes (as PyTorch), unless `copy` is set. Differentiable.
 *
 * @example
 * ```ts
 * const x = tensor([1, 2, 3]);              // int64
 * const y = x.to('float32');                // a converted copy
 * const z = y.to({ device: 'cpu' });        // y itself: nothing changes
 * const g = y.pinMemory().to('cuda', { nonBlocking: true });   // an upload that returns at once
 * ```
 */
// eslint-disable-next-line @typescript-eslint/no-redundant-type-constituents -- DType is spelled out for readers: DeviceLike takes any string, and a dtype name ('float32') is told apart at run time
export function to(t: Tensor, target: DeviceLike | DType | ToOptions, options?: TransferOptions): Tensor {
  t.assertAlive('to');
  let opts: ToOptions;
  if (typeof target === 'string' && !(target in dtypeInfo) && !/^(cpu|cuda)(:|$)/.test(target)) {
    // neither a dtype nor a device: most often a dtype misspelt ('float', 'uint8')
    throw new DTypeError('to', 'target', `a dtype (${Object.keys(dtypeInfo).join(', ')}) or a device ('cpu', 'cuda', 'cuda:N')`, JSON.stringify(target));
  }
  if (typeof target === 'string') opts = target in dtypeInfo ? { dtype: target as DType } : { device: target };
  else if (target instanceof Object && !('type' in target && 'index' in target)) {
    checkOptionKeys('to', target, { dtype: true, device: true, copy: true, nonBlocking: true });
    opts = target;
  }
  else opts = { device: target };
  if (options !== undefined) {
    if (options === null || typeof options !== 'object') throw new ValueError('to', 'options', 'an object { copy?, nonBlocking? }', describeValue(options));
    checkOptionKeys('to', options, { copy: true, nonBlocking: true });
    opts = { ...opts, ...options };
  }
  if (opts.copy !== undefined) checkBoolean('to', 'copy', opts.copy);
  const nonBlocking = opts.nonBlocking === undefined ? false : checkBoolean('to', 'nonBlocking', opts.nonBlocking);
  const dtype = opts.dtype === undefined ? t.dtype : checkDType('to', 'dtype', opts.dtype);
  const dev = opts.device === undefined ? t.device : toDevice(opts.device, 'to');
  if (dtype === t.dtype && dev === t.device && !opts.copy) return t;
  let r = t;
  if (dev !== t.device) {
    r = transfer(t, dev, nonBlocking);
    recordOp(toDeviceOp, [t], [r], { device: t.device });
  }
  if (dtype !== r.dtype || (opts.copy && r === t)) {
    const src = r;
    r = castCopy(src, dtype);
    recordOp(dtype === src.dtype ? cloneOp : toDtypeOp, [src], [r], { dtype: src.dtype });
    if (src !== t) src.dispose();
  }
  return r;
}

/** A contiguous tensor with the same values: `t` itself if already contiguous. */
export function contiguous(t: Tensor): Tensor {
  t.assertAlive('contiguous');
  if (t.isContiguous) return t;
  return clone(t);
}

/** A copy with its own storage (differentiable). */
export function clone(t: Tensor): Tensor {
  t.assertAlive('clone');
  const out = castCopy(t, t.dtype);
  return recordOp(cloneOp, [t], [out]);
}

/**
 * @internal Refuses to write into `t` (the argument 'self' of `op`) when several of its elements share
 * one memory location, as a stride-0 dimension of size > 1 (an expand()ed view) does: the result would
 * depend on the order of the writes. PyTorch: "unsupported operation: more than one element of the
 * written-to tensor refers to a single memory location". copy_, the in-place elementwise ops and
 * scatter_ check here (fill_ does not: every write stores the same value, as PyTorch allows).
 */
export function checkNoInternalOverlap(op: string, t: Tensor): void {
  if (t.numel === 0) return;   // no element, no overlap (an empty tensor's strides may hold zeros: [2, 0] has [0, 1])
  const d = t.shape.findIndex((n, i) => n > 1 && t.strides[i] === 0);
  if (d >= 0) {
    throw new ValueError(op, 'self', 'a tensor whose elements do not share memory (more than one element would refer to a single memory location; clone() an expanded view first)',
      `a view with stride 0 along dim ${d} of size ${t.shape[d]}`);
  }
}

/**
 * Copies src's values into t in place (broadcasting src, converting dtype and device). An expanded
 * (stride-0) `t` is a ValueError, as in PyTorch. Copying a view onto itself does nothing (as
 * PyTorch); a src that otherwise shares memory with t (`m.copy_(m.t())`, an overlapping slice)
 * is read before anything is written, through a temporary, so t always receives src's values as
 * they were before the call (PyTorch refuses a partial overlap instead).
 */
export function copy_(t: Tensor, src: Tensor): Tensor {
  t.assertAlive('copy_');
  if (!(src instanceof Tensor)) throw new DTypeError('copy_', 'src', 'a Tensor', describeValue(src));
  src.assertAlive('copy_');
  checkNoInternalOverlap('copy_', t);
  if (sameView(t, src) && !needsRecording([t, src])) return t;
  // src must broadcast to t's shape (not merely with it): trailing sizes equal or 1, no extra dims
  const lead = t.ndim - src.ndim;
  if (lead < 0 || src.shape.some((n, i) => n !== 1 && n !== t.shape[lead + i])) {
    throw new ShapeError('copy_', 'src', `a shape broadcastable to ${fmtShape(t.shape)}`, fmtShape(src.shape));
  }
  const recording = needsRecording([t, src]);
  // the out-of-place value t takes, recorded so gradients reach src
  const result = recording ? to(broadcastTo(src, t.shape), { dtype: t.dtype, device: t.device }) : src;
  copyInto(t, result);
  t.storage.version++;
  if (recording) autogradHook()!.recordInplace(t, result);
  return t;
}

/** Host copy of the values, contiguous, in the storage's JS array type (float32 for half types). */
export function toTypedArray(t: Tensor): StorageArray {
  t.assertAlive('toTypedArray');
  const half = t.dtype === 'float16' || t.dtype === 'bfloat16';
  const src = half ? castCopy(t, 'float32') : t.isContiguous ? t : castCopy(t, t.dtype);
  const info = dtypeInfo[src.dtype];
  const out = hostArray('toTypedArray', src);
  if (src.numel > 0) hostCopy('copy_to_host', src.device, () => backendFor(src.device).download(src.storage, src.offset * info.itemsize, out));
  if (src !== t) src.dispose();
  return out;
}

/**
 * A host array for t's values. JS throws a RangeError when it cannot allocate one: that is an
 * OutOfMemoryError here, as everywhere else memory runs out.
 */
function hostArray(op: string, t: Tensor): StorageArray {
  const info = dtypeInfo[t.dtype];
  try {
    return new info.arrayType(new ArrayBuffer(t.numel * info.itemsize));
  } catch (e) {
    if (!(e instanceof RangeError)) throw e;
    throw new OutOfMemoryError({ op, detail: `cannot allocate ${t.numel * info.itemsize} bytes on the host for the values of a ${t.dtype} tensor of shape ${fmtShape(t.shape)}` });
  }
}

/** As toTypedArray without blocking the event loop while a device finishes its work. */
export async function data(t: Tensor): Promise<StorageArray> {
  t.assertAlive('data');
  const half = t.dtype === 'float16' || t.dtype === 'bfloat16';
  const src = half ? castCopy(t, 'float32') : t.isContiguous ? t : castCopy(t, t.dtype);
  const info = dtypeInfo[src.dtype];
  const out = hostArray('data', src);
  if (src.numel > 0) await backendFor(src.device).downloadAsync(src.storage, src.offset * info.itemsize, out);
  if (src !== t) src.dispose();
  return out;
}

/** A value, or nested arrays of values, as {@link toArray} returns them. */
export type NestedArray<T> = T | NestedArray<T>[];

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** Converts host values to JS numbers/booleans; an int64 beyond 2^53 is an error, never rounded. */
export function hostValues(t: Tensor, arr: StorageArray, op: string): (number | boolean)[] {
  const out = new Array<number | boolean>(arr.length);
  if (t.dtype === 'int64') {
    const a = arr as BigInt64Array;
    for (let i = 0; i < a.length; i++) {
      const v = a[i];
      if (v > MAX_SAFE || v < -MAX_SAFE) {
        throw new ValueError(op, null, 'int64 values within ±2^53 to read as JS numbers (use toTypedArray() for a BigInt64Array)', v.toString());
      }
      out[i] = Number(v);
    }
  } else if (t.dtype === 'bool') {
    for (let i = 0; i < arr.length; i++) out[i] = (arr as Uint8Array)[i] !== 0;
  } else {
    for (let i = 0; i < arr.length; i++) out[i] = (arr as Float32Array)[i]!;
  }
  return out;
}

function nest(values: (number | boolean)[], shape: readonly number[], dim: number, start: number): NestedArray<number | boolean> {
  if (dim === shape.length) return values[start];
  const n = shape[dim];
  let step = 1;
  for (let d = dim + 1; d < shape.length; d++) step *= shape[d];
  const out = new Array<NestedArray<number | boolean>>(n);
  for (let i = 0; i < n; i++) out[i] = nest(values, shape, dim + 1, start + i * step);
  return out;
}

/** Nested JS arrays of numbers (booleans for bool tensors); a 0-d tensor gives a plain value. */
export function toArray(t: Tensor): NestedArray<number | boolean> {
  t.assertAlive('toArray');
  return nest(hostValues(t, toTypedArray(t), 'toArray'), t.shape, 0, 0);
}

/**
 * The value of a one-element tensor: a number, or a boolean for a bool tensor. Typed as a number;
 * for a bool tensor say so with the dtype as type argument (as tfjs's `dataSync<'bool'>()`).
 *
 * @example
 * ```ts
 * const loss = x.mul(x).sum().item();                  // number
 * const anyNegative = item<'bool'>(x.lt(0).any());   // boolean
 * ```
 */
export function item<D extends DType = NumericDType>(t: Tensor): ScalarOf<D> {
  t.assertAlive('item');
  if (t.numel !== 1) throw new ValueError('item', null, 'a tensor with one element', `${t.numel} elements (shape ${fmtShape(t.shape)})`);
  return hostValues(t, toTypedArray(t), 'item')[0] as ScalarOf<D>;
}

declare module '../tensor.js' {
  interface Tensor {
    /** Converts to a device and/or dtype; returns this tensor when nothing changes. See {@link to}. */
    // eslint-disable-next-line @typescript-eslint/no-redundant-type-constituents -- DType is spelled out for readers: DeviceLike takes any string, and a dtype name ('float32') is told apart at run time
    to(target: DeviceLike | DType | ToOptions, options?: TransferOptions): Tensor;
    /** This tensor if contiguous, else a contiguous copy. */
    contiguous(): Tensor;
    /** A copy with its own storage (differentiable). */
    clone(): Tensor;
    /** Copies `src` into this tensor in place (broadcasting, converting dtype and device); not into an expanded view. */
    copy_(src: Tensor): Tensor;
    /** A host copy of the values in the storage's typed array type (float32 for the half types). */
    toTypedArray(): StorageArray;
    /** As toTypedArray, without blocking the event loop while the device finishes. */
    data(): Promise<StorageArray>;
    /** The values as nested JS arrays (a plain value for a 0-d tensor). */
    toArray(): NestedArray<number | boolean>;
    /** The value of a one-element tensor: a number, or for a bool tensor `item<'bool'>()`, a boolean. See {@link item}. */
    item<D extends DType = NumericDType>(): ScalarOf<D>;
    /** `to('cpu')`. */
    cpu(): Tensor;
    /** `to('cuda:index')` (needs `@kiln/cuda`). */
    cuda(index?: number): Tensor;
    /** `to('float32')`. */
    float(): Tensor;
    /** `to('float64')`. */
    double(): Tensor;
  }
}

Tensor.prototype.to = function (target, options) { return to(this, target, options); };
Tensor.prototype.contiguous = function () { return contiguous(this); };
Tensor.prototype.clone = function () { return clone(this); };
Tensor.prototype.copy_ = function (src) { return copy_(this, src); };
Tensor.prototype.toTypedArray = function () { return toTypedArray(this); };
Tensor.prototype.data = function () { return data(this); };
Tensor.prototype.toArray = function () { return toArray(this); };
Tensor.prototype.item = function () { return item(this); };
Tensor.prototype.cpu = function () { return to(this, 'cpu'); };
Tensor.prototype.cuda = function (index = 0) { return to(this, `cuda:${index}`); };
Tensor.prototype.float = function () { return to(this, 'float32'); };
Tensor.prototype.double = function () { return to(this, 'float64'); };
