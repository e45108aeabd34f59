/** What detection datasets, transforms and collate pass along: an image and its target. */
import type { Tensor } from '@kiln/tensor';
import type { RawImage } from './image.js';

/** The objects of one image (torchvision's detection target). */
export interface DetectionTarget {
  /** [N, 4] float32 boxes (x1, y1, x2, y2) in the image's current pixels. */
  boxes: Tensor;
  /** [N] int64 labels. */
  labels: Tensor;
  /** The image's id (COCO's), when it has one. */
  imageId?: number;
  /** Other per-image data travel along unchanged. */
  [key: string]: unknown;
}

/** One item of a detection dataset: decoded pixels (before `toTensor`) or a [3, H, W] tensor. */
export interface DetectionSample {
  /** The image. */
  image: RawImage | Tensor;
  /** Its objects. */
  target: DetectionTarget;
}

/** A step of a detection pipeline: takes a sample (and owns its tensors), returns the new one. */
export type DetectionTransform = (sample: DetectionSample) => DetectionSample | Promise<DetectionSample>;
