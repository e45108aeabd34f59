/**
 * The 'nccl' backend: one GPU per rank, collectives run by NCCL (libnccl.so.2, loaded at run time
 * by the CUDA addon: native/cuda/nccl.cc) in place on CUDA memory, queued on the device's stream,
 * so that later work on the device is ordered after them without the host waiting. Rank 0 makes the
 * communicator's unique id and passes it through the store. A native watchdog thread aborts the
 * communicator when a collective outlives the group's timeout or NCCL reports a broken peer: the
 * queued kernels exit instead of hanging, and the failure is raised by the next `wait()` or
 * collective.
 */
import { type DType, type Device, DeviceError, type Tensor, device as toDevice, empty } from '@kiln/tensor';
import { cuda, cudaDataAddress, ncclBinding, type NcclBinding } from '@kiln/cuda';
import type { GroupBackend, LaunchOptions } from '../backend.js';
import type { CollectiveKind } from '../cpu/jobs.js';
import { DistributedError, type DistributedFailure } from '../errors.js';
import type { TCPStore } from '../store/tcp-store.js';
import { Work, type WorkDriver } from '../work.js';

/** How the NCCL backend is set up. */
export interface NcclBackendOptions {
  store: TCPStore;
  /** Keys of this group in the store start with it. */
  prefix: string;
  rank: number;
  world: number;
  /** Milliseconds a collective (and the setup) may take before the communicator is aborted. */
  timeoutMs: number;
  /** This rank's GPU (default cuda:LOCAL_RANK, else cuda:0). */
  device?: string;
}

/** NCCL's data types (ncclDataType_t) for Kiln's dtypes; bool travels as uint8. */
const NCCL_DTYPES: Record<DType, number> = { bool: 1, int32: 2, int64: 4, float16: 6, float32: 7, float64: 8, bfloat16: 9 };
/** NCCL's reductions (ncclRedOp_t). */
const NCCL_OPS = { sum: 0, max: 2, min: 3, avg: 4 } as const;
/** The addon's collective codes (nccl.h's Collective); a barrier is an all-reduce of one element. */
const KINDS: Record<CollectiveKind, number> = { allReduce: 1, broadcast: 2, allGather: 3, reduceScatter: 4, barrier: 1 };

/** Starts the 'nccl' backend (every rank of the group calls it; returns once all have joined). */
export function createNcclBackend(o: NcclBackendOptions): GroupBackend {
  return new NcclBackend(o);
}

class NcclBackend implements GroupBackend, WorkDriver {
  readonly name = 'nccl' as const;
  readonly device: Device;
  private readonly nccl: NcclBinding;
  private readonly handle: number;
  private readonly seqOf = new WeakMap<Work, number>();
  private failed: DistributedError | null = null;
  private ended = false;

  constructor(private readonly o: NcclBackendOptions) {
    const op = 'initProcessGroup';
    if (!cuda.isAvailable()) throw new DeviceError(op, 'backend', "CUDA for the 'nccl' backend", `no CUDA here: ${cuda.unavailableReason() ?? 'unknown reason'} (use backend: 'cpu')`);
    const nccl = ncclBinding();
    if (nccl === null) throw new DeviceError(op, 'backend', "a CUDA addon built with NCCL support for the 'nccl' backend", 'an addon without it (rebuild: npm run build)');
    const status = nccl.ncclStatus();
    if (!status.available) throw new DeviceError(op, 'backend', "NCCL (libnccl.so.2) for the 'nccl' backend", status.reason ?? 'not available');
    this.nccl = nccl;
    this.device = toDevice(o.device ?? `cuda:${process.env.LOCAL_RANK ?? 0}`);
    if (this.device.type !== 'cuda') throw new DeviceError(op, 'device', "a CUDA device for the 'nccl' backend", String(o.device));
    // rank 0 names the communicator; the others read its id from the store
    const key = `${o.prefix}/nccl/unique-id`;
    let id: Uint8Array;
    if (o.rank === 0) {
      id = nccl.ncclUniqueId();
      o.store.set(key, id);
    } else {
      id = o.store.get(key, o.timeoutMs);
    }
    try {
      this.handle = nccl.ncclInit(o.world, id, o.rank, this.device.index, o.timeoutMs);
    } catch (e) {
      const message = (e as Error).message;
      throw this.error(op, /timed out/.test(message) ? 'timeout' : 'nccl', message, /timed out/.test(message) ? 'every rank to join the NCCL communicator' : '');
    }
  }

  private error(op: string, reason: DistributedFailure, message: string, waitingFor: string): DistributedError {
    return new DistributedError(`${op} (rank ${this.o.rank} of ${this.o.world}, nccl): ${message}`, { reason, op, rank: this.o.rank, waitingFor });
  }

  get failure(): Error | null {
    if (this.failed === null && !this.ended) {
      const why = this.nccl.ncclFailure(this.handle);
      if (why !== '') this.failed = this.error('process group', /timeout/.test(why) ? 'timeout' : 'nccl', why, '');
    }
    return this.failed;
  }

  accepts(t: Tensor): boolean {
    return t.device === this.device && t.isContiguous;
  }

  commBuffer(numel: number, dtype: DType): Tensor {
    return empty([numel], { dtype, device: this.device });
  }

  borrow(numel: number, dtype: DType): Tensor {
    // the caching allocator reuses blocks; work queued later on the same stream is ordered after this collective
    return empty([numel], { dtype, device: this.device });
  }

  release(t: Tensor): void {
    t.dispose();
  }

  launch(kind: CollectiveKind, buffer: Tensor, o: LaunchOptions): Work {
    const work = new Work(kind, this);
    const failed = this.failure;
    if (failed !== null) {
      work.markFailed(this.error(kind, (failed as DistributedError).reason, `the process group failed earlier: ${failed.message}`, ''));
      return work;
    }
    const dtype = NCCL_DTYPES[buffer.dtype];
    try {
      const seq = this.nccl.ncclLaunch(this.handle, KINDS[kind], cudaDataAddress(buffer), buffer.numel, dtype, NCCL_OPS[o.reduce], o.root, o.timeoutMs ?? this.o.timeoutMs);
      this.seqOf.set(work, seq);
    } catch (e) {
      work.markFailed(this.error(kind, 'nccl', (e as Error).message, ''));
    }
    return work;
  }

  // ---- WorkDriver: the result may be used as soon as the collective is queued (stream order) ----

  wait(work: Work): void {
    const failed = this.failure;
    if (failed !== null) work.markFailed(this.error(work.op, (failed as DistributedError).reason, failed.message, ''));
    else work.markReady();
  }

  poll(work: Work): void {
    const failed = this.failure;
    if (failed !== null) work.markFailed(this.error(work.op, (failed as DistributedError).reason, failed.message, ''));
    else if (this.nccl.ncclCompleted(this.handle) >= (this.seqOf.get(work) ?? Infinity)) work.markComplete();
  }

  watch(work: Work): () => void {
    const timer = setInterval(() => {
      this.poll(work);
      if (work.isCompleted()) clearInterval(timer);
    }, 1);
    return () => clearInterval(timer);
  }

  abort(reason: string): void {
    if (this.ended) return;
    this.failed ??= this.error('process group', 'aborted', reason, '');
    this.ended = true;
    this.nccl.ncclAbort(this.handle, reason);
  }

  destroy(): void {
    if (this.ended) return;
    this.ended = true;
    this.nccl.ncclDestroy(this.handle);
  }
}
