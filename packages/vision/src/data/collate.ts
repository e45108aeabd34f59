/** Collating detection samples: images stacked, targets kept as a list (their box counts differ). */
import { type Tensor, ShapeError, Tensor as TensorClass, stack } from '@kiln/tensor';
import type { DetectionSample, DetectionTarget } from './sample.js';

/** A batch of detection samples. */
export interface DetectionBatch {
  /** The images stacked into one tensor of shape [B, C, H, W]. */
  images: Tensor;
  /** Each image's target, in batch order. */
  targets: DetectionTarget[];
}

/**
 * Stacks the samples' image tensors into [B, C, H, W] and lists their targets (each has its own
 * number of boxes). The images must be tensors of one size (resize them to one size, then
 * `toTensor`); the samples' image tensors are disposed, the batch owns the stacked copy.
 *
 * @example
 * ```ts
 * const loader = new DataLoader(dataset, { batchSize: 4, collate: detectionCollate });
 * for await (const { images, targets } of loader) console.log(images.shape, targets.map((t) => t.boxes.shape[0]));
 * ```
 */
export function detectionCollate(samples: readonly DetectionSample[]): DetectionBatch {
  const op = 'detectionCollate';
  if (samples.length === 0) throw new ShapeError(op, 'samples', 'at least one sample', '0');
  const images = samples.map((s, i) => {
    if (!(s.image instanceof TensorClass)) throw new ShapeError(op, `samples[${i}].image`, 'a tensor [C, H, W] (add toTensor to the transforms)', 'decoded pixels');
    return s.image;
  });
  const shape = images[0].shape;
  images.forEach((im, i) => {
    if (im.shape.length !== shape.length || im.shape.some((d, j) => d !== shape[j])) {
      throw new ShapeError(op, `samples[${i}].image`, `the shape of the first image [${shape.join(', ')}] (resize to one size)`, `[${im.shape.join(', ')}]`);
    }
  });
  const batch = { images: stack(images, 0), targets: samples.map((s) => s.target) };
  for (const im of images) im.dispose();
  return batch;
}
