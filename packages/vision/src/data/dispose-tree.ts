/** Disposing every tensor in a batch of any shape (what a data loader drops unused). */
import { Tensor } from '@kiln/tensor';

/** The tensors found in `value`: itself, the items of arrays, the values of plain objects. */
export function tensorsIn(value: unknown, found = new Set<Tensor>(), seen = new Set<unknown>()): Set<Tensor> {
  if (value === null || typeof value !== 'object' || seen.has(value)) return found;
  seen.add(value);
  if (value instanceof Tensor) found.add(value);
  else if (Array.isArray(value)) for (const v of value) tensorsIn(v, found, seen);
  else if (Object.getPrototypeOf(value) === Object.prototype) for (const v of Object.values(value)) tensorsIn(v, found, seen);
  return found;
}

/** Disposes the tensors found in `value`: itself, the items of arrays, the values of plain objects. */
export function disposeTensors(value: unknown): void {
  for (const t of tensorsIn(value)) if (!t.isDisposed) t.dispose();
}
