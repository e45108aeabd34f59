/**
 * The experiment's settings and its three presets: `fast` (a smoke test: seconds), `cpu` (the
 * default on the embedded CPU device: a few minutes on 2 cores) and `cuda` (larger images, model
 * and run, for a GPU). Every number the example uses lives here.
 */
import { type AnchorConfig, type MatchOptions, RETINANET_ANCHORS, RETINANET_MATCHING } from './anchors.js';
import { NUM_CLASSES, type SceneOptions } from './data.js';
import type { ModelConfig } from './model.js';

export interface Settings {
  /** 'cpu' or 'cuda' (or 'cuda:N') */
  device: string;
  /**
   * Threads of the CPU kernels (null: Kiln's default, one per core; `cpuThreads` in @kiln/tensor).
   * The default is never slower than one thread: small ops stay on one thread, and the CPU device's
   * idle threads sleep rather than compete with other work on a busy machine.
   */
  threads: number | null;
  /**
   * Mixed precision (absent: float32): 'bf16' runs forward and losses in an autocast scope with
   * bfloat16 convolutions; 'fp16' with float16 ones and a GradScaler scaling the loss.
   */
  amp?: 'bf16' | 'fp16';
  /**
   * Threads that make the training batches ahead of use (batch-pool.ts; 0: the main thread makes
   * each). null: `defaultWorkers(device)`, none on the CPU device, up to 4 on CUDA.
   */
  workers: number | null;
  preset: 'fast' | 'cpu' | 'cuda';
  scenes: SceneOptions;
  anchors: AnchorConfig;
  matching: MatchOptions;
  model: ModelConfig;
  /** training iterations and images per iteration */
  steps: number;
  batchSize: number;
  /** Adam's peak learning rate, reached after warmupSteps of linear warmup, then cosine decay to 0 */
  lr: number;
  warmupSteps: number;
  /** seed of the models' initial weights (the same for every loss compared) */
  seed: number;
  /** seeds of the training image stream and of the held-out test images (disjoint streams) */
  trainDataSeed: number;
  testDataSeed: number;
  testImages: number;
  /** inference: score threshold, candidates per image before NMS, NMS IoU, detections kept per image */
  scoreThreshold: number;
  preNmsTopK: number;
  nmsIou: number;
  maxDetections: number;
}

const anchorsFor = (strides: number[]): AnchorConfig => ({ ...RETINANET_ANCHORS, strides, sizeFactor: 2 });

function preset(name: Settings['preset'], o: {
  imageSize: number; maxObjects: number; strides: number[]; width: number; headDepth: number;
  steps: number; batchSize: number; testImages: number; device: string;
}): Settings {
  const anchors = anchorsFor(o.strides);
  return {
    device: o.device,
    threads: null,
    workers: null,
    preset: name,
    scenes: { imageSize: o.imageSize, minObjects: 1, maxObjects: o.maxObjects },
    anchors,
    matching: RETINANET_MATCHING,
    model: {
      inChannels: 1, width: o.width, headDepth: o.headDepth, numClasses: NUM_CLASSES,
      anchorsPerLocation: anchors.scales.length * anchors.ratios.length, strides: o.strides, priorProbability: 0.01,
    },
    steps: o.steps,
    batchSize: o.batchSize,
    lr: 2e-3,
    warmupSteps: Math.max(1, Math.min(100, Math.floor(o.steps / 10))),
    seed: 0,
    trainDataSeed: 1,
    testDataSeed: 2,
    testImages: o.testImages,
    scoreThreshold: 0.05,
    preNmsTopK: 1000,
    nmsIou: 0.5,
    maxDetections: 100,
  };
}

export const PRESETS = {
  /** seconds: CI's smoke test */
  fast: () => preset('fast', { imageSize: 32, maxObjects: 3, strides: [2, 4], width: 16, headDepth: 1, steps: 30, batchSize: 4, testImages: 12, device: 'cpu' }),
  /** a few minutes on a 2-core CPU */
  cpu: () => preset('cpu', { imageSize: 32, maxObjects: 3, strides: [2, 4], width: 16, headDepth: 2, steps: 600, batchSize: 8, testImages: 300, device: 'cpu' }),
  /** a GPU: 128 x 128 images (more background per object: ~1:400 anchors), RetinaNet's head depth, longer training */
  cuda: () => preset('cuda', { imageSize: 128, maxObjects: 8, strides: [4, 8, 16], width: 64, headDepth: 4, steps: 1500, batchSize: 32, testImages: 1000, device: 'cuda' }),
} as const;
