/**
 * Training batches made ahead of use, as PyTorch's DataLoader(num_workers, prefetch_factor) makes
 * them: `workers` threads each make whole batches (scenes, packed pixels, boxes and labels) and post
 * them back with their buffers transferred, up to `ahead` batches per worker ahead of the one
 * being trained on. Batch t goes to worker t mod workers, but its content depends only on
 * (settings, t, rank), never on the worker (batches.ts).
 *
 * `take` is synchronous, as the training loop is: it blocks on a shared counter (Atomics.wait) that
 * each worker bumps after posting, and reads the messages with receiveMessageOnPort, without
 * turning the event loop. With 0 workers the batches are made on the main thread, on request.
 *
 * Why not @kiln/vision's DataLoader: it is asynchronous (`for await`) and fetches a dataset's items
 * concurrently on the main thread (its parallelism is libuv's file reading and decoding); these
 * batches are CPU-bound JavaScript, which only other threads can take off the main thread.
 */
import { MessageChannel, type MessagePort, Worker, receiveMessageOnPort } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { type Batch, type BatchSpec, prepareBatch } from './batches.js';
import type { BatchRequest, BatchWorkerData } from './batch-worker.js';

export interface BatchPoolOptions {
  /** threads making batches (0: the main thread makes each batch when it is taken) */
  workers: number;
  /** batches each worker makes ahead (PyTorch's prefetch_factor; default 2) */
  ahead?: number;
  /** the longest `take` waits for a batch before it gives up with an error (default 120 s) */
  timeoutMs?: number;
}

/**
 * The default number of batch workers: none on the CPU device (its kernels use every core, and
 * the batches of the CPU presets are small), otherwise all cores but two (the main thread's and
 * the CUDA driver's), at most 14: a batch of the cuda preset (32 images of 256 x 256) takes
 * ~180 ms of one core to make and the GPU step about 30 ms, so it takes a dozen threads to keep
 * up (eight made one batch per 35 ms and held the whole training to that pace on a 16-core
 * machine: `npm start` there spent 40 to 44 ms a step).
 */
export function defaultWorkers(device: string): number {
  return device.startsWith('cuda') ? Math.max(1, Math.min(14, availableParallelism() - 2)) : 0;
}

type Reply = { step: number; batch: Batch; error?: undefined } | { step: number; error: string };

/** Starts batch-worker in a thread; from the TypeScript sources through tsx, which Node 20 does not pass on to workers. */
function startBatchWorker(data: BatchWorkerData): Worker {
  const here = import.meta.url;
  const entry = new URL(`./batch-worker${here.endsWith('.ts') ? '.ts' : '.js'}`, here);
  const options = { workerData: data, transferList: [data.port] };
  if (!entry.pathname.endsWith('.ts')) return new Worker(entry, options);
  const boot = `import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(entry.href)}); })`;
  return new Worker(boot, { ...options, eval: true });
}

export class BatchPool {
  readonly workers: number;
  private readonly spec: BatchSpec;
  private readonly ahead: number;
  private readonly timeoutMs: number;
  private readonly threads: Worker[] = [];
  /** where worker w posts its batches */
  private readonly ports: MessagePort[] = [];
  private readonly counter = new Int32Array(new SharedArrayBuffer(4));
  private readonly ready = new Map<number, Reply>();
  private readonly exited: Promise<unknown>[] = [];
  /** the next step to request from a worker */
  private requested = 0;
  private live = 0;
  private closed = false;

  /**
   * Starts the workers (they start making batches firstStep, firstStep + 1, ... at once; a resumed
   * run starts at its checkpoint's step).
   *
   * @example
   * ```ts
   * const pool = new BatchPool(batchSpecOf(settings), { workers: 2 });
   * try {
   *   for (let step = 0; step < steps; step++) train(pool.take(step));
   * } finally {
   *   void pool.close();
   * }
   * ```
   */
  constructor(spec: BatchSpec, o: BatchPoolOptions, firstStep = 0) {
    if (!Number.isInteger(o.workers) || o.workers < 0) throw new RangeError(`BatchPool: workers must be an integer >= 0, got ${o.workers}`);
    const ahead = o.ahead ?? 2;
    if (!Number.isInteger(ahead) || ahead < 1) throw new RangeError(`BatchPool: ahead must be an integer >= 1, got ${ahead}`);
    this.spec = spec;
    this.workers = o.workers;
    this.ahead = ahead;
    this.timeoutMs = o.timeoutMs ?? 120_000;
    for (let w = 0; w < this.workers; w++) {
      const { port1, port2 } = new MessageChannel();
      const worker = startBatchWorker({ spec, port: port2, counter: this.counter });
      worker.unref();
      this.live++;
      this.exited.push(new Promise((resolve) => worker.once('exit', () => { this.live--; resolve(undefined); })));
      this.threads.push(worker);
      this.ports.push(port1);
    }
    this.requestAhead(firstStep);
  }

  /** Threads of this pool that have not exited yet (0 once `close()` has resolved). */
  get liveThreads(): number {
    return this.live;
  }

  /** Batch `step`; steps are taken in increasing order (each at most once). */
  take(step: number): Batch {
    if (this.closed) throw new Error('BatchPool.take: the pool is closed');
    if (this.workers === 0) return prepareBatch(this.spec, step);
    this.requestAhead(step);
    const deadline = performance.now() + this.timeoutMs;
    for (;;) {
      const seen = Atomics.load(this.counter, 0);   // read before draining: a later message changes it
      for (const port of this.ports) {
        for (let m = receiveMessageOnPort(port); m !== undefined; m = receiveMessageOnPort(port)) {
          const reply = m.message as Reply;
          if (reply.error !== undefined && reply.step < 0) throw new Error(`BatchPool: a batch worker failed to start: ${reply.error}`);
          this.ready.set(reply.step, reply);
        }
      }
      const reply = this.ready.get(step);
      if (reply !== undefined) {
        this.ready.delete(step);
        if (reply.error !== undefined) throw new Error(`BatchPool: batch ${step} failed in its worker: ${reply.error}`);
        return reply.batch;
      }
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`BatchPool.take: no batch ${step} from the workers after ${this.timeoutMs} ms`);
      Atomics.wait(this.counter, 0, seen, Math.min(left, 200));
    }
  }

  /** Stops the workers; resolves once every thread has exited. Batches made ahead are dropped. */
  close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      for (const w of this.threads) void w.terminate();
      for (const port of this.ports) port.close();
      this.ready.clear();
    }
    return Promise.all(this.exited).then(() => undefined);
  }

  /** Asks the workers for every batch up to `ahead` per worker past `step`. */
  private requestAhead(step: number): void {
    for (this.requested = Math.max(this.requested, step); this.requested < step + this.workers * this.ahead; this.requested++) {
      const request: BatchRequest = { step: this.requested };
      this.threads[this.requested % this.workers].postMessage(request);
    }
  }
}
