/** Pinning every tensor in a batch of any shape (DataLoader's `pinMemory`). */
import { Tensor } from '@kiln/tensor';

/**
 * `batch` with each CPU tensor replaced by its copy in pinned memory (arrays and plain objects are
 * rebuilt, anything else is kept as it is; a tensor found twice is pinned once). The originals are
 * not disposed: the collate may have passed through tensors that live on (a dataset's cached items,
 * a constant it closes over), which a loader cannot tell from the ones it made; those go back when
 * a garbage collection takes them, as any tensor dropped without dispose().
 */
export function pinTensors<B>(batch: B): B {
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
    return walk(batch) as B;
  } catch (e) {
    for (const p of pinned.values()) p.dispose();   // the batch stays as collate made it
    throw e;
  }
}
