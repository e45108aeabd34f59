/** What the main thread asks the CPU backend's thread to run, and the codes frames carry. */
import type { DType } from '@kiln/tensor';

/** A reduction: sum, average (floating dtypes), maximum or minimum, elementwise across ranks. */
export type ReduceOp = 'sum' | 'avg' | 'max' | 'min';

/** The collectives the ring runs. */
export type CollectiveKind = 'allReduce' | 'broadcast' | 'allGather' | 'reduceScatter' | 'barrier';

export const COLLECTIVE_CODES: Record<CollectiveKind, number> = { allReduce: 1, broadcast: 2, allGather: 3, reduceScatter: 4, barrier: 5 };
export const REDUCE_CODES: Record<ReduceOp, number> = { sum: 0, avg: 1, max: 2, min: 3 };

/** One collective on a region of shared memory. */
export interface JobRequest {
  /** Pairs the job with its reply. */
  id: number;
  collective: CollectiveKind;
  /** The collective's number in this process group (the same on every rank). */
  seq: number;
  dtype: DType;
  reduce: ReduceOp;
  /** The data, in place: the shared memory a tensor of the group views. */
  buffer: SharedArrayBuffer;
  byteOffset: number;
  /** Elements in the buffer (all-gather and reduce-scatter: the world size times a rank's block). */
  numel: number;
  /** Broadcast: the source rank. */
  root: number;
  timeoutMs: number;
}
