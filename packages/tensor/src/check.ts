/**
 * Checks of user-given numbers shared by the ops: sizes, indices and window geometry. Every size,
 * dimension and index a user passes is a safe integer in its range before it reaches a shape, an
 * offset or a kernel attribute; anything else (2.5, NaN, Infinity, -5, '3', 2^60) is a typed error
 * naming the op and the argument.
 */
import { DTypeError, ValueError } from './errors.js';

/** The most dimensions a tensor that reaches a kernel may have (native/include/kiln/kernel.h kMaxDims). */
export const MAX_DIMS = 12;

/**
 * A short description of any value for an error message (never throws: a symbol, an object with a
 * throwing toString, a long array).
 */
export function describeValue(v: unknown): string {
  try {
    if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v);
    if (typeof v === 'bigint') return `${v}n`;
    if (typeof v === 'symbol' || typeof v === 'function') return typeof v;
    if (Array.isArray(v)) return v.length > 8 ? `an array of ${v.length} values` : `[${v.map(describeValue).join(', ')}]`;
    if (v !== null && typeof v === 'object') {
      const name = (v).constructor?.name ?? 'object';
      // 'an Object', 'an Int32Array'; 'a Uint8Array' (a 'you' sound), 'a Map'
      return `${/^[aeio]/i.test(name) ? 'an' : 'a'} ${name}`;
    }
    return String(v);
  } catch {
    return typeof v;
  }
}

/**
 * Array.isArray for a union with an array member: narrows to that member with its element type
 * (Array.isArray alone turns a readonly array into any[]).
 *
 * @example
 * ```ts
 * const boxes: Tensor | readonly Tensor[] = perImage;
 * if (isArrayMember(boxes)) boxes.map((b) => b.shape[0]);   // boxes: readonly Tensor[]
 * ```
 */
export function isArrayMember<T>(x: T): x is Extract<T, readonly unknown[]> {
  return Array.isArray(x);
}

/**
 * `v` as an integer in [min, max] (both safe integers), else a ValueError naming `op` and `arg`: a
 * fraction, NaN, ±Infinity, a number beyond 2^53 or a non-number is refused, never truncated.
 */
export function checkInt(op: string, arg: string, v: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `an integer >= ${min}` : `an integer in [${min}, ${max}]`;
    throw new ValueError(op, arg, range, describeValue(v));
  }
  return v;
}

/** A finite number, else a ValueError (a non-number is a DTypeError). */
export function checkFinite(op: string, arg: string, v: unknown): number {
  if (typeof v !== 'number') throw new DTypeError(op, arg, 'a number', describeValue(v));
  if (!Number.isFinite(v)) throw new ValueError(op, arg, 'a finite number', String(v));
  return v;
}

/**
 * Refuses an options object with a key the op does not know: a misspelt option (`{ descend: true }`)
 * would otherwise be ignored, where PyTorch refuses an unknown keyword argument; a key whose value
 * is undefined passes. `known` has a key for every option of the type, so the compiler flags a list
 * that misses one.
 *
 * @example
 * ```ts
 * checkOptionKeys('sort', options, { descending: true, stable: true });
 * ```
 */
export function checkOptionKeys<T extends object>(
  op: string, options: T | null | undefined, known: { readonly [K in keyof Required<T>]: true }, argument = 'options',
): void {
  if (options === undefined || options === null) return;
  if (typeof options !== 'object') throw new ValueError(op, argument, 'an object of options', describeValue(options));
  for (const [key, value] of Object.entries(options)) {
    // an undefined value gives nothing that could be ignored (option objects built generically have them)
    if (value !== undefined && !Object.hasOwn(known, key)) {
      throw new ValueError(op, argument, `only the options ${Object.keys(known).join(', ')}`, JSON.stringify(key));
    }
  }
}

/** A boolean, else a ValueError. */
export function checkBoolean(op: string, arg: string, v: unknown): boolean {
  if (typeof v !== 'boolean') throw new ValueError(op, arg, 'true or false', describeValue(v));
  return v;
}

/** A size given once for both spatial dims, or as [height, width]. */
export type Size2 = number | readonly [number, number];

/** [h, w] from a Size2, each an integer >= min (kernel sizes, strides, paddings, dilations). */
export function sizePair(op: string, arg: string, v: Size2, min: number): [number, number] {
  const isPair = Array.isArray(v) && v.length === 2;
  const p = isPair ? [v[0], v[1]] : [v, v];
  if ((typeof v !== 'number' && !isPair) || !p.every((x) => typeof x === 'number' && Number.isSafeInteger(x) && x >= min)) {
    throw new ValueError(op, arg, `an integer >= ${min} or a pair of them`, describeValue(v));
  }
  return p as [number, number];
}
