/**
 * Kiln's typed errors. Messages name the op, the argument, and what was expected against what was
 * given, like PyTorch's TORCH_CHECK messages:
 * `mul: argument 'other' expected a shape broadcastable to [4, 3], got [3, 2]`.
 */
export class KilnError extends Error {
  /**
   * `new XError(op, arg, expected, got)` builds the standard message; `new XError(message)` takes a
   * finished one (errors raised by the native addons arrive that way).
   */
  constructor(opOrMessage: string, arg?: string | null, expected?: string, got?: string) {
    super(expected === undefined ? opOrMessage : describe(opOrMessage, arg ?? null, expected, got ?? ''));
    this.name = new.target.name;
  }
}

function describe(op: string, arg: string | null, expected: string, got: string): string {
  return arg === null ? `${op}: expected ${expected}, got ${got}` : `${op}: argument '${arg}' expected ${expected}, got ${got}`;
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
/** An internal invariant broke: a bug in Kiln. */
export class InternalError extends KilnError {}

const byKind: Record<string, new (msg: string) => KilnError> = {
  shape: ShapeError, dtype: DTypeError, device: DeviceError, value: ValueError,
  cuda: CudaError, memory: OutOfMemoryError, internal: InternalError,
};

/** An error raised by a native addon carries `kind`: give it its typed class. */
export function fromNativeError(e: unknown): unknown {
  if (!(e instanceof Error) || e instanceof KilnError) return e;
  const cls = byKind[(e as Error & { kind?: string }).kind ?? ''];
  return cls ? new cls(e.message) : e;
}
