/**
 * The main thread's side of a communication thread. The thread owns the sockets (the store, the
 * CPU backend's ring), so communication goes on while the main thread computes (a backward pass,
 * say) or blocks. Calls are messages; replies come back as messages on a port, and each reply also
 * bumps a shared counter, so the main thread can block on it (Atomics.wait) and read the replies
 * synchronously (receiveMessageOnPort) without turning the event loop: that is how `work.wait()`,
 * the store's `get` and `initProcessGroup` block, as their PyTorch counterparts do. The same
 * replies reach promises when the event loop turns.
 */
import { MessageChannel, type MessagePort, type TransferListItem, type Worker, receiveMessageOnPort } from 'node:worker_threads';
import { startWorker } from './start-worker.js';

/** What a communication thread receives at start (besides its own data). */
export interface LinkData {
  /** Where it posts replies and events. */
  port: MessagePort;
  /** Bumped after each message it posts (Atomics.notify wakes a blocked main thread). */
  counter: Int32Array;
}

/** A reply to request `id`: a result or an error (plain data). */
export interface Reply {
  id: number;
  result?: unknown;
  error?: { message: string; reason?: string; waitingFor?: string; [field: string]: unknown };
}

/** Longest single Atomics.wait: the loop re-checks the deadline at least this often. */
const WAIT_SLICE_MS = 200;

export class WorkerLink {
  private readonly worker: Worker;
  private readonly port: MessagePort;
  private readonly counter = new Int32Array(new SharedArrayBuffer(4));
  private asyncWaiters = 0;
  private exitReason: string | null = null;
  /** Called with every message from the thread, in order, whichever way it was read. */
  onMessage: (message: unknown) => void = () => {};

  /** Starts `entry` in a worker thread with `data` (plus the port and counter under `link`). */
  constructor(entry: URL, data: Record<string, unknown>, transfer: readonly TransferListItem[] = []) {
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    this.port.on('message', (m: unknown) => this.onMessage(m));
    this.port.unref();
    const link: LinkData = { port: port2, counter: this.counter };
    this.worker = startWorker(entry, { ...data, link }, [port2, ...transfer]);
    this.worker.on('error', (e) => { this.exitReason = `its thread failed: ${e.message}`; });
    this.worker.on('exit', (code) => { this.exitReason ??= `its thread exited (code ${code})`; });
  }

  /** Sends a message to the thread. */
  post(message: unknown, transfer: readonly TransferListItem[] = []): void {
    this.worker.postMessage(message, [...transfer]);
  }

  /** Why the thread is gone, or null while it runs (known once the event loop has turned). */
  get gone(): string | null {
    return this.exitReason;
  }

  /** Hands every message that arrived to onMessage, synchronously. */
  drain(): void {
    for (let m = receiveMessageOnPort(this.port); m !== undefined; m = receiveMessageOnPort(this.port)) this.onMessage(m.message);
  }

  /**
   * Blocks the calling thread until `done()` is true, handing messages to onMessage as they come;
   * returns false if `deadline` (a performance.now() time) passes first.
   */
  waitUntil(done: () => boolean, deadline: number): boolean {
    for (;;) {
      const seen = Atomics.load(this.counter, 0);   // read before draining: a later message changes it
      this.drain();
      if (done()) return true;
      const left = deadline - performance.now();
      if (left <= 0) return false;
      Atomics.wait(this.counter, 0, seen, Math.min(left, WAIT_SLICE_MS));
    }
  }

  /** Keeps the event loop alive while a promise waits for the thread's messages. */
  holdAsync(): () => void {
    if (this.asyncWaiters++ === 0) this.port.ref();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      if (--this.asyncWaiters === 0) this.port.unref();
    };
  }

  /** Stops the thread (its sockets close). */
  terminate(): void {
    this.port.close();
    void this.worker.terminate();
  }
}

/** The thread's side: posts a message to the main thread and wakes it if it is blocked. */
export function notifyMain(link: LinkData, message: unknown): void {
  link.port.postMessage(message);
  Atomics.add(link.counter, 0, 1);
  Atomics.notify(link.counter, 0);
}
