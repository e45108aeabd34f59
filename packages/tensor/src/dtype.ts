/**
 * Element types. The numeric codes are shared with the native addons (native/include/kiln/dtype.h).
 * float16 and bfloat16 are stored as 16-bit words and computed in float32 by the kernels.
 */
import { DTypeError } from './errors.js';

/**
 * A tensor's element type. `float16` and `bfloat16` are stored as 16-bit words and computed in
 * float32 by the kernels; `bool` is one byte per element.
 */
export type DType = 'float32' | 'float64' | 'int32' | 'int64' | 'bool' | 'float16' | 'bfloat16';

/** Every dtype, in the order of their native codes. */
export const DTYPES: readonly DType[] = ['float32', 'float64', 'int32', 'int64', 'bool', 'float16', 'bfloat16'];

/** The JS array type that holds a dtype's storage on the CPU. */
export type StorageArray = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array | Uint16Array;

/** What Kiln knows of a dtype: its native code, size, category and host array type. */
export interface DTypeInfo {
  /** The code the native addons use for it (native/include/kiln/dtype.h). */
  readonly code: number;
  /** Bytes per element. */
  readonly itemsize: number;
  /** True for float32, float64, float16 and bfloat16. */
  readonly isFloating: boolean;
  /** Rank in the promotion lattice: bool < int32 < int64 < (floats by `floatRank`). */
  readonly kind: 'bool' | 'int' | 'float';
  /** The typed array class that views a CPU storage of this dtype (Uint16Array for the half types). */
  readonly arrayType: {
    /** Views `length` elements of `buffer` from `byteOffset`. */
    new (buffer: ArrayBufferLike, byteOffset?: number, length?: number): StorageArray;
    /** Bytes per element of the array type. */
    BYTES_PER_ELEMENT: number;
  };
}

/** {@link DTypeInfo} of every dtype. */
export const dtypeInfo: Readonly<Record<DType, DTypeInfo>> = {
  float32: { code: 0, itemsize: 4, isFloating: true, kind: 'float', arrayType: Float32Array },
  float64: { code: 1, itemsize: 8, isFloating: true, kind: 'float', arrayType: Float64Array },
  int32: { code: 2, itemsize: 4, isFloating: false, kind: 'int', arrayType: Int32Array },
  int64: { code: 3, itemsize: 8, isFloating: false, kind: 'int', arrayType: BigInt64Array },
  bool: { code: 4, itemsize: 1, isFloating: false, kind: 'bool', arrayType: Uint8Array },
  float16: { code: 5, itemsize: 2, isFloating: true, kind: 'float', arrayType: Uint16Array },
  bfloat16: { code: 6, itemsize: 2, isFloating: true, kind: 'float', arrayType: Uint16Array },
};

/** True when `x` names a dtype. */
export function isDType(x: unknown): x is DType {
  return typeof x === 'string' && x in dtypeInfo;
}

/** Returns `x` as a DType, or throws a DTypeError naming `op` and the argument `arg`. */
export function checkDType(op: string, arg: string, x: unknown): DType {
  if (!isDType(x)) throw new DTypeError(op, arg, `one of ${DTYPES.join(', ')}`, String(x));
  return x;
}

/** True for the floating-point dtypes (the ones that can require gradients). */
export const isFloating = (d: DType): boolean => dtypeInfo[d].isFloating;

/** The default float dtype (PyTorch's torch.get_default_dtype()). */
export const defaultFloat: DType = 'float32';

/**
 * PyTorch's type promotion for two tensor operands: the higher category wins (bool < int < float);
 * within floats, float64 > float32 > the half types, and float16 with bfloat16 gives float32.
 */
export function promoteTypes(a: DType, b: DType): DType {
  if (a === b) return a;
  const ka = dtypeInfo[a].kind, kb = dtypeInfo[b].kind;
  if (ka !== kb) {
    const order = { bool: 0, int: 1, float: 2 } as const;
    return order[ka] > order[kb] ? a : b;
  }
  if (ka === 'int') return 'int64';
  // both float
  if (a === 'float64' || b === 'float64') return 'float64';
  return 'float32';
}

/**
 * The result dtype of a tensor with a JS number (a "weak" scalar, as in PyTorch): the tensor's dtype
 * unless the number needs a higher category (a fractional number with an integer or bool tensor).
 */
export function promoteWithScalar(t: DType, s: number | boolean): DType {
  const kind = dtypeInfo[t].kind;
  if (typeof s === 'boolean') return t;
  if (kind === 'float') return t;
  if (!Number.isInteger(s)) return defaultFloat;
  return kind === 'bool' ? 'int64' : t;
}
