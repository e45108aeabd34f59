/**
 * The collectives on a process group (the default one unless `group` is given), as PyTorch's
 * torch.distributed functions: they wait for the result, or with `asyncOp: true` return the
 * {@link Work} to wait on.
 */
import type { Tensor } from '@kiln/tensor';
import { defaultProcessGroup } from './init.js';
import type { ProcessGroup, ReduceOp } from './process-group.js';
import type { Work } from './work.js';

/** Options every collective takes. */
export interface CollectiveOptions {
  /** The group to run on (default: the default process group). */
  group?: ProcessGroup;
  /** Return the {@link Work} at once instead of waiting (default false). */
  asyncOp?: boolean;
  /** Milliseconds this collective may wait before it fails (default: the group's timeout). */
  timeout?: number;
}

/** Options of the reducing collectives. */
export interface ReduceOptions extends CollectiveOptions {
  /** How values combine: 'sum' (default), 'avg' (floating dtypes), 'max' or 'min'. */
  op?: ReduceOp;
}


const finish = (work: Work, options: CollectiveOptions | undefined): Work | void => {
  if (options?.asyncOp === true) return work;
  work.wait();
};

/**
 * Reduces `tensor` across the ranks, in place: afterwards every rank holds the sum (or 'avg',
 * 'max', 'min') of every rank's values, as torch.distributed.all_reduce.
 *
 * @example
 * ```ts
 * const t = tensor([getRank() + 1], { dtype: 'float32' });
 * allReduce(t, { op: 'sum' });          // every rank: [1 + 2 + ... + worldSize]
 * const work = allReduce(t, { op: 'max', asyncOp: true });
 * work.wait();
 * ```
 */
export function allReduce(tensor: Tensor, options?: ReduceOptions & { asyncOp?: false }): void;
export function allReduce(tensor: Tensor, options: ReduceOptions & { asyncOp: true }): Work;
export function allReduce(tensor: Tensor, options?: ReduceOptions): Work | void {
  const work = (options?.group ?? defaultProcessGroup('allReduce')).allReduce(tensor, { op: options?.op, timeout: options?.timeout });
  return finish(work, options);
}

/**
 * Copies rank `src`'s `tensor` into `tensor` on every rank, as torch.distributed.broadcast.
 *
 * @example
 * ```ts
 * const weights = getRank() === 0 ? loadWeights() : zeros([1024]);
 * broadcast(weights, 0);                // every rank now holds rank 0's weights
 * ```
 */
export function broadcast(tensor: Tensor, src: number, options?: CollectiveOptions & { asyncOp?: false }): void;
export function broadcast(tensor: Tensor, src: number, options: CollectiveOptions & { asyncOp: true }): Work;
export function broadcast(tensor: Tensor, src: number, options?: CollectiveOptions): Work | void {
  return finish((options?.group ?? defaultProcessGroup('broadcast')).broadcast(tensor, src, { timeout: options?.timeout }), options);
}

/**
 * Gathers every rank's `input` into `output` on every rank (torch.distributed.all_gather and
 * all_gather_into_tensor): a list of world-size tensors shaped as `input`, or one tensor with
 * world size times input's elements, rank i's values in block i.
 *
 * @example
 * ```ts
 * const mine = tensor([getRank()], { dtype: 'int32' });
 * const all = zeros([getWorldSize()], { dtype: 'int32' });
 * allGather(all, mine);                 // [0, 1, ..., worldSize - 1] on every rank
 * ```
 */
export function allGather(output: Tensor | readonly Tensor[], input: Tensor, options?: CollectiveOptions & { asyncOp?: false }): void;
export function allGather(output: Tensor | readonly Tensor[], input: Tensor, options: CollectiveOptions & { asyncOp: true }): Work;
export function allGather(output: Tensor | readonly Tensor[], input: Tensor, options?: CollectiveOptions): Work | void {
  return finish((options?.group ?? defaultProcessGroup('allGather')).allGather(output, input, { timeout: options?.timeout }), options);
}

/**
 * Reduces `input` across the ranks and gives rank i block i of the result in `output`
 * (torch.distributed.reduce_scatter and reduce_scatter_tensor): `input` is a list of world-size
 * tensors shaped as `output`, or one tensor of world size times output's elements.
 *
 * @example
 * ```ts
 * const input = ones([getWorldSize() * 4]);
 * const mine = zeros([4]);
 * reduceScatter(mine, input);            // every rank: [worldSize, worldSize, worldSize, worldSize]
 * ```
 */
export function reduceScatter(output: Tensor, input: Tensor | readonly Tensor[], options?: ReduceOptions & { asyncOp?: false }): void;
export function reduceScatter(output: Tensor, input: Tensor | readonly Tensor[], options: ReduceOptions & { asyncOp: true }): Work;
export function reduceScatter(output: Tensor, input: Tensor | readonly Tensor[], options?: ReduceOptions): Work | void {
  return finish((options?.group ?? defaultProcessGroup('reduceScatter')).reduceScatter(output, input, { op: options?.op, timeout: options?.timeout }), options);
}

/**
 * Waits until every rank has called barrier (torch.distributed.barrier).
 *
 * @example
 * ```ts
 * if (getRank() === 0) writeCheckpoint();
 * barrier();                             // nobody reads the checkpoint before it is written
 * ```
 */
export function barrier(options?: CollectiveOptions & { asyncOp?: false }): void;
export function barrier(options: CollectiveOptions & { asyncOp: true }): Work;
export function barrier(options?: CollectiveOptions): Work | void {
  return finish((options?.group ?? defaultProcessGroup('barrier')).barrier({ timeout: options?.timeout }), options);
}
