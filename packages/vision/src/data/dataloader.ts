/**
 * `DataLoader`: batches of a `Dataset` in PyTorch's habits, iterated with `for await`, with the
 * next batches prepared while the current one is used.
 */
import { ValueError, checkBoolean, checkOptionKeys, describeValue } from '@kiln/tensor';
import type { Dataset } from './dataset.js';
import { type Sampler, epochOrder } from './sampler.js';
import { disposeTensors } from './dispose-tree.js';
import { pinTensors } from './pin-tree.js';

/** Options of a `DataLoader`. */
export interface DataLoaderOptions<T, B> {
  /** Items per batch (default 1). */
  batchSize?: number;
  /** Visit the items in a new random order each epoch (default false). */
  shuffle?: boolean;
  /** Seed of the shuffled orders (default 0): epoch e's order depends on (seed, e) only. */
  seed?: number;
  /**
   * The dataset indices each epoch visits, in order (e.g. @kiln/distributed's DistributedSampler,
   * which gives each rank its share): replaces `shuffle`, which must then be left false.
   */
  sampler?: Sampler;
  /** Drop the last batch if it is smaller than batchSize (default false). */
  dropLast?: boolean;
  /** Turns a list of items into a batch (default: the list itself). */
  collate?: (items: T[]) => B | Promise<B>;
  /**
   * Batches prepared ahead of the one being used (default 2; 0 prepares each on request). Their
   * items are fetched concurrently, so asynchronous work (reading and decoding files: sharp runs on
   * libuv's threads) overlaps the use of the current batch, including work queued on a device.
   */
  prefetch?: number;
  /**
   * Copy each batch's CPU tensors into pinned (page-locked) memory once collated, as PyTorch's
   * `pin_memory=True` (default false; needs `@kiln/cuda`): their uploads with
   * `to('cuda', { nonBlocking: true })` are then queued and return at once. The batch's tensors
   * are replaced by pinned copies; the originals are left to the garbage collector (the loader
   * cannot tell the ones the collate made from tensors that live on, a dataset's cached items).
   */
  pinMemory?: boolean;
}

const checkCount = (arg: string, v: number, min: number): number => {
  if (!Number.isInteger(v) || v < min) throw new ValueError('DataLoader', arg, `an integer >= ${min}`, String(v));
  return v;
};

/**
 * Batches of a map-style dataset (PyTorch's `DataLoader`): `for await (const batch of loader)` runs
 * one epoch; each iteration is the next epoch (or the one set with `setEpoch`). Breaking out of the
 * loop disposes the tensors of batches prepared ahead and not used.
 *
 * @example
 * ```ts
 * const loader = new DataLoader(dataset, { batchSize: 8, shuffle: true, seed: 1, collate: detectionCollate });
 * for (let epoch = 0; epoch < 12; epoch++) {
 *   for await (const { images, targets } of loader) {
 *     // train on the batch; the next ones are being read meanwhile
 *   }
 * }
 * ```
 */
export class DataLoader<T, B = T[]> implements AsyncIterable<B> {
  /** Items per batch. */
  readonly batchSize: number;
  /** Whether each epoch shuffles. */
  readonly shuffle: boolean;
  /** The shuffle's seed. */
  readonly seed: number;
  /** Whether a last, smaller batch is dropped. */
  readonly dropLast: boolean;
  /** Batches prepared ahead. */
  readonly prefetch: number;
  /** Whether batches are copied into pinned memory. */
  readonly pinMemory: boolean;
  /** The sampler that orders each epoch's indices, or null (every index, shuffled or not). */
  readonly sampler: Sampler | null;
  private readonly collate: (items: T[]) => B | Promise<B>;
  private nextEpoch = 0;

  /** The dataset batched. */
  readonly dataset: Dataset<T>;

  /** Batches of `dataset`; see `DataLoaderOptions`. */
  constructor(dataset: Dataset<T>, options: DataLoaderOptions<T, B> = {}) {
    if (typeof (dataset as Partial<Dataset<T>> | null)?.get !== 'function') {
      throw new ValueError('DataLoader', 'dataset', 'a Dataset (a length and get(index))', describeValue(dataset));
    }
    this.dataset = dataset;
    checkOptionKeys('DataLoader', options, { batchSize: true, shuffle: true, seed: true, sampler: true, dropLast: true, collate: true, prefetch: true, pinMemory: true });
    this.batchSize = checkCount('batchSize', options.batchSize ?? 1, 1);
    this.prefetch = checkCount('prefetch', options.prefetch ?? 2, 0);
    this.shuffle = checkBoolean('DataLoader', 'shuffle', options.shuffle ?? false);
    this.seed = options.seed ?? 0;
    if (!Number.isInteger(this.seed)) throw new ValueError('DataLoader', 'seed', 'an integer', String(this.seed));
    this.dropLast = checkBoolean('DataLoader', 'dropLast', options.dropLast ?? false);
    this.pinMemory = checkBoolean('DataLoader', 'pinMemory', options.pinMemory ?? false);
    this.sampler = options.sampler ?? null;
    if (this.sampler !== null) {
      if (typeof this.sampler.indices !== 'function' || !Number.isInteger(this.sampler.length)) {
        throw new ValueError('DataLoader', 'sampler', 'a Sampler (a length and indices(epoch))', describeValue(this.sampler));
      }
      if (this.shuffle) throw new ValueError('DataLoader', 'shuffle', 'false when a sampler is given (the sampler orders the indices)', 'true');
    }
    this.collate = options.collate ?? ((items: T[]) => items as unknown as B);
  }

  /** Batches per epoch. */
  get length(): number {
    const n = this.sampler?.length ?? checkCount('dataset.length', this.dataset.length, 0);
    return this.dropLast ? Math.floor(n / this.batchSize) : Math.ceil(n / this.batchSize);
  }

  /** The epoch the next iteration runs (its shuffled order); each iteration then counts up from it. */
  setEpoch(epoch: number): void {
    this.nextEpoch = checkCount('epoch', epoch, 0);
  }

  /** The dataset indices of each batch of an epoch. */
  batchIndices(epoch: number): number[][] {
    const batches = this.length;   // checks the dataset's length first
    const order = this.sampler !== null ? this.sampler.indices(epoch) : epochOrder(this.dataset.length, this.shuffle, this.seed, epoch);
    return Array.from({ length: batches }, (_, b) => order.slice(b * this.batchSize, (b + 1) * this.batchSize));
  }

  /** One epoch of batches. */
  [Symbol.asyncIterator](): AsyncIterator<B> {
    const batches = this.batchIndices(this.nextEpoch++);
    const pending: Promise<B>[] = [];
    let next = 0, done = false;
    const load = async (indices: number[]): Promise<B> => {
      const items = await Promise.all(indices.map((i) => this.dataset.get(i)));
      const batch = await this.collate(items);
      return this.pinMemory ? pinTensors(batch) : batch;
    };
    // the batch asked for plus `prefetch` after it are in flight
    const fill = () => {
      while (!done && next < batches.length && pending.length < this.prefetch + 1) {
        const p = load(batches[next++]);
        p.catch(() => {});                           // a failure surfaces when its batch is asked for
        pending.push(p);
      }
    };
    const finish = async (): Promise<IteratorResult<B>> => {
      done = true;
      const left = pending.splice(0);
      for (const r of await Promise.allSettled(left)) if (r.status === 'fulfilled') disposeTensors(r.value);
      return { done: true, value: undefined };
    };
    return {
      next: async (): Promise<IteratorResult<B>> => {
        fill();
        const p = pending.shift();
        if (p === undefined) return { done: true, value: undefined };
        try {
          return { done: false, value: await p };
        } catch (e) {
          await finish();
          throw e;
        }
      },
      return: finish,
    };
  }
}
