/**
 * A batch worker thread (batch-pool.ts starts it): makes the batches the main thread asks for and
 * posts each back with its buffers transferred, then bumps the shared counter so that a main
 * thread blocked in Atomics.wait wakes. An error is posted back as a message, never thrown away.
 */
import { type MessagePort, parentPort, workerData } from 'node:worker_threads';
import { type BatchSpec, batchBuffers, prepareBatch } from './batches.js';

export interface BatchWorkerData {
  spec: BatchSpec;
  /** where batches go (the main thread reads it synchronously) */
  port: MessagePort;
  /** bumped after each message posted on `port` */
  counter: Int32Array;
}

/** A request: make batch `step`. */
export interface BatchRequest {
  step: number;
}

const { spec, port, counter } = workerData as BatchWorkerData;

function post(message: unknown, transfer: ArrayBuffer[] = []): void {
  port.postMessage(message, transfer);
  Atomics.add(counter, 0, 1);
  Atomics.notify(counter, 0);
}

try {
  parentPort!.on('message', ({ step }: BatchRequest) => {
    try {
      const batch = prepareBatch(spec, step);
      post({ step, batch }, batchBuffers(batch));
    } catch (e) {
      post({ step, error: (e as Error).message });
    }
  });
} catch (e) {
  post({ step: -1, error: (e as Error).message });
}
