/**
 * Creating tensors: from JS data (`tensor`), from typed arrays without copying (`fromTypedArray`),
 * and the factories (zeros, ones, full, empty, arange, linspace, eye and the *Like forms).
 */
import { type Device, type DeviceLike, backendFor, cpu, device as toDevice } from '../device.js';
import { type DType, type StorageArray, checkDType, defaultFloat, dtypeInfo, scalarValue } from '../dtype.js';
import { MAX_DIMS, checkFinite, checkInt, checkOptionKeys, describeValue, isArrayMember } from '../check.js';
import { DTypeError, ShapeError, ValueError } from '../errors.js';
import { empty as emptyOn, launchKernel } from '../dispatch.js';
import { wrapCpuBuffer } from '../native/cpu-backend.js';
import { type Shape, checkShape, contiguousStrides, fmtShape, numelOf } from '../shape.js';
import { Tensor } from '../tensor.js';
import { to } from './convert.js';

/** Options of the tensor factories. */
export interface CreateOptions {
  /** Element type (default: inferred by {@link tensor}, float32 for the other factories). */
  dtype?: DType;
  /** Where the tensor lives (default 'cpu'). */
  device?: DeviceLike;
  /** Make the result a leaf that requires grad (floating dtypes only). */
  requiresGrad?: boolean;
}

/** Nested arrays of numbers, booleans or bigints, as {@link tensor} takes them (regular, not ragged). */
export type Nested = number | boolean | bigint | readonly Nested[];

/** Every key of CreateOptions: a misspelt one (`dtyp`) was ignored, giving the default dtype. */
const createKeys = { dtype: true, device: true, requiresGrad: true } as const;

function finish(t: Tensor, opts: CreateOptions | undefined): Tensor {
  // the setter checks the value: requiresGrad: 'no' would otherwise have made a leaf that requires grad
  if (opts?.requiresGrad !== undefined && opts.requiresGrad !== false) {
    try {
      t.requiresGrad = opts.requiresGrad;
    } catch (e) {
      t.dispose(); // a non-float dtype: release the block now rather than at GC
      throw e;
    }
  }
  return t;
}

function dtypeOfTypedArray(a: ArrayBufferView): DType | null {
  if (a instanceof Float32Array) return 'float32';
  if (a instanceof Float64Array) return 'float64';
  if (a instanceof Int32Array) return 'int32';
  if (a instanceof BigInt64Array) return 'int64';
  return null;
}

/** Shape and flat values of nested arrays; a ShapeError for ragged input. */
function flattenNested(data: Nested): { shape: number[]; values: (number | boolean | bigint)[] } {
  const shape: number[] = [];
  let probe: Nested = data;
  while (isArrayMember(probe)) {
    // a deeper nesting is no tensor a kernel takes (and an array that contains itself never ends)
    if (shape.length === MAX_DIMS) throw new ShapeError('tensor', 'data', `nested arrays at most ${MAX_DIMS} deep`, 'deeper nesting');
    shape.push(probe.length);
    probe = probe.length > 0 ? probe[0] : 0;
    if (Array.isArray(probe) && probe.length === 0) {
      shape.push(0);
      break;
    }
  }
  const values: (number | boolean | bigint)[] = [];
  const walk = (x: Nested, dim: number): void => {
    if (dim === shape.length) {
      if (Array.isArray(x)) throw new ShapeError('tensor', 'data', `a regular nested array of shape ${fmtShape(shape)}`, 'a ragged array');
      if (typeof x !== 'number' && typeof x !== 'boolean' && typeof x !== 'bigint') {
        throw new ValueError('tensor', 'data', 'numbers, booleans or bigints', typeof x);
      }
      values.push(x);
      return;
    }
    if (!isArrayMember(x) || x.length !== shape[dim]) {
      throw new ShapeError('tensor', 'data', `a regular nested array of shape ${fmtShape(shape)}`, 'a ragged array');
    }
    for (const y of x) walk(y, dim + 1);
  };
  walk(data, 0);
  return { shape, values };
}

/**
 * torch.tensor's inference: all booleans give bool; integers (bigints, integer numbers), with or
 * without booleans, int64; any other number (a fraction, NaN, ±Infinity) float32; no values float32.
 */
function inferDType(values: readonly (number | boolean | bigint)[]): DType {
  if (values.length === 0) return defaultFloat;
  if (values.every((v) => typeof v === 'boolean')) return 'bool';
  if (values.every((v) => typeof v !== 'number' || Number.isInteger(v))) return 'int64';
  return defaultFloat;
}

const INT64_MIN = -(2n ** 63n), INT64_MAX = 2n ** 63n - 1n;

/** Writes JS values into a host array of `dtype` (the half types go through float32). */
function toHostArray(values: readonly (number | boolean | bigint)[], dtype: DType): StorageArray {
  const n = values.length;
  switch (dtype) {
    case 'int64': {
      const a = new BigInt64Array(n);
      for (let i = 0; i < n; i++) {
        const v = values[i];
        // BigInt64Array would wrap silently; PyTorch raises on overflow too
        if (typeof v !== 'bigint') a[i] = BigInt(scalarValue('tensor', 'data', v, 'int64'));
        else if (v < INT64_MIN || v > INT64_MAX) throw new ValueError('tensor', 'data', 'int64 values in [-2^63, 2^63 - 1]', String(v));
        else a[i] = v;
      }
      return a;
    }
    case 'bool': {
      const a = new Uint8Array(n);
      for (let i = 0; i < n; i++) a[i] = values[i] ? 1 : 0;
      return a;
    }
    case 'int32': {
      const a = new Int32Array(n);
      for (let i = 0; i < n; i++) {
        const v = values[i];
        a[i] = scalarValue('tensor', 'data', typeof v === 'bigint' ? Number(v) : v, 'int32');
      }
      return a;
    }
    case 'float64': return Float64Array.from(values, Number);
    default: return Float32Array.from(values, Number);
  }
}

/** A tensor on the CPU holding a copy of a host array. */
function fromHost(arr: StorageArray, shape: Shape, dtype: DType): Tensor {
  const t = emptyOn(shape, dtype, cpu);
  if (arr.byteLength > 0) backendFor(cpu).upload(t.storage, 0, arr);   // not t.storage.buffer: that marks it as viewed by the user
  return t;
}

/**
 * A tensor from nested arrays, a typed array (copied) or a scalar, as torch.tensor. The dtype is
 * inferred unless given: bool when every value is a boolean, int64 for integers (booleans among
 * them count as 0 and 1), float32 when any value is a fraction (or NaN, ±Infinity).
 *
 * @example
 * ```ts
 * const a = tensor([[1, 2], [3, 4]]);                          // int64 [2, 2]
 * const b = tensor([0.5, 1.5], { dtype: 'float64' });          // float64 [2]
 * const w = tensor([1, 2, 3], { dtype: 'float32', requiresGrad: true });
 * ```
 */
export function tensor(data: Nested | ArrayBufferView, opts?: CreateOptions): Tensor {
  checkOptionKeys('tensor', opts, createKeys);
  const dev = toDevice(opts?.device ?? 'cpu');
  let dtype = opts?.dtype === undefined ? undefined : checkDType('tensor', 'dtype', opts.dtype);
  let host: Tensor;
  if (ArrayBuffer.isView(data)) {
    const own = dtypeOfTypedArray(data);
    if (own === null && dtype === undefined) {
      throw new DTypeError('tensor', 'data', 'a Float32Array, Float64Array, Int32Array or BigInt64Array (or pass dtype)', data.constructor.name);
    }
    const arr = data as unknown as StorageArray;
    const target = dtype ?? own!;
    if (own === target || (own === null && dtypeInfo[target].arrayType === arr.constructor)) {
      host = fromHost(arr, [arr.length], target);
    } else {
      const values = Array.from(arr as ArrayLike<number | bigint>);
      return tensor(values, { ...opts, dtype: target });
    }
  } else {
    const { shape, values } = flattenNested(data);
    const target = dtype ?? inferDType(values);
    const half = target === 'float16' || target === 'bfloat16';
    host = fromHost(toHostArray(values, half ? 'float32' : target), shape, half ? 'float32' : target);
    if (half) host = to(host, target);
  }
  dtype = dtype ?? host.dtype;
  return finish(to(host, { device: dev }), opts);
}

/**
 * A CPU tensor viewing a typed array's memory (no copy), with an optional shape; changes through
 * either are seen by the other (torch.from_numpy).
 *
 * The tensor holds the array's buffer, so the garbage collector cannot free it under the tensor.
 * A plain or shared buffer is viewed in place. If the buffer is later detached (transferred to a
 * worker, `structuredClone(buf, { transfer })`) the tensor's memory is gone: using it is a
 * DisposedError, never a read of freed memory. A resizable ArrayBuffer, whose memory can shrink
 * under the tensor, is copied instead.
 *
 * `dtype` reads the memory as a dtype that has no typed array of its own: a Uint16Array as float16
 * or bfloat16 (their bits), a Uint8Array as bool (bytes 0 and 1); for the others it must be the
 * typed array's own dtype.
 *
 * @example
 * ```ts
 * const a = new Float32Array([1, 2, 3, 4]);
 * const t = fromTypedArray(a, [2, 2]);
 * a[0] = 10;                       // seen by t: t.toArray() is [[10, 2], [3, 4]]
 * const h = fromTypedArray(new Uint16Array([0x3c00, 0x4000]), [2], 'float16');   // [1, 2]
 * ```
 */
export function fromTypedArray(
  data: Float32Array | Float64Array | Int32Array | BigInt64Array | Uint16Array | Uint8Array,
  shape?: readonly number[],
  dtype?: DType,
): Tensor {
  const own = dtypeOfTypedArray(data);
  if (dtype !== undefined) {
    checkDType('fromTypedArray', 'dtype', dtype);
    if (!(data instanceof dtypeInfo[dtype].arrayType)) {
      throw new DTypeError('fromTypedArray', 'data', `a ${dtypeInfo[dtype].arrayType.name} for dtype ${dtype}`, describeValue(data));
    }
  } else if (own === null) {
    throw new DTypeError('fromTypedArray', 'data', 'a Float32Array, Float64Array, Int32Array or BigInt64Array (or a Uint16Array or Uint8Array with a dtype)', describeValue(data));
  }
  const dt = dtype ?? own!;
  const s = shape ? checkShape('fromTypedArray', 'shape', shape) : [data.length];
  if (numelOf(s) !== data.length) throw new ShapeError('fromTypedArray', 'shape', `a shape with ${data.length} elements`, fmtShape(s));
  const buffer = data.buffer;
  if (buffer instanceof ArrayBuffer && (buffer as { resizable?: boolean }).resizable === true) {
    const copy = fromHost(data, [data.length], dt);
    const t = copy.reshape(s);
    if (t !== copy) copy.dispose();
    return t;
  }
  const storage = wrapCpuBuffer(buffer);
  return new Tensor(storage, s, contiguousStrides(s), data.byteOffset / data.BYTES_PER_ELEMENT, dt);
}

function factoryArgs(op: string, shape: readonly number[], opts?: CreateOptions): { shape: number[]; dtype: DType; dev: Device } {
  checkOptionKeys(op, opts, createKeys);
  return {
    shape: checkShape(op, 'shape', shape),
    dtype: opts?.dtype === undefined ? defaultFloat : checkDType(op, 'dtype', opts.dtype),
    dev: toDevice(opts?.device ?? 'cpu'),
  };
}

/** An uninitialised tensor (contents are whatever the allocator's block held). */
export function empty(shape: readonly number[], opts?: CreateOptions): Tensor {
  const a = factoryArgs('empty', shape, opts);
  return finish(emptyOn(a.shape, a.dtype, a.dev), opts);
}

/**
 * A tensor filled with `value` (bool for a boolean value, float32 otherwise, unless `dtype` is given).
 * A value the dtype cannot hold (1.5 or 3e9 for int32, 2 for bool) is a ValueError naming 'value'.
 *
 * @example
 * ```ts
 * const t = full([2, 3], 7, { dtype: 'int32' });
 * ```
 */
export function full(shape: readonly number[], value: number | boolean, opts?: CreateOptions): Tensor {
  return fullAs('full', shape, value, opts);
}

/** full() whose errors name the factory the user called (zeros, onesLike, ...). */
function fullAs(op: string, shape: readonly number[], value: number | boolean, opts?: CreateOptions): Tensor {
  const a = factoryArgs(op, shape, { dtype: typeof value === 'boolean' ? 'bool' : undefined, ...opts });
  const v = scalarValue(op, 'value', value, a.dtype); // before allocating: 3e9 for int32 is an error
  const t = emptyOn(a.shape, a.dtype, a.dev);
  if (t.numel > 0) launchKernel('fill', [], [t], [v]);
  return finish(t, opts);
}

/** A tensor of zeros (float32 unless `dtype` is given). */
export const zeros = (shape: readonly number[], opts?: CreateOptions): Tensor => fullAs('zeros', shape, 0, opts);
/** A tensor of ones (float32 unless `dtype` is given). */
export const ones = (shape: readonly number[], opts?: CreateOptions): Tensor => fullAs('ones', shape, 1, opts);

const likeOpts = (t: Tensor, opts?: CreateOptions): CreateOptions => ({ dtype: t.dtype, device: t.device, ...opts });
/** Zeros of `t`'s shape, dtype and device (options override them). */
export const zerosLike = (t: Tensor, opts?: CreateOptions): Tensor => fullAs('zerosLike', t.shape, 0, likeOpts(t, opts));
/** Ones of `t`'s shape, dtype and device (options override them). */
export const onesLike = (t: Tensor, opts?: CreateOptions): Tensor => fullAs('onesLike', t.shape, 1, likeOpts(t, opts));
/** `v` in `t`'s shape, dtype and device (options override them). */
export const fullLike = (t: Tensor, v: number | boolean, opts?: CreateOptions): Tensor => fullAs('fullLike', t.shape, v, likeOpts(t, opts));
/** An uninitialised tensor of `t`'s shape, dtype and device (options override them). */
export const emptyLike = (t: Tensor, opts?: CreateOptions): Tensor => empty(t.shape, likeOpts(t, opts));

/** 0-d tensor. */
export const scalarTensor = (value: number | boolean, opts?: CreateOptions): Tensor => fullAs('scalarTensor', [], value, opts);

/**
 * Values start, start+step, ... below end. `arange(5)` is [0..4]. int64 when all arguments are
 * integers (as PyTorch), the default float dtype otherwise. A step whose sign disagrees with
 * end - start (arange(5, 2)) is a ValueError; start = end gives an empty tensor.
 */
export function arange(start: number, end?: number, step = 1, opts?: CreateOptions): Tensor {
  if (end === undefined) [start, end] = [0, start];
  checkOptionKeys('arange', opts, createKeys);
  for (const [k, v] of [['start', start], ['end', end], ['step', step]] as const) checkFinite('arange', k, v);
  if (step === 0) throw new ValueError('arange', 'step', 'a nonzero step', '0');
  // as PyTorch: arange(5, 2) is an error, not empty ("upper bound and larger bound inconsistent
  // with step sign"); arange(2, 2) is empty
  if ((step > 0 && end < start) || (step < 0 && end > start)) {
    throw new ValueError('arange', 'step', `a step whose sign agrees with end - start = ${end - start} (upper bound and larger bound inconsistent with step sign)`, String(step));
  }
  const n = Math.max(0, Math.ceil((end - start) / step));
  // a count beyond 2^53 is not even a number of elements (arange(0, 1e300)); whether a smaller one
  // fits in memory is the allocator's to say
  if (!Number.isSafeInteger(n)) throw new ValueError('arange', 'end', 'a range of at most 2^53 - 1 values ((end - start) / step)', String((end - start) / step));
  const allInt = [start, end, step].every(Number.isInteger);
  const dtype = opts?.dtype ?? (allInt ? 'int64' : defaultFloat);
  const dev = toDevice(opts?.device ?? 'cpu');
  checkDType('arange', 'dtype', dtype);
  if (n > 0) checkIntegerEnds('arange', 'end', dtype, start, start + (n - 1) * step);
  const t = emptyOn([n], dtype, dev);
  if (n > 0) launchKernel('arange', [], [t], [start, step]);
  return finish(t, opts);
}

/**
 * For an integer dtype, the first and last values of a sequence (truncated, as they will be stored)
 * must fit it: the conversion would otherwise saturate silently. `arg` names the argument blamed for
 * the last value.
 */
function checkIntegerEnds(op: string, arg: string, dtype: DType, first: number, last: number): void {
  if (dtype !== 'int32' && dtype !== 'int64') return;
  scalarValue(op, 'start', Math.trunc(first), dtype);
  scalarValue(op, arg, Math.trunc(last), dtype);
}

/**
 * steps values evenly spaced from start to end inclusive. As PyTorch, the first half counts up from
 * start and the second half down from end (end - step * (steps - 1 - i)), so both endpoints are exact.
 */
export function linspace(start: number, end: number, steps: number, opts?: CreateOptions): Tensor {
  checkOptionKeys('linspace', opts, createKeys);
  checkInt('linspace', 'steps', steps, 0);
  checkFinite('linspace', 'start', start);
  checkFinite('linspace', 'end', end);
  const step = steps > 1 ? (end - start) / (steps - 1) : 0;
  if (!Number.isFinite(step)) throw new ValueError('linspace', 'end', 'end - start within the range of a double', `${end} - ${start}`);
  const dtype = checkDType('linspace', 'dtype', opts?.dtype ?? defaultFloat);
  if (steps > 0) checkIntegerEnds('linspace', 'end', dtype, start, steps > 1 ? end : start);
  const t = emptyOn([steps], dtype, toDevice(opts?.device ?? 'cpu'));
  const half = steps === 1 ? 1 : Math.floor(steps / 2); // one step: [start], as PyTorch
  if (half > 0) {
    const lower = new Tensor(t.storage, [half], [1], 0, dtype);
    launchKernel('arange', [], [lower], [start, step]);
    lower.dispose();
  }
  if (steps - half > 0) {
    // a view running backwards from the last element: element j is end - j * step
    const upper = new Tensor(t.storage, [steps - half], [-1], steps - 1, dtype);
    launchKernel('arange', [], [upper], [end, -step]);
    upper.dispose();
  }
  return finish(t, opts);
}

/** n×m identity matrix. */
export function eye(n: number, m = n, opts?: CreateOptions): Tensor {
  checkShape('eye', 'n', [n]);
  checkShape('eye', 'm', [m]);
  const a = factoryArgs('eye', [n, m], opts);
  const t = emptyOn(a.shape, a.dtype, a.dev);
  if (t.numel > 0) {
    launchKernel('fill', [], [t], [0]);
    // the diagonal is a strided view: stride m + 1 over min(n, m) elements
    const diag = new Tensor(t.storage, [Math.min(n, m)], [m + 1], 0, t.dtype);
    launchKernel('fill', [], [diag], [1]);
    diag.dispose();
  }
  return finish(t, opts);
}
