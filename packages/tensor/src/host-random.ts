/**
 * A small seeded generator of uniform numbers on the host, for what needs a reproducible stream
 * without tensors (test data, shuffled orders): mulberry32, 32 bits of state, the same sequence on
 * every platform. Kiln's tensor RNG (`Generator`) is separate.
 */

/**
 * A function returning uniform numbers in [0, 1), seeded (mulberry32).
 *
 * @example
 * ```ts
 * const random = mulberry32(42);
 * const dice = Math.floor(random() * 6) + 1;
 * ```
 */
export function mulberry32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
