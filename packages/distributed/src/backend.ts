/**
 * What a process group's backend provides (the CPU backend over TCP, NCCL): collectives run in place
 * on contiguous tensors in memory the backend can use directly, and that memory itself. The process
 * group (process-group.ts) checks arguments and copies other tensors through such memory.
 */
import type { DType, Device, Tensor } from '@kiln/tensor';
import type { CollectiveKind, ReduceOp } from './cpu/jobs.js';
import type { Work } from './work.js';

/** The backends: 'cpu' (TCP between processes, CPU tensors) and 'nccl' (CUDA tensors). */
export type BackendName = 'cpu' | 'nccl';

/** A collective's parameters besides its buffer. */
export interface LaunchOptions {
  reduce: ReduceOp;
  /** Broadcast's source rank. */
  root: number;
  /** This collective's timeout in milliseconds (default: the group's). */
  timeoutMs?: number;
}

/** A backend of a process group (one per group). */
export interface GroupBackend {
  readonly name: BackendName;
  /** The device its tensors live on (cpu, or the CUDA device of this rank). */
  readonly device: Device;
  /** True when the backend runs collectives on `t` in place (contiguous, in memory it can use). */
  accepts(t: Tensor): boolean;
  /**
   * A contiguous tensor of `numel` elements in such memory, kept by the caller (DistributedDataParallel's
   * buckets). Its contents are undefined.
   */
  commBuffer(numel: number, dtype: DType): Tensor;
  /** A staging tensor of such memory for one collective; `release` gives it back once the work is ready. */
  borrow(numel: number, dtype: DType): Tensor;
  release(t: Tensor): void;
  /**
   * Starts `kind` in place on `buffer` (accepted by `accepts`): all-gather and reduce-scatter see it
   * as world-size blocks, this rank's block at index rank.
   */
  launch(kind: CollectiveKind, buffer: Tensor, options: LaunchOptions): Work;
  /** The group's first failure, or null while it works. */
  readonly failure: Error | null;
  /** Ends the group: pending and later collectives fail with `reason`, connections close. */
  abort(reason: string): void;
  /** Releases the group's resources after its collectives completed. */
  destroy(): void;
}
