/**
 * Inference and average precision. Detection: sigmoid scores of every (anchor, class), those
 * above a threshold (the top-k per image), boxes decoded from the deltas, per-class non-maximum
 * suppression — RetinaNet's post-processing. Scoring: AP at IoU 0.5 per class (the area under
 * the interpolated precision-recall curve, PASCAL VOC 2010+ style), and mAP, their mean.
 */
import { fromTypedArray, sigmoid, tidy, toTypedArray } from '@kiln/tensor';
import { noGrad } from '@kiln/autograd';
import { type AnchorSet, anchorAt, decodeBox } from './anchors.js';
import type { Settings } from './config.js';
import { type Box, NUM_CLASSES, type Scene, boxIou, packImages } from './data.js';
import type { RetinaNet } from './model.js';

export interface Detection {
  box: Box;
  score: number;
  /** 0 .. NUM_CLASSES - 1 */
  label: number;
}

const clip = (v: number, hi: number) => Math.min(hi, Math.max(0, v));

/** Greedy NMS: highest score first, dropping boxes that overlap a kept one by more than `iou`. */
export function nms(dets: readonly Detection[], iou: number): Detection[] {
  const sorted = [...dets].sort((a, b) => b.score - a.score);
  const kept: Detection[] = [];
  for (const d of sorted) if (kept.every((k) => boxIou(k.box, d.box) <= iou)) kept.push(d);
  return kept;
}

/** Post-processing of one image: scores [T, K] and deltas [T, 4] (host arrays) into detections. */
function postprocess(scores: Float32Array, deltas: Float32Array, anchors: AnchorSet, s: Settings): Detection[] {
  const K = NUM_CLASSES;
  const candidates: { i: number; k: number; score: number }[] = [];
  for (let i = 0; i < anchors.count; i++) {
    for (let k = 0; k < K; k++) {
      const score = scores[i * K + k];
      if (score > s.scoreThreshold) candidates.push({ i, k, score });
    }
  }
  candidates.sort((a, b) => b.score - a.score);
  const size = s.scenes.imageSize;
  const perClass: Detection[][] = Array.from({ length: K }, () => []);
  for (const c of candidates.slice(0, s.preNmsTopK)) {
    const b = decodeBox(anchorAt(anchors, c.i), deltas.subarray(c.i * 4, c.i * 4 + 4));
    perClass[c.k].push({ box: [clip(b[0], size), clip(b[1], size), clip(b[2], size), clip(b[3], size)], score: c.score, label: c.k });
  }
  return perClass.flatMap((d) => nms(d, s.nmsIou)).sort((a, b) => b.score - a.score).slice(0, s.maxDetections);
}

/** Detections of `model` on `scenes`, in batches, without recording gradients. */
export function detect(model: RetinaNet, scenes: readonly Scene[], anchors: AnchorSet, s: Settings, batch = 50): Detection[][] {
  const size = s.scenes.imageSize, T = anchors.count;
  const out: Detection[][] = [];
  for (let start = 0; start < scenes.length; start += batch) {
    const part = scenes.slice(start, start + batch);
    const [scores, deltas] = noGrad(() => tidy(() => {
      const images = fromTypedArray(packImages(part, size), [part.length, 1, size, size]).to(s.device);
      const o = model.call(images);
      return [toTypedArray(sigmoid(o.logits)) as Float32Array, toTypedArray(o.deltas) as Float32Array];
    }));
    part.forEach((_, n) => {
      out.push(postprocess(scores.subarray(n * T * NUM_CLASSES, (n + 1) * T * NUM_CLASSES), deltas.subarray(n * T * 4, (n + 1) * T * 4), anchors, s));
    });
  }
  return out;
}

/**
 * Area under the precision-recall curve of detections sorted by score, each a true positive or
 * not, with `groundTruths` objects in all: precision made monotone (each point takes the best
 * precision at any higher recall), then summed over the recall steps.
 */
export function areaUnderPr(isTruePositive: readonly boolean[], groundTruths: number): number {
  if (groundTruths === 0) return NaN;
  const precision: number[] = [], recall: number[] = [];
  let tp = 0;
  isTruePositive.forEach((hit, i) => {
    if (hit) tp++;
    precision.push(tp / (i + 1));
    recall.push(tp / groundTruths);
  });
  for (let i = precision.length - 2; i >= 0; i--) precision[i] = Math.max(precision[i], precision[i + 1]);
  let ap = 0, prevRecall = 0;
  recall.forEach((r, i) => {
    ap += (r - prevRecall) * precision[i];
    prevRecall = r;
  });
  return ap;
}

export interface ApResult {
  /** AP of each class (NaN for a class with no object in the test set) */
  perClass: number[];
  /** mean over the classes that have objects */
  mean: number;
}

/**
 * AP at IoU `iouThreshold` of each class: detections of the class over all images, best score
 * first; one is a true positive when it overlaps a not yet matched object of its class by IoU
 * >= the threshold (the object it overlaps most), otherwise a false positive (a duplicate too).
 */
export function averagePrecision(detections: readonly Detection[][], scenes: readonly Scene[], iouThreshold = 0.5): ApResult {
  const perClass: number[] = [];
  for (let k = 0; k < NUM_CLASSES; k++) {
    const dets = detections.flatMap((ds, img) => ds.filter((d) => d.label === k).map((d) => ({ d, img })));
    dets.sort((a, b) => b.d.score - a.d.score);
    const objects = scenes.map((sc) => sc.objects.filter((o) => o.label === k));
    const matched = objects.map((os) => os.map(() => false));
    const hits = dets.map(({ d, img }) => {
      let best = -1, bestIou = iouThreshold;
      objects[img].forEach((o, j) => {
        const iou = boxIou(o.box, d.box);
        if (iou >= bestIou) { best = j; bestIou = iou; }
      });
      if (best < 0 || matched[img][best]) return false;
      matched[img][best] = true;
      return true;
    });
    perClass.push(areaUnderPr(hits, objects.reduce((n, os) => n + os.length, 0)));
  }
  const valid = perClass.filter((v) => !Number.isNaN(v));
  return { perClass, mean: valid.length ? valid.reduce((a, b) => a + b, 0) / valid.length : NaN };
}
