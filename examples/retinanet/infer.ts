/**
 * `main.ts infer`: runs a trained checkpoint on an image file and writes the image with its
 * detections drawn (boxes, class names and scores). The image is decoded by @kiln/vision's
 * readImage (sharp) and seen at its own size: the detector was trained on the task's image size
 * and object sizes (`settings.scenes`), so an image of that kind is what it finds objects in.
 */
import { writeFileSync } from 'node:fs';
import { fromTypedArray, tidy } from '@kiln/tensor';
import { noGrad } from '@kiln/autograd';
import { loadCheckpoint, disposeCheckpoint, type CheckpointValue } from '@kiln/nn';
import { loadTrainingCheckpoint } from '@kiln/optim';
import { imageToTensor, readImage } from '@kiln/vision';
import { CLASS_NAMES } from './data.js';
import { type Detection, toHost } from './evaluate.js';
import type { LossVariant } from './loss.js';
import { type ModelConfig, buildDetector } from './model.js';
import { drawDetectionsOnImage } from './plots.js';

export interface InferOptions {
  checkpoint: string;
  image: string;
  out: string;
  /** detections drawn: score at or above it */
  minScore: number;
  device: string;
}

/**
 * The model settings a checkpoint was trained with and the classes it detects (train.ts saves
 * them beside the weights; a checkpoint from before the class list was saved has all six).
 */
export function checkpointModel(path: string): { model: ModelConfig; variant: LossVariant; classNames: readonly string[] } {
  type Extra = { model?: string; variant?: string; classes?: string };
  const ckpt = loadCheckpoint(path) as { extra?: Extra } & CheckpointValue;
  try {
    const extra = (ckpt as { extra?: Extra }).extra;
    if (typeof extra?.model !== 'string' || typeof extra.variant !== 'string') throw new Error(`infer: ${path} is not a checkpoint of this example (no model settings in it)`);
    const classNames = typeof extra.classes === 'string' ? JSON.parse(extra.classes) as string[] : [...CLASS_NAMES];
    return { model: JSON.parse(extra.model) as ModelConfig, variant: JSON.parse(extra.variant) as LossVariant, classNames };
  } finally {
    disposeCheckpoint(ckpt);
  }
}

/** Detects on the image file and writes it with the detections drawn; returns the detections and the class names of their labels. */
export async function infer(o: InferOptions): Promise<{ detections: Detection[]; classNames: readonly string[] }> {
  const { model: config, variant, classNames } = checkpointModel(o.checkpoint);
  const model = buildDetector(config, classNames.length, variant, 0, o.device);
  try {
    loadTrainingCheckpoint(o.checkpoint, { model });
    model.eval();
    const raw = await readImage(o.image);
    const pixels = tidy(() => imageToTensor(raw).toTypedArray() as Float32Array);
    const detections = noGrad(() => tidy(() => {
      const [d] = model.detect(fromTypedArray(pixels, [1, 3, raw.height, raw.width]).to(o.device));
      return toHost(d.boxes.toTypedArray() as Float32Array, d.scores.toTypedArray() as Float32Array, d.labels.toTypedArray() as BigInt64Array);
    }));
    const png = await drawDetectionsOnImage(
      { pixels, channels: 3, height: raw.height, width: raw.width },
      detections, classNames, o.minScore,
    );
    writeFileSync(o.out, png);
    return { detections, classNames };
  } finally {
    for (const t of [...model.parameters(), ...model.buffers()]) t.dispose();
  }
}
