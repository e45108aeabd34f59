/**
 * From a detector's outputs to COCO's numbers: `detectionsToCocoResults` turns per-image tensors
 * into COCO results, `evaluateCoco` runs the whole evaluation in one call.
 */
import { DTypeError, ShapeError, type Tensor, ValueError, checkOptionKeys, describeValue } from '@kiln/tensor';
import { Coco } from './coco.js';
import { CocoEval, type CocoCategorySummary } from './coco-eval.js';
import type { CocoEvalParams } from './params.js';
import type { CocoSummary } from './summarize.js';
import type { CocoDetectionResult } from './types.js';

/** One image's detections as a detector returns them (torchvision's detection output). */
export interface ImageDetections {
  /** The COCO id of the image. */
  imageId: number;
  /** [N, 4] boxes, (x1, y1, x2, y2) in the image's pixels. */
  boxes: Tensor;
  /** [N] scores. */
  scores: Tensor;
  /** [N] labels, turned into category ids by `labelToCategoryId`. */
  labels: Tensor;
}

/** Options of `detectionsToCocoResults`. */
export interface ToCocoResultsOptions {
  /** The category id of a label (default: the label itself); COCO's 80 labels map to ids 1..90. */
  labelToCategoryId?: (label: number) => number;
}

/**
 * COCO results (`[x, y, w, h]` boxes) from per-image detections with `(x1, y1, x2, y2)` boxes, on any
 * device (read to the host).
 *
 * @example
 * ```ts
 * const results = detectionsToCocoResults([{ imageId: 139, boxes, scores, labels }], { labelToCategoryId: (l) => ids[l] });
 * ```
 */
export function detectionsToCocoResults(detections: readonly ImageDetections[], options: ToCocoResultsOptions = {}): CocoDetectionResult[] {
  const op = 'detectionsToCocoResults';
  checkOptionKeys(op, options, { labelToCategoryId: true });
  const toCategory = options.labelToCategoryId ?? ((l: number) => l);
  const out: CocoDetectionResult[] = [];
  detections.forEach((d, i) => {
    const n = d.boxes.shape[0] ?? 0;
    if (d.boxes.ndim !== 2 || d.boxes.shape[1] !== 4) throw new ShapeError(op, `detections[${i}].boxes`, 'a shape [N, 4]', `[${d.boxes.shape.join(', ')}]`);
    for (const key of ['scores', 'labels'] as const) {
      if (d[key].ndim !== 1 || d[key].shape[0] !== n) throw new ShapeError(op, `detections[${i}].${key}`, `a shape [${n}]`, `[${d[key].shape.join(', ')}]`);
    }
    // float labels would become fractional category ids that match nothing (AP 0, no error)
    if (d.labels.dtype !== 'int32' && d.labels.dtype !== 'int64') throw new DTypeError(op, `detections[${i}].labels`, 'int32 or int64 labels', d.labels.dtype);
    const boxes = Array.from(d.boxes.toTypedArray() as ArrayLike<number>, Number);
    const scores = Array.from(d.scores.toTypedArray() as ArrayLike<number>, Number);
    const labels = Array.from(d.labels.toTypedArray() as ArrayLike<number | bigint>, Number);
    for (let j = 0; j < n; j++) {
      const [x1, y1, x2, y2] = boxes.slice(4 * j, 4 * j + 4) as [number, number, number, number];
      const categoryId = toCategory(labels[j]);
      if (!Number.isFinite(categoryId)) throw new ValueError(op, 'labelToCategoryId', 'a category id for every label', `${categoryId} for label ${labels[j]}`);
      out.push({ image_id: d.imageId, category_id: categoryId, bbox: [x1, y1, x2 - x1, y2 - y1], score: scores[j] });
    }
  });
  return out;
}

/** Options of `evaluateCoco`. */
export interface EvaluateCocoOptions {
  /** Changes to pycocotools' default parameters (images, categories, thresholds, ranges...). */
  params?: Partial<CocoEvalParams>;
  /** Print pycocotools' 12 lines (default false). */
  print?: boolean;
}

/** What `evaluateCoco` returns: the 12 numbers overall and per category. */
export interface CocoEvaluationResult extends CocoSummary {
  /** Each category's 12 numbers. */
  perCategory: CocoCategorySummary[];
}

/**
 * Evaluates detection results against a COCO ground truth in one call (evaluate, accumulate,
 * summarize, per-category summaries).
 *
 * @example
 * ```ts
 * const gt = Coco.fromFile('instances_val2017.json');
 * const { metrics, perCategory } = evaluateCoco(gt, detectionsToCocoResults(outputs));
 * console.log(`AP ${metrics.ap.toFixed(3)}, AP50 ${metrics.ap50.toFixed(3)}`);
 * ```
 */
export function evaluateCoco(gt: Coco, results: readonly CocoDetectionResult[] | Coco, options: EvaluateCocoOptions = {}): CocoEvaluationResult {
  if (!(gt instanceof Coco)) throw new ValueError('evaluateCoco', 'gt', 'a Coco (the ground truth)', describeValue(gt));
  if (!Array.isArray(results) && !(results instanceof Coco)) {
    throw new ValueError('evaluateCoco', 'results', 'an array of detection results, or a Coco from gt.loadResults', describeValue(results));
  }
  checkOptionKeys('evaluateCoco', options, { params: true, print: true });
  const ev = new CocoEval(gt, Array.isArray(results) ? gt.loadResults(results) : results);
  ev.params = { ...ev.params, ...options.params };
  ev.evaluate();
  ev.accumulate();
  const summary = ev.summarize({ print: options.print ?? false });
  return { ...summary, perCategory: ev.params.useCategories ? ev.summarizePerCategory() : [] };
}
