/**
 * The training-step benchmark's anchors and targets (the example's before it used @kiln/vision's
 * AnchorGenerator and Matcher), as in RetinaNet: at every position of each feature map
 * (stride s) sit A = scales x ratios anchor boxes centred on the position; an anchor is a
 * positive of a ground-truth object when their IoU is >= 0.5, a negative (background) below 0.4,
 * and ignored in between. Each object's best anchors are positives too, so no object goes
 * without one (torchvision's allow_low_quality_matches).
 *
 * Anchors are ordered level by level, then row y, column x, anchor a — the order in which the
 * model lays out its head outputs (model.ts), so anchor i and output row i always correspond.
 */
import type { Box, GroundTruth } from './scenes.js';

export interface AnchorConfig {
  /** strides of the feature maps that carry anchors (pixels per feature cell) */
  strides: readonly number[];
  /** an anchor's base side is sizeFactor x stride (RetinaNet uses 4; our objects are small) */
  sizeFactor: number;
  /** multipliers of the base side (RetinaNet: three octave scales 2^0, 2^(1/3), 2^(2/3)) */
  scales: readonly number[];
  /** height / width of the anchors */
  ratios: readonly number[];
}

export const RETINANET_ANCHORS: Omit<AnchorConfig, 'strides' | 'sizeFactor'> = {
  scales: [1, 2 ** (1 / 3), 2 ** (2 / 3)],
  ratios: [0.5, 1, 2],
};

export interface AnchorLevel {
  stride: number;
  /** feature map side: imageSize / stride */
  grid: number;
  /** index of this level's first anchor, and its number of anchors (grid² A) */
  start: number;
  count: number;
}

export interface AnchorSet {
  /** [count, 4] corners x1, y1, x2, y2 */
  boxes: Float32Array;
  count: number;
  /** anchors per feature-map position (A) */
  perLocation: number;
  levels: AnchorLevel[];
}

export function makeAnchors(imageSize: number, cfg: AnchorConfig): AnchorSet {
  const shapes: [number, number][] = []; // [w, h] of the A anchors of a unit base size
  for (const r of cfg.ratios) for (const s of cfg.scales) shapes.push([s / Math.sqrt(r), s * Math.sqrt(r)]);
  const A = shapes.length;
  const levels: AnchorLevel[] = [];
  let start = 0;
  for (const stride of cfg.strides) {
    if (imageSize % stride !== 0) throw new RangeError(`makeAnchors: imageSize ${imageSize} is not a multiple of stride ${stride}`);
    const grid = imageSize / stride;
    levels.push({ stride, grid, start, count: grid * grid * A });
    start += grid * grid * A;
  }
  const boxes = new Float32Array(start * 4);
  for (const lv of levels) {
    const base = cfg.sizeFactor * lv.stride;
    for (let y = 0; y < lv.grid; y++) {
      for (let x = 0; x < lv.grid; x++) {
        const cx = (x + 0.5) * lv.stride, cy = (y + 0.5) * lv.stride;
        shapes.forEach(([w, h], a) => {
          const i = lv.start + (y * lv.grid + x) * A + a;
          boxes.set([cx - (base * w) / 2, cy - (base * h) / 2, cx + (base * w) / 2, cy + (base * h) / 2], i * 4);
        });
      }
    }
  }
  return { boxes, count: start, perLocation: A, levels };
}

export function anchorAt(anchors: AnchorSet, i: number): Box {
  const b = anchors.boxes;
  return [b[4 * i], b[4 * i + 1], b[4 * i + 2], b[4 * i + 3]];
}

/**
 * The regression target of a box relative to an anchor (Faster R-CNN's encoding, which RetinaNet
 * uses): centre offsets in units of the anchor's size and log size ratios,
 *   dx = (x - xa) / wa,  dy = (y - ya) / ha,  dw = log(w / wa),  dh = log(h / ha).
 */
export function encodeBox(anchor: Box, box: Box): [number, number, number, number] {
  const wa = anchor[2] - anchor[0], ha = anchor[3] - anchor[1];
  const w = box[2] - box[0], h = box[3] - box[1];
  return [
    ((box[0] + box[2]) / 2 - (anchor[0] + anchor[2]) / 2) / wa,
    ((box[1] + box[3]) / 2 - (anchor[1] + anchor[3]) / 2) / ha,
    Math.log(w / wa),
    Math.log(h / ha),
  ];
}

/** log(1000 / 16): the largest size ratio decoded (torchvision's bbox_xform_clip), so exp never overflows. */
const MAX_LOG_RATIO = Math.log(1000 / 16);

/** The inverse of encodeBox. */
export function decodeBox(anchor: Box, d: ArrayLike<number>): Box {
  const wa = anchor[2] - anchor[0], ha = anchor[3] - anchor[1];
  const cx = (anchor[0] + anchor[2]) / 2 + d[0] * wa, cy = (anchor[1] + anchor[3]) / 2 + d[1] * ha;
  const w = wa * Math.exp(Math.min(d[2], MAX_LOG_RATIO)), h = ha * Math.exp(Math.min(d[3], MAX_LOG_RATIO));
  return [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2];
}

export interface MatchOptions {
  /** IoU at or above which an anchor is a positive (0.5) */
  foregroundIou: number;
  /** IoU below which an anchor is a negative (0.4); in between it is ignored */
  backgroundIou: number;
}

export const RETINANET_MATCHING: MatchOptions = { foregroundIou: 0.5, backgroundIou: 0.4 };

/** Training targets of one batch, one row per anchor of each image (image-major). */
export interface Targets {
  /** as the focal loss's backgroundClass 'first' reads them: 0 background, 1..K class k - 1, -1 ignored */
  labels: Int32Array;
  /** [rows, 4] encoded boxes of the matched objects (0 for non-positives) */
  deltas: Float32Array;
  /** [rows] 1 for positives, 0 elsewhere: the box loss's weight */
  positiveMask: Float32Array;
  positives: number;
  negatives: number;
  ignored: number;
}

/** Matches one image's anchors to its objects, writing rows [offset, offset + anchors.count). */
function matchImage(anchors: AnchorSet, objects: readonly GroundTruth[], m: MatchOptions, t: Targets, offset: number): void {
  const T = anchors.count, G = objects.length, b = anchors.boxes;
  const iou = new Float32Array(T * G);           // iou[i G + j]: anchor i against object j
  const objectBest = new Float32Array(G);        // each object's best IoU over the anchors
  for (let j = 0; j < G; j++) {
    const [x1, y1, x2, y2] = objects[j].box;
    const area = (x2 - x1) * (y2 - y1);
    for (let i = 0; i < T; i++) {
      // boxIou inlined: this loop runs anchors x objects times per image
      const ax1 = b[4 * i], ay1 = b[4 * i + 1], ax2 = b[4 * i + 2], ay2 = b[4 * i + 3];
      const iw = Math.min(ax2, x2) - Math.max(ax1, x1), ih = Math.min(ay2, y2) - Math.max(ay1, y1);
      if (iw <= 0 || ih <= 0) continue;
      const inter = iw * ih;
      const v = inter / ((ax2 - ax1) * (ay2 - ay1) + area - inter);
      iou[i * G + j] = v;
      if (iou[i * G + j] > objectBest[j]) objectBest[j] = iou[i * G + j]!;
    }
  }
  for (let i = 0; i < T; i++) {
    let best = 0, bestObject = -1, lowQuality = -1;
    for (let j = 0; j < G; j++) {
      const v = iou[i * G + j];
      if (v > best) { best = v; bestObject = j; }
      // a low-quality match: this anchor is one of object j's best anchors
      if (lowQuality < 0 && v > 0 && v === objectBest[j]) lowQuality = j;
    }
    const j = best >= m.foregroundIou ? bestObject : lowQuality;
    const row = offset + i;
    if (j >= 0) {
      t.labels[row] = objects[j].label + 1;
      t.deltas.set(encodeBox(anchorAt(anchors, i), objects[j].box), row * 4);
      t.positiveMask[row] = 1;
      t.positives++;
    } else if (best < m.backgroundIou) {
      t.labels[row] = 0;
      t.negatives++;
    } else {
      t.labels[row] = -1;
      t.ignored++;
    }
  }
}

/** Targets of a batch of images whose objects are `objectsPerImage`. */
export function assignTargets(anchors: AnchorSet, objectsPerImage: readonly (readonly GroundTruth[])[], m: MatchOptions = RETINANET_MATCHING): Targets {
  const rows = objectsPerImage.length * anchors.count;
  const t: Targets = {
    labels: new Int32Array(rows), deltas: new Float32Array(rows * 4), positiveMask: new Float32Array(rows),
    positives: 0, negatives: 0, ignored: 0,
  };
  objectsPerImage.forEach((objects, n) => matchImage(anchors, objects, m, t, n * anchors.count));
  return t;
}
