/** Disposing every tensor in a batch of any shape (what a data loader drops unused). */
import { tensorsIn } from './pin-tree.js';

/** Disposes the tensors found in `value`: itself, the items of arrays, the values of plain objects. */
export function disposeTensors(value: unknown): void {
  for (const t of tensorsIn(value)) if (!t.isDisposed) t.dispose();
}
