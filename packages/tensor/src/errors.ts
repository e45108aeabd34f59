/**
 * Kiln's typed errors. Each carries its facts as fields, as candle's structured errors do: the op
 * that raised it, the argument at fault, what was expected and what was given. The message says
 * the same in words, like PyTorch's TORCH_CHECK messages:
 * `mul: argument 'other' expected a shape broadcastable to [4, 3], got [3, 2]`.
 *
 * ```ts
 * try {
 *   a.mul(b);
 * } catch (e) {
 *   if (e instanceof ShapeError && e.argument === 'other') console.log(`${e.op} wanted ${e.expected}`);
 * }
 * ```
 */

/** The facts of an error: who raised it, about which argument, what it expected and what it got. */
export interface ErrorFacts {
  /** The op, function or module that raised the error (`'mul'`, `'Conv2d'`, `'backward'`). */
  readonly op?: string;
  /** The argument at fault, by its name in the API (`'other'`, `'weight'`); absent when no one argument is. */
  readonly argument?: string;
  /** What the op expected of the argument (`'a shape broadcastable to [4, 3]'`). */
  readonly expected?: string;
  /** What it was given (`'[3, 2]'`). */
  readonly got?: string;
}

/** The object form of a typed error's constructor: its facts and, where they are not a mismatch, a detail. */
export interface ErrorInit extends ErrorFacts {
  /**
   * Words for what is wrong, when it is not "expected ..., got ..." (`'the tensor was disposed'`);
   * the message is `op: detail`. Given with `expected`, it follows the mismatch as a hint.
   */
  readonly detail?: string;
  /** A finished message (the native addons send theirs); the default is built from the facts. */
  readonly message?: string;
}

/**
 * Base class of Kiln's typed errors. Three ways to make one:
 *
 * - `new ShapeError(op, argument, expected, got)`: the standard mismatch, every fact a field;
 * - `new AutogradError({ op, detail })` (any facts, with `detail` or `message` for the words);
 * - `new KilnError(message)`: a finished message with no facts.
 *
 * @example
 * ```ts
 * const e = new ValueError('clamp', 'min', 'a number <= max (2)', '3');
 * e.message;   // "clamp: argument 'min' expected a number <= max (2), got 3"
 * e.argument;  // 'min'
 * ```
 */
export class KilnError extends Error implements ErrorFacts {
  // declared, not initialised: a fact the error does not know is no property at all
  /** The op, function or module that raised the error. */
  declare readonly op?: string;
  /** The argument at fault, by its name in the API. */
  declare readonly argument?: string;
  /** What the op expected of the argument. */
  declare readonly expected?: string;
  /** What it was given. */
  declare readonly got?: string;

  /** The standard mismatch: `op: argument 'arg' expected <expected>, got <got>` (no argument: null). */
  constructor(op: string, argument: string | null | undefined, expected: string, got?: string);
  /** Any facts, with words for what is wrong in `detail` or a finished `message`. */
  constructor(init: ErrorInit);
  /** A finished message, with no facts. */
  constructor(message: string);
  constructor(opOrInit: string | ErrorInit, argument?: string | null, expected?: string, got?: string) {
    const init: ErrorInit =
      typeof opOrInit !== 'string' ? opOrInit
      : expected === undefined ? { message: opOrInit }
      : { op: opOrInit, argument: argument ?? undefined, expected, got: got ?? '' };
    super(init.message ?? describe(init));
    this.name = new.target.name;
    if (init.op !== undefined) this.op = init.op;
    if (init.argument !== undefined) this.argument = init.argument;
    if (init.expected !== undefined) this.expected = init.expected;
    if (init.got !== undefined) this.got = init.got;
  }
}

function describe(f: ErrorInit): string {
  const who = f.op === undefined ? '' : `${f.op}: `;
  if (f.expected === undefined) return who + (f.detail ?? (f.argument === undefined ? 'failed' : `argument '${f.argument}' is invalid`));
  const what = f.argument === undefined ? '' : `argument '${f.argument}' `;
  const mismatch = `${who}${what}expected ${f.expected}, got ${f.got ?? ''}`;
  return f.detail === undefined ? mismatch : `${mismatch}. ${f.detail}`;
}

/** Shapes that do not fit (broadcasting, matmul inner dims, reshape sizes, dims out of range). */
export class ShapeError extends KilnError {}
/** A dtype the op does not accept. */
export class DTypeError extends KilnError {}
/** Tensors on different devices, or a device that does not exist or is not loaded. */
export class DeviceError extends KilnError {}
/** A value out of its valid range (an index, a probability, an option). */
export class ValueError extends KilnError {}
/** A failure reported by the CUDA runtime. */
export class CudaError extends KilnError {}
/** A device ran out of memory; the process can go on after freeing memory. */
export class OutOfMemoryError extends KilnError {}
/** Misuse of the autograd graph (a second backward without retainGraph, a modified saved tensor). */
export class AutogradError extends KilnError {}
/** A tensor used after dispose(). */
export class DisposedError extends KilnError {}
/** A native addon that is not installed or built, or that this system cannot load. */
export class AddonLoadError extends KilnError {}
/** An internal invariant broke: a bug in Kiln. */
export class InternalError extends KilnError {}
/**
 * An extension library that cannot be loaded: the file is missing, it is not a Kiln extension, it
 * was built against another Kiln's extension ABI (the message says what to rebuild), or it offers a
 * kernel under a name that is taken.
 */
export class ExtensionError extends KilnError {}

const byKind: Record<string, new (init: ErrorInit) => KilnError> = {
  shape: ShapeError, dtype: DTypeError, device: DeviceError, value: ValueError,
  cuda: CudaError, memory: OutOfMemoryError, internal: InternalError, extension: ExtensionError,
};

/** What a native addon's error carries besides its message (native/core/binding.cc sets them). */
interface NativeErrorFields {
  kind?: string;
  op?: string;
  argument?: string;
  expected?: string;
  got?: string;
}

const textField = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

/** An error raised by a native addon carries `kind` and its facts: give it its typed class. */
export function fromNativeError(e: unknown): unknown {
  if (!(e instanceof Error) || e instanceof KilnError) return e;
  const n = e as Error & NativeErrorFields;
  const cls = byKind[n.kind ?? ''];
  if (!cls) return e;
  return new cls({
    message: e.message, op: textField(n.op), argument: textField(n.argument), expected: textField(n.expected), got: textField(n.got),
  });
}
