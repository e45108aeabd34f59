/** `Dataset`: PyTorch's map-style dataset, a length and an item per index. */

/**
 * A map-style dataset (PyTorch's `torch.utils.data.Dataset`): `length` items, `get(i)` for i in
 * [0, length), synchronous or asynchronous (reading and decoding a file is asynchronous).
 *
 * @example
 * ```ts
 * class Squares extends Dataset<number> {
 *   get length() { return 10; }
 *   get(i: number) { return i * i; }
 * }
 * const loader = new DataLoader(new Squares(), { batchSize: 4, collate: (xs) => xs });
 * ```
 */
export abstract class Dataset<T> {
  /** The number of items. */
  abstract get length(): number;
  /** The item at `index`, 0 <= index < length. */
  abstract get(index: number): T | Promise<T>;
}
