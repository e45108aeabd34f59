/**
 * `DistributedError`: a collective, the store or the launcher could not finish. Bad arguments are the
 * core's typed errors (ShapeError, DTypeError, DeviceError, ValueError); this one is for what goes
 * wrong between processes, and its fields say which call failed, on which rank, and why.
 */
import { KilnError } from '@kiln/tensor';

/**
 * Why a distributed call failed:
 * - `timeout`: what it waited for did not come within the process group's (or store's) timeout
 * - `peer-closed`: a connection to another rank (or to the store) closed: that process exited or aborted
 * - `peer-aborted`: another rank failed and said so before closing its connections
 * - `mismatch`: the ranks called different collectives, or with different sizes or dtypes
 * - `aborted`: the process group was aborted or destroyed while the call was pending
 * - `nccl`: NCCL reported an error
 * - `usage`: a call the process group's state does not allow (e.g. before initProcessGroup)
 */
export type DistributedFailure = 'timeout' | 'peer-closed' | 'peer-aborted' | 'mismatch' | 'aborted' | 'nccl' | 'usage';

/** What a {@link DistributedError} carries besides its message. */
export interface DistributedErrorInfo {
  /** Why the call failed. */
  reason: DistributedFailure;
  /** The call: a collective ('allReduce'), a store operation ('TCPStore.get'), 'initProcessGroup'. */
  op: string;
  /** The rank that raised the error (-1 when it has none, e.g. the launcher). */
  rank: number;
  /** What the call was waiting for when it failed (e.g. 'data from rank 1'); empty when not waiting. */
  waitingFor: string;
}

/** A {@link DistributedError} as plain data (to cross a thread or process boundary). */
export interface DistributedErrorData extends DistributedErrorInfo {
  /** The error's message. */
  message: string;
}

/**
 * A distributed call that could not finish: a timeout, a peer that died, ranks that disagree. The
 * message names the call, the rank and what it waited for; the same facts are fields.
 *
 * @example
 * ```ts
 * try {
 *   allReduce(grad);
 * } catch (e) {
 *   if (e instanceof DistributedError && e.reason === 'peer-closed') console.error(`lost a peer: ${e.message}`);
 *   throw e;
 * }
 * ```
 */
export class DistributedError extends KilnError {
  /** Why the call failed. */
  readonly reason: DistributedFailure;
  /** The call that failed (the base class's `op` fact, always present here). */
  declare readonly op: string;
  /** The rank that raised it (-1: none). */
  readonly rank: number;
  /** What it was waiting for ('' when not waiting). */
  readonly waitingFor: string;

  /** `message` is complete (it names the call and the rank); `info` gives the same facts as fields. */
  constructor(message: string, info: DistributedErrorInfo) {
    super({ message, op: info.op });
    this.reason = info.reason;
    this.rank = info.rank;
    this.waitingFor = info.waitingFor;
  }

  /** The error as plain data, to cross a thread or process boundary. */
  toJSON(): DistributedErrorData {
    return { message: this.message, reason: this.reason, op: this.op, rank: this.rank, waitingFor: this.waitingFor };
  }

  /** The error back from {@link DistributedError.toJSON}'s data. */
  static fromJSON(data: DistributedErrorData): DistributedError {
    return new DistributedError(data.message, data);
  }
}

/** `op (rank r of w): what` — the prefix every message of a rank's failure starts with. */
export function rankPrefix(op: string, rank: number, worldSize: number): string {
  return `${op} (rank ${rank} of ${worldSize})`;
}
