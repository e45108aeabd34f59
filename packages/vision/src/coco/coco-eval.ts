/**
 * `CocoEval`: pycocotools' `COCOeval` for boxes: `evaluate()` matches detections to ground truths
 * image by image, `accumulate()` builds the precision / recall curves, `summarize()` gives the 12
 * standard numbers and prints them as pycocotools does.
 */
import { ValueError, checkOptionKeys } from '@kiln/tensor';
import type { Coco } from './coco.js';
import type { CocoAnnotation } from './types.js';
import { type CocoEvalParams, defaultParams, normalizeParams } from './params.js';
import { type ImageEvaluation, type ImagePair, evaluateImage, preparePair } from './match.js';
import { type CocoAccumulation, accumulate } from './accumulate.js';
import { type CocoSummary, summarizeDetections } from './summarize.js';

/** Options of `CocoEval.summarize`. */
export interface SummarizeOptions {
  /** Print the 12 lines with console.log, as pycocotools does (default true). */
  print?: boolean;
}

/** One category's 12 numbers (`CocoEval.summarizePerCategory`). */
export interface CocoCategorySummary extends CocoSummary {
  /** The category's id. */
  categoryId: number;
  /** Its name in the ground truth's categories. */
  name: string;
}

/** Groups annotations by (image, category), or by image alone (category -1), keeping their order. */
function groupByPair(anns: readonly CocoAnnotation[], useCategories: boolean): Map<number, Map<number, CocoAnnotation[]>> {
  const out = new Map<number, Map<number, CocoAnnotation[]>>();
  for (const a of anns) {
    let byCat = out.get(a.image_id);
    if (!byCat) out.set(a.image_id, (byCat = new Map<number, CocoAnnotation[]>()));
    const cat = useCategories ? a.category_id : -1;
    const list = byCat.get(cat);
    if (list) list.push(a);
    else byCat.set(cat, [a]);
  }
  return out;
}

/**
 * COCO box evaluation, exactly as pycocotools' `COCOeval(gt, dt, 'bbox')`. Change `params` before
 * `evaluate()` to evaluate other images, categories, thresholds or ranges.
 *
 * @example
 * ```ts
 * const gt = Coco.fromFile('instances_val2017.json');
 * const ev = new CocoEval(gt, gt.loadResults(results));
 * ev.evaluate();
 * ev.accumulate();
 * const { stats, metrics } = ev.summarize();   // prints pycocotools' 12 lines
 * console.log(metrics.ap, stats[1]);           // AP@[.5:.95], AP50
 * ```
 */
export class CocoEval {
  /** The parameters `evaluate()` will use (pycocotools' defaults over the ground truth's ids). */
  params: CocoEvalParams;
  /** Per (category, area range, image), as pycocotools' `evalImgs`: null where the pair is empty. */
  evalImgs: (ImageEvaluation | null)[] = [];
  /** The accumulated curves, after `accumulate()`. */
  eval: CocoAccumulation | null = null;
  /** The 12 numbers, after `summarize()`. */
  stats: number[] = [];
  /** The ground truth. */
  readonly gt: Coco;
  /** The detections. */
  readonly dt: Coco;
  private evaluated: CocoEvalParams | null = null;

  /** Evaluates `dt` (detections, from `gt.loadResults`) against `gt`; only 'bbox' is supported. */
  constructor(gt: Coco, dt: Coco, iouType: 'bbox' = 'bbox') {
    this.gt = gt;
    this.dt = dt;
    if (iouType !== 'bbox') throw new ValueError('CocoEval', 'iouType', "'bbox'", JSON.stringify(iouType));
    this.params = defaultParams(gt.getImageIds(), gt.getCategoryIds());
  }

  /** Matches detections to ground truths on every image, category and area range (`evalImgs`). */
  evaluate(): void {
    const p = normalizeParams(this.params);
    const filter = { imageIds: p.imageIds, categoryIds: p.useCategories ? p.categoryIds : [] };
    const gts = groupByPair(this.gt.getAnnotations(filter), p.useCategories);
    const dts = groupByPair(this.dt.getAnnotations(filter), p.useCategories);
    const catIds = p.useCategories ? p.categoryIds : [-1];
    const maxDet = p.maxDets[p.maxDets.length - 1];
    const empty = preparePair([], [], maxDet);
    const pairs = catIds.map((c) => p.imageIds.map((i): ImagePair => {
      const g = gts.get(i)?.get(c), d = dts.get(i)?.get(c);
      return g || d ? preparePair(g ?? [], d ?? [], maxDet) : empty;
    }));
    this.evalImgs = [];
    catIds.forEach((c, k) => {
      for (const range of p.areaRanges) {
        p.imageIds.forEach((i, n) => this.evalImgs.push(evaluateImage(pairs[k][n], i, c, range, maxDet, p.iouThresholds)));
      }
    });
    this.evaluated = p;
    this.eval = null;
  }

  /** Builds the precision / recall curves from `evaluate()`'s matches (`eval`). */
  accumulate(): CocoAccumulation {
    this.eval = accumulate(this.evalImgs, this.evaluatedParams('accumulate'));
    return this.eval;
  }

  /**
   * The 12 standard numbers (`stats`, by name in `metrics`) and pycocotools' printed lines.
   *
   * @example
   * ```ts
   * const { metrics, text } = ev.summarize({ print: false });
   * ```
   */
  summarize(options: SummarizeOptions = {}): CocoSummary {
    checkOptionKeys('CocoEval.summarize', options, { print: true });
    const summary = summarizeDetections(this.accumulated('summarize'), this.evaluatedParams('summarize'));
    this.stats = summary.stats;
    if (options.print ?? true) console.log(summary.text);
    return summary;
  }

  /**
   * The 12 numbers of each evaluated category on its own (as pycocotools with `catIds` set to that
   * one category), in `params.categoryIds` order.
   *
   * @example
   * ```ts
   * for (const c of ev.summarizePerCategory()) console.log(c.name, c.metrics.ap);
   * ```
   */
  summarizePerCategory(): CocoCategorySummary[] {
    const p = this.evaluatedParams('summarizePerCategory');
    if (!p.useCategories) throw new ValueError('CocoEval.summarizePerCategory', 'params.useCategories', 'true', 'false');
    const acc = this.accumulated('summarizePerCategory');
    return p.categoryIds.map((categoryId, k) => ({
      categoryId,
      name: this.gt.categories.get(categoryId)?.name ?? String(categoryId),
      ...summarizeDetections(acc, p, [k]),
    }));
  }

  private evaluatedParams(op: string): CocoEvalParams {
    if (!this.evaluated) throw new ValueError(`CocoEval.${op}`, null, 'evaluate() to have run first', 'no evaluation');
    return this.evaluated;
  }

  private accumulated(op: string): CocoAccumulation {
    if (!this.eval) throw new ValueError(`CocoEval.${op}`, null, 'accumulate() to have run after evaluate()', 'no accumulation');
    return this.eval;
  }
}
