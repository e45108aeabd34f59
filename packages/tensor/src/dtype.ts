/**
 * Element types. The numeric codes are shared with the native addons (native/include/kiln/dtype.h).
 * float16 and bfloat16 are stored as 16-bit words and computed in float32 by the kernels.
 */
import { DTypeError, ValueError } from './errors.js';

/**
 * A tensor's element type. `float16` and `bfloat16` are stored as 16-bit words and computed in
 * float32 by the kernels; `bool` is one byte per element.
 */
export type DType = 'float32' | 'float64' | 'int32' | 'int64' | 'bool' | 'float16' | 'bfloat16';

/** Every dtype but bool: the dtypes whose elements read as numbers. */
export type NumericDType = Exclude<DType, 'bool'>;

/** What one element of a tensor of dtype `D` reads as in JS: a boolean for bool, else a number. */
export type ScalarOf<D extends DType> = D extends 'bool' ? boolean : number;

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

/** Promotion categories, lowest first: bool < integer < floating. */
const CATEGORY = { bool: 0, int: 1, float: 2 } as const;

/**
 * PyTorch's promotion of two dtypes (torch.promote_types), whatever the operands' dimensions: the
 * higher category wins (bool < int < float); within a category the larger type (int32 with int64
 * gives int64; float64 > float32 > the half types), and float16 with bfloat16 gives float32.
 */
export function promoteTypes(a: DType, b: DType): DType {
  if (a === b) return a;
  const ka = dtypeInfo[a].kind, kb = dtypeInfo[b].kind;
  if (ka !== kb) return CATEGORY[ka] > CATEGORY[kb] ? a : b;
  if (ka === 'int') return 'int64';
  // both float
  if (a === 'float64' || b === 'float64') return 'float64';
  return 'float32';
}

/** What {@link resultType} reads of a tensor operand (a Tensor is one). */
export interface PromotionTensor {
  /** The tensor's dtype. */
  readonly dtype: DType;
  /** Its number of dimensions: 0-d tensors rank below dimensioned ones. */
  readonly ndim: number;
}

/** An operand of {@link resultType}: a tensor (only its dtype and number of dimensions count) or a JS scalar. */
export type PromotionOperand = PromotionTensor | number | boolean;

/**
 * The dtype a JS scalar stands for in promotion (PyTorch's "wrapped numbers"): bool for a boolean,
 * int64 for an integer, the default float dtype for anything else (fractions, NaN, ±Infinity). A JS
 * `2.0` is the integer 2: JS cannot tell them apart.
 */
export function scalarDType(s: number | boolean): DType {
  if (typeof s === 'boolean') return 'bool';
  return Number.isInteger(s) ? 'int64' : defaultFloat;
}

/**
 * The dtype an op computes in from its operands, as PyTorch's torch.result_type (the "type promotion"
 * rules of PyTorch's torch.dtype documentation):
 *
 * 1. Operands fall in three tiers, highest first: tensors with one or more dimensions, 0-d tensors,
 *    JS numbers and booleans (each standing for {@link scalarDType}: int64, float32 or bool).
 * 2. Within a tier the dtypes promote with {@link promoteTypes} (sizes count).
 * 3. Tiers combine from the highest present down: a lower tier changes the result only when its
 *    category is higher (bool < integer < floating), and then the result is the lower tier's own
 *    dtype; a lower tier of the same or a lower category is ignored, whatever its size.
 *
 * So [2] float16 + 0-d float32 is float16, [2] int32 + 0-d int64 int32, [2] int32 + 0-d float64
 * float64 (the 0-d tensor's own dtype), [2] int32 + 2.5 float32 (the default float), [2] bool + 2
 * int64, and a 0-d tensor with a JS number promotes as a dimensioned one would.
 */
export function resultType(...operands: readonly PromotionOperand[]): DType {
  // per tier: [dimensioned, 0-d, JS scalars]
  const tiers: (DType | undefined)[] = [undefined, undefined, undefined];
  for (const o of operands) {
    const [tier, dt] = typeof o === 'object' ? [o.ndim > 0 ? 0 : 1, o.dtype] : [2, scalarDType(o)];
    const cur = tiers[tier];
    tiers[tier] = cur === undefined ? dt : promoteTypes(cur, dt);
  }
  let result: DType | undefined;
  for (const dt of tiers) {
    if (dt === undefined) continue;
    if (result === undefined || CATEGORY[dtypeInfo[dt].kind] > CATEGORY[dtypeInfo[result].kind]) result = dt;
  }
  if (result === undefined) throw new DTypeError('resultType', 'operands', 'at least one operand', 'none');
  return result;
}

/**
 * The result dtype of a dimensioned tensor of dtype `t` with a JS number or boolean:
 * `resultType({ dtype: t, ndim: 1 }, s)`. The tensor's dtype unless the scalar is of a higher
 * category (a fraction with an integer or bool tensor gives float32, an integer with a bool tensor
 * int64).
 */
export function promoteWithScalar(t: DType, s: number | boolean): DType {
  return resultType({ dtype: t, ndim: 1 }, s);
}

/**
 * Throws a DTypeError naming `op` and `arg` unless `value` is a JS number or boolean, the scalars
 * ops take where they take a tensor.
 */
export function checkScalar(op: string, arg: string, value: unknown): asserts value is number | boolean {
  if (typeof value !== 'number' && typeof value !== 'boolean') {
    throw new DTypeError(op, arg, 'a Tensor, a number or a boolean', describeScalar(value));
  }
}

function describeScalar(v: unknown): string {
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v)}`;
  if (typeof v === 'bigint') return `the bigint ${v}n (use a number)`;
  if (v === null || v === undefined) return String(v);
  return typeof v === 'object' ? `a ${(v).constructor?.name ?? 'object'}` : typeof v;
}

/** What int32 and int64 hold: [min, end) as doubles (int64's max, 2^63 - 1, is no double; 2^63 is one). */
const INT_RANGE = {
  int32: { min: -(2 ** 31), end: 2 ** 31, text: '[-2^31, 2^31 - 1]' },
  int64: { min: -(2 ** 63), end: 2 ** 63, text: '[-2^63, 2^63 - 1]' },
} as const;

/**
 * A JS number or boolean checked against `dtype` before a kernel converts it, returned as the number
 * the kernel receives; every place the tensor core hands a JS value to a kernel for a tensor of
 * `dtype` goes through here (a double out of an integer type's range is undefined behaviour in C++,
 * and would wrap silently):
 *
 * - int32, int64: an integer within the dtype's range, else a ValueError naming `op` and `arg`
 *   (PyTorch: "value cannot be converted to type int32_t without overflow"); fractions, NaN and
 *   ±Infinity are refused too;
 * - bool: true, false, 0 or 1;
 * - floating dtypes: any number (rounded to the dtype, as PyTorch).
 *
 * Anything but a number or a boolean (a string, a bigint, null, an object) is a DTypeError: `'3'` is
 * not coerced, as PyTorch refuses `x.add('3')`.
 */
export function scalarValue(op: string, arg: string, value: number | boolean, dtype: DType): number {
  if (typeof value === 'boolean') return Number(value);
  checkScalar(op, arg, value);
  const v = value;
  if (dtype === 'bool') {
    if (v !== 0 && v !== 1) throw new ValueError(op, arg, 'a boolean (or 0/1) for a bool tensor', String(value));
  } else if (dtype === 'int32' || dtype === 'int64') {
    const r = INT_RANGE[dtype];
    if (!Number.isInteger(v)) throw new ValueError(op, arg, `an integer for an ${dtype} tensor`, String(value));
    if (v < r.min || v >= r.end) {
      throw new ValueError(op, arg, `a value ${dtype} can hold, in ${r.text} (it cannot be converted to ${dtype} without overflow)`, String(value));
    }
  }
  return v;
}
