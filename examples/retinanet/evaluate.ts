/**
 * Scoring on the held-out images: the trained RetinaNet detects on them (its own post-processing:
 * per-level top-k, score threshold, decoding, batched NMS), and @kiln/vision's COCO evaluation
 * scores the detections against the images' ground truth, both built in memory: pycocotools' 12
 * metrics (AP at IoU 0.50:0.95, AP50, AP75, AP for small / medium / large objects, AR at 1, 10
 * and 100 detections, AR small / medium / large) overall and per class.
 */
import { fromTypedArray, tidy } from '@kiln/tensor';
import { noGrad } from '@kiln/autograd';
import { Coco, type CocoMetrics, detectionsToCocoResults, evaluateCoco } from '@kiln/vision';
import type { Settings } from './config.js';
import { type Box, type Scene, packImages } from './data.js';
import type { Detector } from './train.js';

/** One detection on the host: box (x1, y1, x2, y2) in pixels, class 0 .. (classes drawn) - 1, score. */
export interface Detection {
  box: Box;
  score: number;
  label: number;
}

/** The COCO metrics of one trained model on the test images. */
export interface CocoScores {
  /** the 12 metrics; -1 where undefined (no ground truth in the range: no object is large in a 64 x 64 image) */
  metrics: CocoMetrics;
  /** AP at IoU 0.50:0.95 of each class */
  apPerClass: number[];
  /** pycocotools' 12 lines */
  text: string;
}

/** COCO's category id of class c (ids start at 1). */
const categoryId = (label: number): number => label + 1;

/**
 * The test images' ground truth as a COCO data set (area: the box's, which decides small / medium /
 * large), with one category per class the task draws (`classNames`, data.ts's classNamesOf).
 */
export function cocoGroundTruth(scenes: readonly Scene[], imageSize: number, classNames: readonly string[]): Coco {
  let id = 0;
  return new Coco({
    images: scenes.map((_, i) => ({ id: i, width: imageSize, height: imageSize })),
    annotations: scenes.flatMap((s, i) => s.objects.map((o) => {
      const [x1, y1, x2, y2] = o.box;
      return { id: ++id, image_id: i, category_id: categoryId(o.label), bbox: [x1, y1, x2 - x1, y2 - y1] as [number, number, number, number], area: (x2 - x1) * (y2 - y1), iscrowd: 0 };
    })),
    categories: classNames.map((name, c) => ({ id: categoryId(c), name })),
  });
}

/** The model's detections on `scenes` (evaluation mode, no gradients), `evalBatch` images per forward. */
export function detect(model: Detector, scenes: readonly Scene[], s: Settings): Detection[][] {
  const S = s.scenes.imageSize, out: Detection[][] = [];
  model.eval();
  for (let first = 0; first < scenes.length; first += s.evalBatch) {
    const chunk = scenes.slice(first, first + s.evalBatch);
    noGrad(() => tidy(() => {
      const images = fromTypedArray(packImages(chunk), [chunk.length, 3, S, S]).to(s.device);
      for (const d of model.detect(images)) out.push(toHost(d.boxes.toTypedArray() as Float32Array, d.scores.toTypedArray() as Float32Array, d.labels.toTypedArray() as BigInt64Array));
    }));
  }
  return out;
}

/** One image's detections from the model's tensors, read back. */
export function toHost(boxes: Float32Array, scores: Float32Array, labels: BigInt64Array): Detection[] {
  return Array.from(scores, (score, j) => ({ box: [boxes[4 * j], boxes[4 * j + 1], boxes[4 * j + 2], boxes[4 * j + 3]] as const, score, label: Number(labels[j]) }));
}

/** COCO's 12 metrics of `detections` against `gt` (cocoGroundTruth of the same images, in the same order). */
export function scoreDetections(detections: readonly Detection[][], gt: Coco): CocoScores {
  const results = tidy(() => detectionsToCocoResults(detections.map((dets, i) => ({
    imageId: i,
    boxes: fromTypedArray(Float32Array.from(dets.flatMap((d) => [...d.box])), [dets.length, 4]),
    scores: fromTypedArray(Float32Array.from(dets, (d) => d.score)),
    labels: fromTypedArray(BigInt64Array.from(dets, (d) => BigInt(d.label))),
  })), { labelToCategoryId: categoryId }));
  const r = evaluateCoco(gt, results);
  const apPerClass = [...gt.categories.keys()].map((id) => r.perCategory.find((p) => p.categoryId === id)?.metrics.ap ?? -1);
  return { metrics: r.metrics, apPerClass, text: r.text };
}
