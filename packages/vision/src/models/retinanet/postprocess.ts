/**
 * RetinaNet's post-processing, as torchvision's `RetinaNet.postprocess_detections`: per image and
 * pyramid level, the (anchor, class) pairs whose score exceeds `scoreThresh`, the best
 * `topkCandidates` of them, their boxes decoded from the anchors and clipped to the image; then
 * class-wise NMS over the image's levels together and the best `detectionsPerImg`.
 */
import { type Tensor, cat, nonzero, topk } from '@kiln/tensor';
import { type BoxCoder, batchedNms, clipBoxesToImage } from '../../ops/index.js';
import type { Detection } from './types.js';

/** The thresholds and counts of post-processing (torchvision's defaults in brackets). */
export interface PostprocessOptions {
  /** Scores at or below it are dropped (0.05). */
  scoreThresh: number;
  /** IoU above which NMS suppresses a box of the same class (0.5). */
  nmsThresh: number;
  /** Detections kept per image (300). */
  detectionsPerImg: number;
  /** Candidates kept per level before NMS (1000). */
  topkCandidates: number;
}

/** One image's candidates of one level: scores, classes, boxes. */
function levelCandidates(logits: Tensor, deltas: Tensor, anchors: Tensor, imageSize: readonly [number, number], boxCoder: BoxCoder, o: PostprocessOptions): [Tensor, Tensor, Tensor] {
  const numClasses = logits.shape[1];
  const scores = logits.sigmoid().flatten();
  const [candidates] = nonzero(scores.gt(o.scoreThresh), { asTuple: true }) as [Tensor];
  const k = Math.min(o.topkCandidates, candidates.shape[0]);
  const best = topk(scores.indexSelect(0, candidates), k);
  const flat = candidates.indexSelect(0, best.indices);          // anchor · K + class
  // floor division of indices below 2^53: exact in float64
  const anchorIdx = flat.to('float64').div(numClasses).floor().to('int64');
  const labels = flat.sub(anchorIdx.mul(numClasses));
  const boxes = clipBoxesToImage(boxCoder.decodeSingle(deltas.indexSelect(0, anchorIdx), anchors.indexSelect(0, anchorIdx)), imageSize);
  return [best.values, labels, boxes];
}

/**
 * Detections of every image from the head's outputs split by level (`clsLogits[l]` [N, n_l, K],
 * `bboxRegression[l]` [N, n_l, 4]), each image's anchors split the same way, and the images' sizes
 * (for clipping).
 */
export function postprocessDetections(
  clsLogits: readonly Tensor[], bboxRegression: readonly Tensor[], anchors: readonly (readonly Tensor[])[],
  imageSizes: readonly (readonly [number, number])[], boxCoder: BoxCoder, o: PostprocessOptions,
): Detection[] {
  return imageSizes.map((size, i) => {
    const perLevel = clsLogits.map((logits, l) => levelCandidates(logits.select(0, i), bboxRegression[l].select(0, i), anchors[i][l], size, boxCoder, o));
    const scores = cat(perLevel.map((c) => c[0]), 0), labels = cat(perLevel.map((c) => c[1]), 0), boxes = cat(perLevel.map((c) => c[2]), 0);
    const kept = batchedNms(boxes, scores, labels, o.nmsThresh);
    const keep = kept.narrow(0, 0, Math.min(o.detectionsPerImg, kept.shape[0]));
    return { boxes: boxes.indexSelect(0, keep), scores: scores.indexSelect(0, keep), labels: labels.indexSelect(0, keep) };
  });
}
