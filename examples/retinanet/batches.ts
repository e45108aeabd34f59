/**
 * The training stream's batches: batch `step` of rank `rank` (of `world`) is a function of the
 * settings and those three numbers only, whichever thread makes it and whenever (batch-pool.ts
 * makes them on worker threads, several steps ahead).
 */
import { type AnchorSet, type MatchOptions, type Targets, assignTargets, makeAnchors, type AnchorConfig } from './anchors.js';
import { type SceneOptions, makeScenes, packImages } from './data.js';

/** What a batch depends on: plain data, so it can be sent to a worker thread. */
export interface BatchSpec {
  trainDataSeed: number;
  batchSize: number;
  scenes: SceneOptions;
  anchors: AnchorConfig;
  matching: MatchOptions;
  /** this process's rank and the number of ranks (0 and 1 outside a data-parallel job) */
  rank: number;
  world: number;
}

/** One rank's share of a training batch: packed [count, 1, S, S] pixels and the anchors' targets. */
export interface Batch {
  images: Float32Array;
  targets: Targets;
}

/** Rank `rank`'s share of batch `step` of `batchSize` images split between `world` ranks: its first image index and count. */
export function shardFor(step: number, batchSize: number, rank: number, world: number): { first: number; count: number } {
  const count = batchSize / world;
  return { first: step * batchSize + rank * count, count };
}

/** Makes batch `step` of the stream `spec` (`anchors`: makeAnchors of the spec, passed in to be made once). */
export function prepareBatch(spec: BatchSpec, anchors: AnchorSet, step: number): Batch {
  const shard = shardFor(step, spec.batchSize, spec.rank, spec.world);
  const scenes = makeScenes(spec.trainDataSeed, shard.first, shard.count, spec.scenes);
  return {
    images: packImages(scenes, spec.scenes.imageSize),
    targets: assignTargets(anchors, scenes.map((sc) => sc.objects), spec.matching),
  };
}

/** The anchors of a spec's images. */
export const anchorsOf = (spec: BatchSpec): AnchorSet => makeAnchors(spec.scenes.imageSize, spec.anchors);

/** The buffers of a batch, moved rather than copied when it is posted to another thread. */
export function batchBuffers(b: Batch): ArrayBuffer[] {
  return [b.images.buffer, b.targets.labels.buffer, b.targets.deltas.buffer, b.targets.positiveMask.buffer] as ArrayBuffer[];
}
