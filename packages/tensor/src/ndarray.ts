/**
 * Interop with the `ndarray` package (scijs): a CPU tensor and an ndarray can view the same
 * memory, with shape, strides and offset carried over, so writes through either are seen by the
 * other (as torch.from_numpy / .numpy()).
 *
 * ```ts
 * const t = tensor([[1, 2], [3, 4]], { dtype: 'float32' });
 * const a = toNdarray(t.t());    // a transposed view: a.get(0, 1) === 3
 * a.set(0, 0, 10);               // t.toArray()[0][0] === 10
 * const u = fromNdarray(ndarray(new Float64Array(6), [2, 3]));   // shares the Float64Array
 * ```
 */
import ndarray from 'ndarray';
import { type DType, dtypeInfo } from './dtype.js';
import { DTypeError, DeviceError, ValueError } from './errors.js';
import { fromTypedArray, tensor } from './ops/creation.js';
import { fmtShape } from './shape.js';
import { Tensor } from './tensor.js';

/** The typed arrays a tensor's memory is viewed through (bool: Uint8Array of 0/1). */
export type NdarrayData = Float32Array<ArrayBuffer> | Float64Array<ArrayBuffer> | Int32Array<ArrayBuffer> | BigInt64Array<ArrayBuffer> | Uint8Array<ArrayBuffer>;

/**
 * An ndarray over a CPU tensor's memory, without copying: the tensor's shape, strides and offset.
 * float32, float64, int32, int64 (BigInt64Array) and bool (Uint8Array: write only 0 or 1) tensors;
 * a float16/bfloat16 tensor must be converted first (`.to('float32')`), a CUDA one copied to the
 * CPU (`.cpu()`). The ndarray is valid while the tensor's memory is: after `dispose()` of the last
 * tensor using it, its data is detached (empty), never dangling.
 */
export function toNdarray(t: Tensor): ndarray.NdArray<NdarrayData> {
  t.assertAlive('toNdarray');
  if (t.device.type !== 'cpu') {
    throw new DeviceError('toNdarray', 'input', 'a CPU tensor (an ndarray views host memory: call .cpu() first)', `a tensor on ${t.device}`);
  }
  if (t.dtype === 'float16' || t.dtype === 'bfloat16') {
    throw new DTypeError('toNdarray', 'input', "float32, float64, int32, int64 or bool (ndarray has no 16-bit float type: call .to('float32') first)", t.dtype);
  }
  const info = dtypeInfo[t.dtype];
  const data = new info.arrayType(t.storage.buffer!, 0, Math.floor(t.storage.nbytes / info.itemsize)) as NdarrayData;
  return ndarray<NdarrayData>(data, [...t.shape], [...t.strides], t.offset);
}

/** What fromNdarray accepts: any ndarray (its data a typed array, a plain array or get/set). */
export interface NdarrayLike {
  /** The elements: a typed array, a plain array, or an object with get(i) and length. */
  data: ArrayLike<unknown> | {
    /** Element i of the flat storage. */
    get(i: number): unknown;
    /** Number of elements in the flat storage. */
    length: number;
  };
  /** Sizes, outermost first. */
  shape: number[];
  /** Elements to step per index of each dimension. */
  stride: number[];
  /** Position of element [0, ...] in data. */
  offset: number;
}

function sharedDType(data: unknown): DType | null {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Float64Array) return 'float64';
  if (data instanceof Int32Array) return 'int32';
  if (data instanceof BigInt64Array) return 'int64';
  return null;
}

/**
 * A tensor from an ndarray. When its data is a Float32Array, Float64Array, Int32Array or
 * BigInt64Array (and its strides are not negative, which Kiln's tensors cannot express) the tensor
 * shares that memory; otherwise the values are copied: small integer typed arrays become int32,
 * Uint32Array int64, plain arrays follow `tensor()`'s inference (bool, int64, else float32).
 * `opts.dtype` asks for a dtype (a copy when it is not the shared one).
 */
export function fromNdarray(nd: NdarrayLike, opts?: { dtype?: DType }): Tensor {
  const shape = [...nd.shape], stride = [...nd.stride], offset = nd.offset;
  if (shape.some((s) => !Number.isInteger(s) || s < 0)) throw new ValueError('fromNdarray', 'nd', 'a shape of non-negative integers', fmtShape(shape));
  if (stride.length !== shape.length || stride.some((s) => !Number.isInteger(s))) {
    throw new ValueError('fromNdarray', 'nd', `${shape.length} integer strides`, fmtShape(stride));
  }
  const numel = shape.reduce((a, b) => a * b, 1);
  const data = nd.data as ArrayLike<unknown> & { get?: (i: number) => unknown };
  // the element offsets the ndarray reaches must lie inside its data
  if (numel > 0) {
    let lo = offset, hi = offset;
    shape.forEach((s, d) => {
      const reach = (s - 1) * stride[d];
      if (reach < 0) lo += reach;
      else hi += reach;
    });
    if (!Number.isInteger(offset) || lo < 0 || hi >= data.length) {
      throw new ValueError('fromNdarray', 'nd', `shape, strides and offset inside its data (${data.length} elements)`, `elements ${lo}..${hi}`);
    }
  }
  const dtype = sharedDType(data);
  if (dtype !== null && stride.every((s) => s >= 0) && (opts?.dtype === undefined || opts.dtype === dtype)) {
    const base = fromTypedArray(data as Float32Array | Float64Array | Int32Array | BigInt64Array);
    const t = new Tensor(base.storage, shape, stride, numel > 0 ? base.offset + offset : base.offset, dtype);
    base.dispose(); // t keeps the storage
    return t;
  }
  return copyOf(data, shape, stride, offset, numel, opts?.dtype);
}

function copyDType(data: unknown): DType | undefined {
  if (data instanceof Int8Array || data instanceof Uint8Array || data instanceof Uint8ClampedArray || data instanceof Int16Array || data instanceof Uint16Array) return 'int32';
  if (data instanceof Uint32Array || data instanceof BigUint64Array) return 'int64';
  return sharedDType(data) ?? undefined;
}

function copyOf(data: ArrayLike<unknown> & { get?: (i: number) => unknown }, shape: number[], stride: number[], offset: number, numel: number, dtype?: DType): Tensor {
  const read = typeof data.get === 'function' ? (i: number) => data.get!(i) : (i: number) => data[i];
  const values = new Array<number | boolean | bigint>(numel);
  const idx = new Array<number>(shape.length).fill(0);
  for (let n = 0; n < numel; n++) {
    let at = offset;
    for (let d = 0; d < shape.length; d++) at += idx[d] * stride[d];
    const v = read(at);
    if (typeof v !== 'number' && typeof v !== 'boolean' && typeof v !== 'bigint') {
      throw new ValueError('fromNdarray', 'nd', 'numbers, booleans or bigints', `${typeof v} at element ${at}`);
    }
    if (typeof v === 'bigint' && (v >= 1n << 63n || v < -(1n << 63n))) throw new ValueError('fromNdarray', 'nd', 'int64 values', v.toString());
    values[n] = v;
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
  const flat = tensor(values, { dtype: dtype ?? copyDType(data) });
  const t = flat.reshape(shape);
  if (t !== flat) flat.dispose();
  return t;
}
