/**
 * Grad mode: whether ops record the graph (PyTorch's torch.no_grad / torch.enable_grad). One global
 * flag, as JS runs one thread; the function forms restore it when fn returns or throws, the `using`
 * forms when the scope ends:
 *
 * ```ts
 * const y = noGrad(() => w.sub_(g.mul(lr)));      // function form
 * { using _ = noGradScope(); w.sub_(g.mul(lr)); }  // scope form
 * ```
 *
 * The flag covers synchronous code only: an async fn's awaits would run after the mode was restored, so
 * the function forms refuse an fn that returns a Promise.
 */
import { ValueError, describeValue, isThenable } from '@kiln/tensor';

let enabled = true;

/** True when ops on tensors that require grad are recorded. */
export function isGradEnabled(): boolean {
  return enabled;
}

/** Sets grad mode; returns the previous value. */
export function setGradEnabled(on: boolean): boolean {
  const previous = enabled;
  enabled = on;
  return previous;
}

/** Runs fn with grad mode set to `on`, restoring the previous mode afterwards. */
export function withGradMode<R>(on: boolean, fn: () => R, op = 'withGradMode'): R {
  if (typeof fn !== 'function') throw new ValueError(op, 'fn', 'a function to run', describeValue(fn));
  const previous = enabled;
  enabled = on;
  let result: R;
  try {
    result = fn();
  } finally {
    enabled = previous;
  }
  // the mode covers synchronous code only: after an await the caller's mode is back, so an async
  // fn would record (or not) against what it asked for
  if (isThenable(result)) throw new ValueError(op, 'fn', 'a synchronous function (grad mode does not last past an await)', 'a function that returned a Promise');
  return result;
}

/**
 * Runs fn without recording the graph (parameter updates, evaluation).
 *
 * @example
 * ```ts
 * noGrad(() => w.sub_(w.grad!.mul(0.1)));   // an SGD step on a leaf that requires grad
 * ```
 */
export function noGrad<R>(fn: () => R): R {
  return withGradMode(false, fn, 'noGrad');
}

/** Runs fn with recording on, also inside a noGrad region. */
export function enableGrad<R>(fn: () => R): R {
  return withGradMode(true, fn, 'enableGrad');
}

/** A Disposable that sets grad mode until disposed: `using _ = gradModeScope(false)`. */
export function gradModeScope(on: boolean): Disposable {
  const previous = enabled;
  enabled = on;
  let done = false;
  return {
    [Symbol.dispose](): void {
      if (done) return;
      done = true;
      enabled = previous;
    },
  };
}

/** `using _ = noGradScope();` turns recording off until the end of the block. */
export const noGradScope = (): Disposable => gradModeScope(false);
/** `using _ = enableGradScope();` turns recording on until the end of the block. */
export const enableGradScope = (): Disposable => gradModeScope(true);
