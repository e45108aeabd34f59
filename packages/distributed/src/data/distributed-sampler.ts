/**
 * `DistributedSampler`: each rank's share of a dataset's indices per epoch, as PyTorch's. The
 * epoch's order (shuffled with a seed, the same on every rank) is padded by repeating its first
 * indices until its length is a multiple of the number of replicas (or cut down to one, with
 * `dropLast`), and rank r takes positions r, r + W, r + 2W, ...: the ranks' shares are disjoint
 * (apart from the padding) and equally long, so every rank runs the same number of steps.
 */
import { ValueError } from '@kiln/tensor';
import { type Sampler, epochOrder } from '@kiln/vision';
import { isInitialized, defaultProcessGroup } from '../init.js';

/** Options of {@link DistributedSampler}. */
export interface DistributedSamplerOptions {
  /** The number of ranks sharing the dataset (default: the default process group's size). */
  numReplicas?: number;
  /** This rank (default: its rank in the default process group). */
  rank?: number;
  /** A new order each epoch (default true). */
  shuffle?: boolean;
  /** The shuffle's seed, the same on every rank (default 0). */
  seed?: number;
  /** Drop the tail that does not divide evenly instead of padding (default false). */
  dropLast?: boolean;
}

const op = 'DistributedSampler';

/**
 * This rank's indices of a dataset of `datasetLength` items, for a `DataLoader`'s `sampler` option
 * (PyTorch's `DistributedSampler`). Each epoch's order depends on (seed, epoch) only, so all ranks
 * agree on it; the loader passes its epoch, or `setEpoch` fixes it as PyTorch's `set_epoch`.
 *
 * @example
 * ```ts
 * const sampler = new DistributedSampler(dataset.length, { shuffle: true, seed: 7 });
 * const loader = new DataLoader(dataset, { batchSize: 4, sampler, collate: detectionCollate });
 * for (let epoch = 0; epoch < 12; epoch++) {
 *   sampler.setEpoch(epoch);
 *   for await (const batch of loader) { ... }                // this rank's quarter of the epoch (4 ranks)
 * }
 * ```
 */
export class DistributedSampler implements Sampler {
  /** Ranks sharing the dataset. */
  readonly numReplicas: number;
  /** This rank. */
  readonly rank: number;
  /** Whether epochs are shuffled. */
  readonly shuffle: boolean;
  /** The shuffle's seed. */
  readonly seed: number;
  /** Whether the uneven tail is dropped. */
  readonly dropLast: boolean;
  /** Indices per rank per epoch. */
  readonly length: number;
  /** Indices of an epoch over all ranks (length times numReplicas). */
  readonly totalSize: number;
  private epoch: number | null = null;

  /** A sampler of `datasetLength` items; see {@link DistributedSamplerOptions}. */
  constructor(
    /** Items in the dataset. */
    readonly datasetLength: number,
    options: DistributedSamplerOptions = {},
  ) {
    if (!Number.isInteger(datasetLength) || datasetLength < 0) throw new ValueError(op, 'datasetLength', 'an integer >= 0', String(datasetLength));
    const group = options.numReplicas === undefined || options.rank === undefined ? (isInitialized() ? defaultProcessGroup(op) : null) : null;
    const numReplicas = options.numReplicas ?? group?.size;
    if (numReplicas === undefined) throw new ValueError(op, 'numReplicas', 'the number of ranks (or an initialized default process group)', 'neither');
    if (!Number.isInteger(numReplicas) || numReplicas < 1) throw new ValueError(op, 'numReplicas', 'an integer >= 1', String(numReplicas));
    const rank = options.rank ?? group?.rank;
    if (rank === undefined) throw new ValueError(op, 'rank', 'this rank (or an initialized default process group)', 'neither');
    if (!Number.isInteger(rank) || rank < 0 || rank >= numReplicas) throw new ValueError(op, 'rank', `an integer in [0, ${numReplicas})`, String(rank));
    const seed = options.seed ?? 0;
    if (!Number.isInteger(seed)) throw new ValueError(op, 'seed', 'an integer', String(seed));
    this.numReplicas = numReplicas;
    this.rank = rank;
    this.shuffle = options.shuffle ?? true;
    this.seed = seed;
    this.dropLast = options.dropLast ?? false;
    // dropLast: the largest multiple of W not above n; else the smallest not below n
    this.length = this.dropLast ? Math.floor(datasetLength / numReplicas) : Math.ceil(datasetLength / numReplicas);
    this.totalSize = this.length * numReplicas;
  }

  /** Fixes the epoch whose order `indices` gives, whatever epoch a loader passes (PyTorch's set_epoch). */
  setEpoch(epoch: number): void {
    if (!Number.isInteger(epoch) || epoch < 0) throw new ValueError(`${op}.setEpoch`, 'epoch', 'an integer >= 0', String(epoch));
    this.epoch = epoch;
  }

  /** This rank's indices of epoch `epoch` (the one set with setEpoch, when set). */
  indices(epoch = 0): number[] {
    const e = this.epoch ?? epoch;
    const order = epochOrder(this.datasetLength, this.shuffle, this.seed, e);
    // pad by repeating the order from its start (again and again when the dataset is smaller than the padding)
    for (let k = 0; order.length < this.totalSize; k++) order.push(order[k]);
    const mine: number[] = [];
    for (let i = this.rank; i < this.totalSize; i += this.numReplicas) mine.push(order[i]);
    return mine;
  }
}
