/**
 * `Work`: the handle of an asynchronous collective (PyTorch's Work), returned when `asyncOp` is
 * set. Its result may be used once `wait()` returns; `promise` resolves when the collective has
 * completed, without blocking the event loop.
 */
// eslint-disable-next-line @typescript-eslint/no-unused-vars -- imported for the {@link DistributedError} in the TSDoc below
import type { DistributedError } from './errors.js';

/** How a backend waits for and observes its works (one per backend). */
export interface WorkDriver {
  /** Returns once `work` is ready or failed (CPU: blocks until done; NCCL: checks for errors, the stream orders the rest). */
  wait(work: Work): void;
  /** Updates `work` with what is known now, without blocking. */
  poll(work: Work): void;
  /** Starts observing `work` for its promise; returns the function that stops. */
  watch(work: Work): () => void;
}

/**
 * The handle of a collective started with `asyncOp: true`. `wait()` returns once the result may be
 * used (CPU backend: the data is there; NCCL: later work on the device's stream is ordered after
 * the collective, so the host does not block) and throws the collective's {@link DistributedError}
 * if it failed; `promise` resolves once it has completed.
 *
 * @example
 * ```ts
 * const work = allReduce(grad, { op: 'sum', asyncOp: true });
 * // ... other work while the gradient travels ...
 * work.wait();                 // grad now holds the sum over the ranks
 * await allReduce(other, { asyncOp: true }).promise;
 * ```
 */
export class Work {
  private readyState = false;
  private completeState = false;
  private failure: Error | null = null;
  private readonly onReadyCallbacks: (() => void)[] = [];
  private settled: Promise<void> | null = null;
  private resolveSettled: (() => void) | null = null;
  private rejectSettled: ((e: Error) => void) | null = null;

  /** @internal */
  constructor(
    /** The collective ('allReduce', 'broadcast', ...). */
    readonly op: string,
    private readonly driver: WorkDriver,
  ) {}

  /** Blocks until the result may be used; throws the collective's error if it failed. */
  wait(): void {
    if (!this.readyState && this.failure === null) this.driver.wait(this);
    if (this.failure !== null) throw this.failure;
  }

  /** True once the collective has completed (or failed). */
  isCompleted(): boolean {
    if (!this.completeState && this.failure === null) this.driver.poll(this);
    return this.completeState || this.failure !== null;
  }

  /** Resolves when the collective has completed; rejects with its error. */
  get promise(): Promise<void> {
    if (this.settled === null) {
      this.settled = new Promise<void>((resolve, reject) => {
        this.resolveSettled = resolve;
        this.rejectSettled = reject;
      });
      this.settled.catch(() => {});   // an unawaited failed promise is not an unhandled rejection
      if (this.failure !== null) this.rejectSettled!(this.failure);
      else if (this.completeState) this.resolveSettled!();
      else {
        const release = this.driver.watch(this);
        this.settled.then(release, release);
      }
    }
    return this.settled;
  }

  /** @internal Runs `f` once the result may be used (now, if it may); skipped if the work fails. */
  onReady(f: () => void): void {
    if (this.readyState) f();
    else if (this.failure === null) this.onReadyCallbacks.push(f);
  }

  /** @internal The result may be used by later work. */
  markReady(): void {
    if (this.readyState || this.failure !== null) return;
    this.readyState = true;
    try {
      for (const f of this.onReadyCallbacks.splice(0)) f();
    } catch (e) {
      this.readyState = false;
      this.markFailed(e as Error);
    }
  }

  /** @internal The collective has completed (implies ready). */
  markComplete(): void {
    this.markReady();
    if (this.failure !== null || this.completeState) return;
    this.completeState = true;
    this.resolveSettled?.();
  }

  /** @internal The collective failed. */
  markFailed(e: Error): void {
    if (this.failure !== null || this.completeState) return;
    this.failure = e;
    this.onReadyCallbacks.length = 0;
    this.rejectSettled?.(e);
  }
}
