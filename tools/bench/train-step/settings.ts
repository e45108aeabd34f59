/**
 * The training-step benchmark's settings: the RetinaNet example's `fast`, `cpu` and `cuda` presets
 * as they were when docs/benchmarks.md's training-step tables were measured (the example has since
 * moved to @kiln/vision's RetinaNet and a new task; these stay fixed so that the tables stay
 * comparable), the model's seeded construction and the step's gradient release.
 */
import { manualSeed } from '@kiln/tensor';
import { type AnchorConfig, type MatchOptions, RETINANET_ANCHORS, RETINANET_MATCHING } from './anchors.js';
import { NUM_CLASSES, type SceneOptions } from './scenes.js';
import { type ModelConfig, RetinaNet } from './model.js';

export interface Settings {
  /** 'cpu' or 'cuda' (or 'cuda:N') */
  device: string;
  preset: 'fast' | 'cpu' | 'cuda';
  scenes: SceneOptions;
  anchors: AnchorConfig;
  matching: MatchOptions;
  model: ModelConfig;
  batchSize: number;
  /** Adam's learning rate */
  lr: number;
  /** seed of the model's initial weights */
  seed: number;
  /** seed of the training images */
  trainDataSeed: number;
}

function preset(name: Settings['preset'], o: { imageSize: number; maxObjects: number; strides: number[]; width: number; headDepth: number; batchSize: number; device: string }): Settings {
  const anchors: AnchorConfig = { ...RETINANET_ANCHORS, strides: o.strides, sizeFactor: 2 };
  return {
    device: o.device,
    preset: name,
    scenes: { imageSize: o.imageSize, minObjects: 1, maxObjects: o.maxObjects },
    anchors,
    matching: RETINANET_MATCHING,
    model: {
      inChannels: 1, width: o.width, headDepth: o.headDepth, numClasses: NUM_CLASSES,
      anchorsPerLocation: anchors.scales.length * anchors.ratios.length, strides: o.strides, priorProbability: 0.01,
    },
    batchSize: o.batchSize,
    lr: 2e-3,
    seed: 0,
    trainDataSeed: 1,
  };
}

export const PRESETS = {
  fast: () => preset('fast', { imageSize: 32, maxObjects: 3, strides: [2, 4], width: 16, headDepth: 1, batchSize: 4, device: 'cpu' }),
  cpu: () => preset('cpu', { imageSize: 32, maxObjects: 3, strides: [2, 4], width: 16, headDepth: 2, batchSize: 8, device: 'cpu' }),
  cuda: () => preset('cuda', { imageSize: 128, maxObjects: 8, strides: [4, 8, 16], width: 64, headDepth: 4, batchSize: 32, device: 'cuda' }),
} as const;

/** A new model with the settings' seeded initial weights. */
export function buildModel(s: Settings): RetinaNet {
  manualSeed(s.seed);
  return new RetinaNet(s.model).to(s.device);
}

/** Frees the gradients (zeroGrad's setToNone would leave them to the garbage collector). */
export function dropGradients(model: RetinaNet): void {
  for (const p of model.parameters()) {
    p.grad?.dispose();
    p.grad = null;
  }
}
