/**
 * One image and one category: the IoU of its detections with its ground truths, and pycocotools'
 * greedy matching at each IoU threshold for one area range (`computeIoU` and `evaluateImg`).
 */
import type { CocoAnnotation } from './types.js';

/** The ground truths and detections of one (image, category) pair, prepared once for every range. */
export interface ImagePair {
  /** Ground truths in file order. */
  gts: CocoAnnotation[];
  /** Detections sorted by score, highest first (stable: file order among ties), at most maxDets[-1]. */
  dts: CocoAnnotation[];
  /** IoU of detection d with ground truth g at `d * gts.length + g`. */
  ious: Float64Array;
}

/** What `evaluateImage` found for one (category, area range, image): pycocotools' `evalImgs` entry. */
export interface ImageEvaluation {
  /** The image. */
  imageId: number;
  /** The category (-1 when categories are not used). */
  categoryId: number;
  /** The area range, `[lo, hi]`. */
  areaRange: [number, number];
  /** The number of detections kept. */
  maxDet: number;
  /** Ids of the detections, highest score first. */
  dtIds: number[];
  /** Ids of the ground truths, those in range first. */
  gtIds: number[];
  /** Per threshold t and detection d, at `t * D + d`: the id of the ground truth it matched, 0 for none. */
  dtMatches: number[];
  /** Per threshold t and ground truth g, at `t * G + g`: the id of the detection that matched it, 0 for none. */
  gtMatches: number[];
  /** The detections' scores. */
  dtScores: number[];
  /** 1 for a ground truth that neither counts as found nor as missed (crowd, or area out of range). */
  gtIgnore: number[];
  /** Per threshold and detection, 1 for one that is neither a true nor a false positive. */
  dtIgnore: number[];
}

/** Detections sorted by score, highest first, stable (numpy's mergesort of -score). */
export function sortByScore(dts: readonly CocoAnnotation[]): CocoAnnotation[] {
  const order = dts.map((_, i) => i);
  order.sort((a, b) => (dts[b].score as number) - (dts[a].score as number) || a - b);
  return order.map((i) => dts[i]);
}

/**
 * IoU of COCO boxes `[x, y, w, h]` as pycocotools' `maskUtils.iou` computes it for boxes: for a
 * crowd ground truth the union is the detection's box area alone (the share of the detection
 * inside the crowd region). Areas here are the boxes' `w·h`, not the annotations' `area` field.
 */
export function cocoBoxIou(dts: readonly CocoAnnotation[], gts: readonly CocoAnnotation[]): Float64Array {
  const D = dts.length, G = gts.length;
  const out = new Float64Array(D * G);
  for (let g = 0; g < G; g++) {
    const [gx, gy, gw, gh] = gts[g].bbox;
    const gArea = gw * gh, crowd = Boolean(gts[g].iscrowd);
    for (let d = 0; d < D; d++) {
      const [dx, dy, dw, dh] = dts[d].bbox;
      const w = Math.min(dx + dw, gx + gw) - Math.max(dx, gx);
      if (w <= 0) continue;
      const h = Math.min(dy + dh, gy + gh) - Math.max(dy, gy);
      if (h <= 0) continue;
      const inter = w * h, dArea = dw * dh;
      out[d * G + g] = inter / (crowd ? dArea : dArea + gArea - inter);
    }
  }
  return out;
}

/** Prepares a pair: detections sorted and cut to `maxDet`, their IoU with the ground truths. */
export function preparePair(gts: CocoAnnotation[], dts: CocoAnnotation[], maxDet: number): ImagePair {
  const sorted = sortByScore(dts).slice(0, maxDet);
  return { gts, dts: sorted, ious: cocoBoxIou(sorted, gts) };
}

const outside = (area: number, [lo, hi]: readonly [number, number]): boolean => area < lo || area > hi;

/**
 * pycocotools' `evaluateImg` for one area range, `null` for a pair with neither ground truths nor
 * detections. Ground truths are ignored when crowd or out of range and go last (stable). At each
 * threshold t the detections, best score first, each take the ground truth of highest IoU >= t
 * (ties: the later one) that is not yet taken (a crowd can be taken again), preferring any
 * non-ignored ground truth to an ignored one: the scan over ground truths stops at the first
 * ignored one once a non-ignored one matched. A detection matched to an ignored ground truth is
 * ignored, and so is an unmatched detection whose own area is out of range.
 */
export function evaluateImage(
  pair: ImagePair, imageId: number, categoryId: number, areaRange: [number, number], maxDet: number, iouThresholds: readonly number[],
): ImageEvaluation | null {
  const { gts: gtsInFileOrder, ious } = pair;
  const G = gtsInFileOrder.length;
  if (G === 0 && pair.dts.length === 0) return null;
  const D = Math.min(maxDet, pair.dts.length), T = iouThresholds.length;
  // in range first, ignored last, stable (two passes instead of a sort)
  const gtOrder = new Array<number>(G).fill(0), gtIgnore = new Array<number>(G).fill(0);
  let n = 0;
  for (let pass = 0; pass < 2; pass++) {
    for (let i = 0; i < G; i++) {
      const g = gtsInFileOrder[i];
      const ignored = Boolean(g.iscrowd) || outside(g.area, areaRange);
      if (ignored === (pass === 1)) { gtOrder[n] = i; gtIgnore[n++] = pass; }
    }
  }
  const dtMatches = new Array<number>(T * D).fill(0), gtMatches = new Array<number>(T * G).fill(0), dtIgnore = new Array<number>(T * D).fill(0);
  for (let t = 0; t < T; t++) {
    const bar = Math.min(iouThresholds[t], 1 - 1e-10);
    for (let d = 0; d < D; d++) {
      let best = bar, m = -1;
      for (let g = 0; g < G; g++) {
        const gi = gtOrder[g];
        if (gtMatches[t * G + g] > 0 && !gtsInFileOrder[gi].iscrowd) continue;   // taken, and not a crowd
        if (m > -1 && gtIgnore[m] === 0 && gtIgnore[g] === 1) break;             // the ignored ones come last
        const iou = ious[d * G + gi];
        if (iou < best) continue;
        best = iou;
        m = g;
      }
      if (m === -1) continue;
      dtIgnore[t * D + d] = gtIgnore[m]!;
      dtMatches[t * D + d] = gtsInFileOrder[gtOrder[m]].id;
      gtMatches[t * G + m] = pair.dts[d].id;
    }
  }
  // pycocotools tests "matched" as a non-zero ground-truth id, so a match to an annotation of id 0
  // counts as no match here and in accumulate; kept for identical numbers (COCO's ids start at 1)
  const dtScores = new Array<number>(D).fill(0), dtIds = new Array<number>(D);
  for (let d = 0; d < D; d++) {
    const dt = pair.dts[d];
    dtScores[d] = dt.score as number;
    dtIds[d] = dt.id;
    if (!outside(dt.area, areaRange)) continue;
    for (let t = 0; t < T; t++) if (dtMatches[t * D + d] === 0) dtIgnore[t * D + d] = 1;
  }
  const gtIds = gtOrder.map((i) => gtsInFileOrder[i].id);
  return { imageId, categoryId, areaRange, maxDet, dtIds, gtIds, dtMatches, gtMatches, dtScores, gtIgnore, dtIgnore };
}
