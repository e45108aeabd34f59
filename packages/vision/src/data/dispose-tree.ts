/** Disposing every tensor in a batch of any shape (what a data loader drops unused). */
import { Tensor } from '@kiln/tensor';

/** Disposes the tensors found in `value`: itself, the items of arrays, the values of plain objects. */
export function disposeTensors(value: unknown, seen = new Set<unknown>()): void {
  if (value === null || typeof value !== 'object' || seen.has(value)) return;
  seen.add(value);
  if (value instanceof Tensor) {
    if (!value.isDisposed) value.dispose();
  } else if (Array.isArray(value)) {
    for (const v of value) disposeTensors(v, seen);
  } else if (Object.getPrototypeOf(value) === Object.prototype) {
    for (const v of Object.values(value)) disposeTensors(v, seen);
  }
}
