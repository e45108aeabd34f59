/**
 * The CPU backend's main-thread side: tensors in shared memory (SharedArrayBuffer), which its
 * communication thread (ring-worker.ts) reads and writes in place while this thread computes; the
 * rendezvous through the store (each rank publishes the port it listens on and connects to the next
 * rank's); and the works, answered by the thread's replies.
 */
import { type DType, type Storage, type Tensor, cpu, dtypeInfo, fromTypedArray } from '@kiln/tensor';
import type { GroupBackend, LaunchOptions } from '../backend.js';
import { DistributedError, type DistributedFailure } from '../errors.js';
import type { TCPStore } from '../store/tcp-store.js';
import { siblingModule } from '../thread/start-worker.js';
import { type Reply, WorkerLink } from '../thread/worker-link.js';
import { Work, type WorkDriver } from '../work.js';
import { tagOf } from './frame.js';
import type { CollectiveKind, JobRequest } from './jobs.js';

/** How the CPU backend is set up. */
export interface CpuBackendOptions {
  store: TCPStore;
  /** Keys of this group in the store start with it. */
  prefix: string;
  rank: number;
  world: number;
  /** Milliseconds a collective (and the setup) may wait. */
  timeoutMs: number;
  /** The address this rank listens on and tells the others. */
  host: string;
  /** Bytes per chunk of the pipelined ring. */
  chunkBytes: number;
}

/** How long the main thread waits past a collective's own timeout before giving up on the thread. */
const THREAD_GRACE_MS = 10_000;

export class CpuBackend implements GroupBackend, WorkDriver {
  readonly name = 'cpu' as const;
  readonly device = cpu;
  private readonly link: WorkerLink;
  private readonly works = new Map<number, { work: Work; buffer: Tensor; deadline: number; timeoutMs: number }>();
  private readonly ids = new WeakMap<Work, number>();
  private readonly replies = new Map<number, Reply>();
  /** The shared memory of each tensor storage this backend made. */
  private readonly shared = new WeakMap<Storage, SharedArrayBuffer>();
  /** Staging buffers not in use, reused (page faults are slow here: tools' notes). */
  private readonly spare: SharedArrayBuffer[] = [];
  private nextId = 1;
  private seq = 0;
  private failed: DistributedError | null = null;
  private readonly rank: number;
  private readonly world: number;
  private readonly timeoutMs: number;

  constructor(o: CpuBackendOptions) {
    this.rank = o.rank;
    this.world = o.world;
    this.timeoutMs = o.timeoutMs;
    this.link = new WorkerLink(siblingModule(import.meta.url, 'ring-worker'), {
      rank: o.rank, world: o.world, tag: tagOf(o.prefix), chunkBytes: o.chunkBytes,
    });
    this.link.onMessage = (m) => this.onMessage(m as Reply & { event?: string; error?: Reply['error'] });
    try {
      if (o.world > 1) this.rendezvous(o);
    } catch (e) {
      this.link.terminate();
      throw e;
    }
  }

  private rendezvous(o: CpuBackendOptions): void {
    const port = this.request({ listen: { host: o.host } }, 'listening for rank ' + ((o.rank + o.world - 1) % o.world)) as number;
    o.store.set(`${o.prefix}/cpu/addr/${o.rank}`, `${o.host}:${port}`);
    const next = (o.rank + 1) % o.world;
    const address = new TextDecoder().decode(o.store.get(`${o.prefix}/cpu/addr/${next}`, o.timeoutMs));
    const colon = address.lastIndexOf(':');
    this.request({ connect: { host: address.slice(0, colon), port: Number(address.slice(colon + 1)), timeoutMs: o.timeoutMs } }, `rank ${next} and rank ${(o.rank + o.world - 1) % o.world} to connect`);
  }

  /** A setup request to the thread, answered synchronously. */
  private request(message: Record<string, unknown>, what: string): unknown {
    const id = this.nextId++;
    this.link.post({ id, ...message });
    const deadline = performance.now() + this.timeoutMs + THREAD_GRACE_MS;
    if (!this.link.waitUntil(() => this.replies.has(id), deadline)) {
      throw this.error('initProcessGroup', 'timeout', `the communication thread did not answer within ${this.timeoutMs + THREAD_GRACE_MS} ms${this.link.gone ? ` (${this.link.gone})` : ''}`, what);
    }
    const r = this.replies.get(id)!;
    this.replies.delete(id);
    if (r.error) throw this.error('initProcessGroup', r.error.reason as DistributedFailure, r.error.message, r.error.waitingFor ?? what);
    return r.result;
  }

  private error(op: string, reason: DistributedFailure, message: string, waitingFor: string): DistributedError {
    return new DistributedError(`${op} (rank ${this.rank} of ${this.world}): ${message}`, { reason, op, rank: this.rank, waitingFor });
  }

  private onMessage(m: Reply & { event?: string }): void {
    if (m.event === 'failed') {
      this.failed ??= this.error('process group', m.error!.reason as DistributedFailure, m.error!.message, m.error!.waitingFor ?? '');
      return;
    }
    const pending = this.works.get(m.id);
    if (pending === undefined) {
      this.replies.set(m.id, m);
      return;
    }
    this.works.delete(m.id);
    if (m.error) {
      const e = m.error;
      pending.work.markFailed(new DistributedError(e.message, { reason: e.reason as DistributedFailure, op: pending.work.op, rank: this.rank, waitingFor: e.waitingFor ?? '' }));
    } else {
      pending.buffer.storage.version++;   // written in place by the thread: autograd's check of saved tensors sees it
      pending.work.markComplete();
    }
  }

  get failure(): Error | null {
    return this.failed;
  }

  accepts(t: Tensor): boolean {
    return t.device === cpu && t.isContiguous && this.shared.has(t.storage);
  }

  private view(buffer: SharedArrayBuffer, numel: number, dtype: DType): Tensor {
    const A = dtypeInfo[dtype].arrayType;
    const t = fromTypedArray(new A(buffer, 0, numel), [numel], dtype);
    this.shared.set(t.storage, buffer);
    return t;
  }

  commBuffer(numel: number, dtype: DType): Tensor {
    return this.view(new SharedArrayBuffer(Math.max(1, numel) * dtypeInfo[dtype].itemsize), numel, dtype);
  }

  borrow(numel: number, dtype: DType): Tensor {
    const bytes = numel * dtypeInfo[dtype].itemsize;
    // the smallest spare buffer that fits, aligned for every dtype (8 bytes)
    let best = -1;
    for (let i = 0; i < this.spare.length; i++) {
      const b = this.spare[i];
      if (b.byteLength >= bytes && (best < 0 || b.byteLength < this.spare[best].byteLength)) best = i;
    }
    const buffer = best >= 0 ? this.spare.splice(best, 1)[0] : new SharedArrayBuffer(Math.max(64, 2 ** Math.ceil(Math.log2(Math.max(1, bytes)))));
    return this.view(buffer, numel, dtype);
  }

  release(t: Tensor): void {
    const buffer = this.shared.get(t.storage);
    t.dispose();
    if (buffer !== undefined && this.spare.length < 8) this.spare.push(buffer);
  }

  launch(kind: CollectiveKind, buffer: Tensor, o: LaunchOptions): Work {
    const work = new Work(kind, this);
    if (this.failed !== null) {
      work.markFailed(new DistributedError(`${kind} (rank ${this.rank} of ${this.world}): the process group failed earlier: ${this.failed.message}`, {
        reason: this.failed.reason, op: kind, rank: this.rank, waitingFor: '',
      }));
      return work;
    }
    const id = this.nextId++;
    const timeoutMs = o.timeoutMs ?? this.timeoutMs;
    const job: JobRequest = {
      id, collective: kind, seq: ++this.seq, dtype: buffer.dtype, reduce: o.reduce, buffer: this.shared.get(buffer.storage)!,
      byteOffset: buffer.offset * dtypeInfo[buffer.dtype].itemsize, numel: buffer.numel, root: o.root, timeoutMs,
    };
    this.works.set(id, { work, buffer, deadline: performance.now() + timeoutMs + THREAD_GRACE_MS, timeoutMs });
    this.ids.set(work, id);
    this.link.post({ job });
    return work;
  }

  // ---- WorkDriver ----

  wait(work: Work): void {
    const id = this.ids.get(work) ?? -1;
    const entry = this.works.get(id);
    if (entry === undefined) return;   // already answered
    if (!this.link.waitUntil(() => !this.works.has(id), entry.deadline)) {
      const e = this.error(work.op, 'timeout', `the communication thread did not answer within ${entry.timeoutMs + THREAD_GRACE_MS} ms${this.link.gone ? ` (${this.link.gone})` : ''}`, 'the communication thread');
      this.abort(e.message);
    }
  }

  poll(): void {
    this.link.drain();
  }

  watch(): () => void {
    return this.link.holdAsync();
  }

  abort(reason: string): void {
    this.failed ??= this.error('process group', 'aborted', reason, '');
    for (const [, p] of this.works) p.work.markFailed(new DistributedError(`${p.work.op} (rank ${this.rank} of ${this.world}): ${reason}`, { reason: 'aborted', op: p.work.op, rank: this.rank, waitingFor: '' }));
    this.works.clear();
    this.link.terminate();
  }

  destroy(): void {
    if (this.works.size > 0) this.abort('the process group was destroyed while collectives were pending');
    this.link.post({ close: true });
    setTimeout(() => this.link.terminate(), 1000).unref();
  }
}
