/** Pinning every tensor in a batch of any shape (DataLoader's `pinMemory`). */
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

/**
 * `batch` with each CPU tensor replaced by its copy in pinned memory (arrays and plain objects are
 * rebuilt, anything else is kept as it is; a tensor found twice is pinned once). The originals are
 * disposed unless they are in `keep` (the dataset's own items, which collate may pass through).
 */
export function pinTensors<B>(batch: B, keep: ReadonlySet<Tensor>): B {
  const pinned = new Map<Tensor, Tensor>();
  const made = new Map<unknown, unknown>();
  const walk = (value: unknown): unknown => {
    if (value === null || typeof value !== 'object') return value;
    if (made.has(value)) return made.get(value);
    let out: unknown = value;
    if (value instanceof Tensor) {
      if (value.device.type !== 'cpu' || value.isPinned()) return value;
      let p = pinned.get(value);
      if (!p) pinned.set(value, (p = value.pinMemory()));
      out = p;
    } else if (Array.isArray(value)) {
      const arr: unknown[] = [];
      made.set(value, arr);
      for (const v of value) arr.push(walk(v));
      out = arr;
    } else if (Object.getPrototypeOf(value) === Object.prototype) {
      const obj: Record<string, unknown> = {};
      made.set(value, obj);
      for (const [k, v] of Object.entries(value)) obj[k] = walk(v);
      out = obj;
    }
    made.set(value, out);
    return out;
  };
  try {
    const result = walk(batch) as B;
    for (const original of pinned.keys()) if (!keep.has(original)) original.dispose();
    return result;
  } catch (e) {
    for (const p of pinned.values()) p.dispose();   // the batch stays as collate made it
    throw e;
  }
}
