/**
 * A full garbage collection on demand, for the last resort before an out-of-memory error: tensors
 * dropped without dispose() hold native memory until a collection takes their JS objects (the
 * addons then return the blocks at once, see native/core/weak_owners.h), and under memory pressure
 * V8 may not have run a full one yet.
 *
 * Node exposes `gc()` only with `--expose-gc`. Without it, the flag is set for a moment through
 * `v8.setFlagsFromString` while a fresh `vm` context is made (each context reads the flag when it
 * is created and gets its own `gc`), then set back, so no other code sees a `gc` global appear.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { OutOfMemoryError, fromNativeError } from '../errors.js';

let gcFunction: (() => void) | null | undefined;

function findGc(): (() => void) | null {
  const own = (globalThis as { gc?: unknown }).gc;
  if (typeof own === 'function') return own as () => void;
  try {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as unknown;
    return typeof gc === 'function' ? (gc as () => void) : null;
  } catch {
    return null;
  } finally {
    setFlagsFromString('--no-expose-gc');
  }
}

/** Runs a full (major) garbage collection; false when the runtime does not allow forcing one. */
export function collectGarbage(): boolean {
  if (gcFunction === undefined) gcFunction = findGc();
  if (gcFunction === null) return false;
  gcFunction();
  return true;
}

/**
 * Runs `alloc`; when the allocator is out of memory, forces a full garbage collection, lets the
 * addon return the blocks of the tensors it took (`sweep`) and tries once more, so that memory held
 * only by forgotten tensors never causes an OutOfMemoryError. Used by each device's allocation.
 */
export function allocateOrCollect<T>(alloc: () => T, sweep: () => void): T {
  try {
    return alloc();
  } catch (e) {
    const err = fromNativeError(e);
    if (!(err instanceof OutOfMemoryError) || !collectGarbage()) throw err;
    sweep();
    try {
      return alloc();
    } catch (again) {
      throw fromNativeError(again);
    }
  }
}
