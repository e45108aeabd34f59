/**
 * The training stream's batches: batch `step` of rank `rank` (of `world`) is a function of the
 * settings and those three numbers only, whichever thread makes it and whenever (batch-pool.ts
 * makes them on worker threads, several steps ahead). A batch carries the images and each
 * image's boxes and labels; the model matches anchors to them on the device.
 */
import type { Tensor } from '@kiln/tensor';
import { fromTypedArray } from '@kiln/tensor';
import { type SceneOptions, makeScenes, packImages } from './data.js';

/** What a batch depends on: plain data, so it can be sent to a worker thread. */
export interface BatchSpec {
  trainDataSeed: number;
  batchSize: number;
  scenes: SceneOptions;
  /** this process's rank and the number of ranks (0 and 1 outside a data-parallel job) */
  rank: number;
  world: number;
}

/**
 * One rank's share of a training batch: packed [count, 3, S, S] pixels and the images' objects,
 * concatenated: image i owns boxes [offsets[i], offsets[i + 1]) (x1, y1, x2, y2 rows) and their labels.
 */
export interface Batch {
  images: Float32Array;
  boxes: Float32Array;
  labels: BigInt64Array;
  /** count + 1 offsets into the objects */
  offsets: Int32Array;
}

/** Rank `rank`'s share of batch `step` of `batchSize` images split between `world` ranks: its first image index and count. */
export function shardFor(step: number, batchSize: number, rank: number, world: number): { first: number; count: number } {
  const count = batchSize / world;
  return { first: step * batchSize + rank * count, count };
}

/** Makes batch `step` of the stream `spec`. */
export function prepareBatch(spec: BatchSpec, step: number): Batch {
  const shard = shardFor(step, spec.batchSize, spec.rank, spec.world);
  const scenes = makeScenes(spec.trainDataSeed, shard.first, shard.count, spec.scenes);
  const offsets = new Int32Array(scenes.length + 1);
  scenes.forEach((s, i) => { offsets[i + 1] = offsets[i] + s.objects.length; });
  const boxes = new Float32Array(4 * offsets[scenes.length]);
  const labels = new BigInt64Array(offsets[scenes.length]);
  scenes.forEach((s, i) => s.objects.forEach((o, j) => {
    boxes.set(o.box, 4 * (offsets[i] + j));
    labels[offsets[i] + j] = BigInt(o.label);
  }));
  return { images: packImages(scenes), boxes, labels, offsets };
}

/** The buffers of a batch, moved rather than copied when it is posted to another thread. */
export function batchBuffers(b: Batch): ArrayBuffer[] {
  return [b.images.buffer, b.boxes.buffer, b.labels.buffer, b.offsets.buffer] as ArrayBuffer[];
}

/**
 * A batch's images [count, 3, S, S] and per-image targets ({ boxes [M, 4] float32, labels [M]
 * int64 }) on `device`: three uploads in all (the images, every box, every label), each image's
 * targets views of the last two.
 */
export function batchTensors(b: Batch, imageSize: number, device: string): { images: Tensor; targets: { boxes: Tensor; labels: Tensor }[] } {
  const count = b.offsets.length - 1, total = b.offsets[count];
  const images = fromTypedArray(b.images, [count, 3, imageSize, imageSize]).to(device);
  const boxes = fromTypedArray(b.boxes, [total, 4]).to(device), labels = fromTypedArray(b.labels, [total]).to(device);
  const targets = Array.from({ length: count }, (_, i) => {
    const [from, to] = [b.offsets[i], b.offsets[i + 1]];
    return { boxes: boxes.narrow(0, from, to - from), labels: labels.narrow(0, from, to - from) };
  });
  return { images, targets };
}
