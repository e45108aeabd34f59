/**
 * The experiment's settings and its three presets: `fast` (a smoke test: seconds), `cpu` (the
 * default on the CPU device: about a minute on 2 cores for the three losses) and `cuda` (larger
 * images, model and run, for a GPU). Every number the example uses lives here.
 */
import type { SceneOptions } from './data.js';
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
   * float32 matrix products and convolutions on TF32 tensor cores (setFloat32MatmulPrecision('high');
   * PyTorch allows TF32 in cuDNN's convolutions by default). On the H100 the cuda preset's step
   * took 37 ms with it against 57 ms in float32 and 58 ms with bf16 autocast (docs/benchmarks.md).
   */
  tf32?: boolean;
  /**
   * Threads that make the training batches ahead of use (batch-pool.ts; 0: the main thread makes
   * each). null: `defaultWorkers(device)`, none on the CPU device, up to 14 on CUDA.
   */
  workers: number | null;
  preset: 'fast' | 'cpu' | 'cuda';
  scenes: SceneOptions;
  model: ModelConfig;
  /** training iterations and images per iteration */
  steps: number;
  batchSize: number;
  /** Adam's peak learning rate, reached after warmupSteps of linear warmup, then cosine decay to 0 */
  lr: number;
  warmupSteps: number;
  /** seeds of the models' initial weights: each variant is trained once per seed, from the same weights */
  seeds: number[];
  /** seeds of the training image stream and of the held-out test images (disjoint streams) */
  trainDataSeed: number;
  testDataSeed: number;
  testImages: number;
  /** images per forward pass when detecting on the test images */
  evalBatch: number;
}

interface PresetShape {
  imageSize: number; maxObjects: number; minSide: number; maxSide: number;
  /** an easier scene than the full task's (fewer classes, distractors, texture): SceneOptions' optional fields */
  scenes?: Pick<SceneOptions, 'classes' | 'maxDistractors' | 'texture'>;
  model: Pick<ModelConfig, 'blocks' | 'baseChannels' | 'returnedLayers' | 'fpnChannels' | 'extraLevels' | 'anchorSize' | 'headGroupNorm'>;
  steps: number; batchSize: number; lr: number; testImages: number; device: string;
}

function preset(name: Settings['preset'], o: PresetShape): Settings {
  return {
    device: o.device,
    threads: null,
    workers: null,
    preset: name,
    scenes: { imageSize: o.imageSize, minObjects: 1, maxObjects: o.maxObjects, minSide: o.minSide, maxSide: o.maxSide, ...o.scenes },
    model: { ...o.model, priorProbability: 0.01, scoreThreshold: 0.05, topkCandidates: 1000, nmsIou: 0.5, maxDetections: 100 },
    steps: o.steps,
    batchSize: o.batchSize,
    lr: o.lr,
    warmupSteps: Math.max(1, Math.min(100, Math.floor(o.steps / 10))),
    seeds: [0],
    trainDataSeed: 1,
    testDataSeed: 2,
    testImages: o.testImages,
    evalBatch: 50,
  };
}

/**
 * 64 x 64 images: stages 2 and 3 of a quarter-width ResNet (strides 8, 16) and a pooled level
 * (stride 32), so that every level keeps at least 2 x 2 cells; anchors of 16 to 101 pixels.
 *
 * The CPU presets' scenes are easier than the full task (the `cuda` preset's), sized so that a
 * minute of training on 2 cores gives a detector that detects: three classes (rectangle, ellipse,
 * triangle), 1 to 3 objects of 16 to 44 pixels, at most 2 distractors and half the background
 * texture. With all six classes, 10-pixel objects, 6 distractors and the full texture, the same
 * budget reached COCO AP50 0.02 to 0.2 (README, "Choosing the cpu preset").
 */
const SMALL = { imageSize: 64, minSide: 16, maxSide: 44, maxObjects: 3, scenes: { classes: 3, maxDistractors: 2, texture: 0.5 } } as const;
/**
 * GroupNorm in the head's hidden convolutions (as torchvision's RetinaNet v2): without it the head,
 * trained from scratch, learned so slowly that the detector predicted nearly the same boxes on
 * every image after 300 steps (AP50 0.024 against 0.088 with it, all else equal).
 */
const SMALL_MODEL: PresetShape['model'] = { blocks: [1, 1, 1, 1], baseChannels: 16, returnedLayers: [2, 3], fpnChannels: 32, extraLevels: 'pool', anchorSize: 16, headGroupNorm: 8 };

export const PRESETS = {
  /** seconds: CI's smoke test */
  fast: () => preset('fast', { ...SMALL, model: SMALL_MODEL, steps: 30, batchSize: 4, lr: 2e-3, testImages: 8, device: 'cpu' }),
  /** about a minute for the three losses on a 2-core CPU (training and evaluation) */
  cpu: () => preset('cpu', { ...SMALL, model: SMALL_MODEL, steps: 500, batchSize: 4, lr: 5e-3, testImages: 100, device: 'cpu' }),
  /**
   * A GPU: 256 x 256 images with up to 12 objects of 12 to 180 pixels, ResNet-18's layout at full
   * width, layers 2 to 4 and RetinaNet's P6, P7 (strides 8 to 128, 32 x 32 to 2 x 2 cells), a
   * 128-channel pyramid, a head with GroupNorm (32 groups, as torchvision's RetinaNet v2), 1500
   * steps of 32 images, 500 test images, float32 with TF32 convolutions and matmuls (PyTorch's
   * default for convolutions). Without the head's norm (the paper's v1 head) focal loss was
   * unstable here: two of three seeds stalled after the warmup (README, "The cuda preset on a GPU").
   */
  cuda: () => ({
    ...preset('cuda', {
      imageSize: 256, minSide: 12, maxSide: 180, maxObjects: 12,
      model: { blocks: [2, 2, 2, 2], baseChannels: 64, returnedLayers: [2, 3, 4], fpnChannels: 128, extraLevels: 'p6p7', anchorSize: 16, headGroupNorm: 32 },
      steps: 1500, batchSize: 32, lr: 1e-3, testImages: 500, device: 'cuda',
    }),
    tf32: true,
  }),
} as const;
