/** The order a `DataLoader` visits its dataset in: sequential, or shuffled with a seed per epoch. */
import { checkInt, mulberry32 } from '@kiln/tensor';

/**
 * What a `DataLoader` asks a sampler for (PyTorch's Sampler): `length` indices per epoch, and the
 * dataset indices of epoch `epoch`, in the order they are visited.
 */
export interface Sampler {
  /** Indices per epoch. */
  readonly length: number;
  /** The dataset indices of epoch `epoch` (the loader's epoch: counting up, or set with setEpoch). */
  indices(epoch: number): number[];
}

/**
 * The indices 0..n-1 of one epoch: in order, or a permutation (Fisher–Yates) drawn from a
 * generator seeded by (seed, epoch), so that each epoch has its own order and a run with the same
 * seed repeats every epoch's order.
 */
export function epochOrder(n: number, shuffle: boolean, seed: number, epoch: number): number[] {
  checkInt('epochOrder', 'n', n, 0);
  checkInt('epochOrder', 'seed', seed, Number.MIN_SAFE_INTEGER);
  checkInt('epochOrder', 'epoch', epoch, 0);
  const order = Array.from({ length: n }, (_, i) => i);
  if (!shuffle) return order;
  // mix the epoch into the seed (golden-ratio increment) so neighbouring epochs are unrelated
  const random = mulberry32((Math.imul(epoch + 1, 0x9e3779b9) ^ seed) >>> 0);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}
