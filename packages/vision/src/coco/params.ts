/** The evaluation's parameters (pycocotools' `Params` for `iouType='bbox'`) and their checks. */
import { ValueError, checkOptionKeys } from '@kiln/tensor';

/** What `CocoEval` evaluates; every field has pycocotools' default. */
export interface CocoEvalParams {
  /** Images evaluated (default: all of the ground truth's, sorted). */
  imageIds: number[];
  /** Categories evaluated (default: all of the ground truth's, sorted). */
  categoryIds: number[];
  /** IoU thresholds (default 0.50, 0.55, ..., 0.95 as numpy's `linspace(.5, .95, 10)`). */
  iouThresholds: number[];
  /** Recall points of the interpolated precision (default 0, 0.01, ..., 1: `linspace(0, 1, 101)`). */
  recallThresholds: number[];
  /** Detections kept per image and category (default [1, 10, 100]; kept sorted). */
  maxDets: number[];
  /** Ranges of the annotations' `area`, both ends included (default all, small, medium, large). */
  areaRanges: [number, number][];
  /** The ranges' names (default 'all', 'small', 'medium', 'large'); `summarize` looks them up. */
  areaRangeLabels: string[];
  /** Match detections to ground truths of their own category only (default true). */
  useCategories: boolean;
}

/**
 * numpy's `linspace(start, stop, num)`: `i * step + start` with `step = (stop - start) / (num - 1)`
 * and the last value set to `stop`. The same rounding matters: `summarize` finds 0.5 and 0.75 among
 * the thresholds by equality, as pycocotools does.
 */
export function linspace(start: number, stop: number, num: number): number[] {
  const step = (stop - start) / (num - 1);
  const out = Array.from({ length: num }, (_, i) => i * step + start);
  if (num > 1) out[num - 1] = stop;
  return out;
}

/** pycocotools' defaults for boxes, over the given images and categories. */
export function defaultParams(imageIds: readonly number[], categoryIds: readonly number[]): CocoEvalParams {
  return {
    imageIds: [...imageIds].sort((a, b) => a - b),
    categoryIds: [...categoryIds].sort((a, b) => a - b),
    iouThresholds: linspace(0.5, 0.95, Math.round((0.95 - 0.5) / 0.05) + 1),
    recallThresholds: linspace(0, 1, Math.round((1 - 0) / 0.01) + 1),
    maxDets: [1, 10, 100],
    areaRanges: [[0, 1e10], [0, 32 ** 2], [32 ** 2, 96 ** 2], [96 ** 2, 1e10]],
    areaRangeLabels: ['all', 'small', 'medium', 'large'],
    useCategories: true,
  };
}

/** Sorted distinct values (numpy's `unique`). */
const unique = (v: readonly number[]): number[] => [...new Set(v)].sort((a, b) => a - b);

/**
 * Checks `p` and returns the form `evaluate` uses: ids sorted and distinct, `maxDets` sorted (as
 * pycocotools' `evaluate` does), copies of every list so that later edits do not reach a finished
 * evaluation.
 */
export function normalizeParams(p: CocoEvalParams): CocoEvalParams {
  const op = 'CocoEval.evaluate';
  // a misspelt parameter (maxDet) was ignored: the default was evaluated
  checkOptionKeys(op, p, {
    imageIds: true, categoryIds: true, iouThresholds: true, recallThresholds: true, maxDets: true, areaRanges: true, areaRangeLabels: true, useCategories: true,
  }, 'params');
  const numbers = (arg: string, v: readonly number[], ok: (x: number) => boolean, what: string): void => {
    const bad = v.find((x) => typeof x !== 'number' || !ok(x));
    if (bad !== undefined) throw new ValueError(op, `params.${arg}`, what, String(bad));
  };
  numbers('iouThresholds', p.iouThresholds, (x) => x >= 0 && x <= 1, 'values in [0, 1]');
  numbers('recallThresholds', p.recallThresholds, (x) => x >= 0 && x <= 1, 'values in [0, 1]');
  numbers('maxDets', p.maxDets, (x) => Number.isInteger(x) && x >= 0, 'non-negative integers');
  // an empty list left summarize reading past it (a TypeError) or every AP at -1
  for (const arg of ['iouThresholds', 'recallThresholds', 'maxDets'] as const) {
    if (p[arg].length === 0) throw new ValueError(op, `params.${arg}`, 'at least one value', '[]');
  }
  if (p.areaRanges.length !== p.areaRangeLabels.length) {
    throw new ValueError(op, 'params.areaRangeLabels', `one label per area range (${p.areaRanges.length})`, String(p.areaRangeLabels.length));
  }
  p.areaRanges.forEach((r, i) => {
    if (!Array.isArray(r) || r.length !== 2 || !r.every((x) => typeof x === 'number' && !Number.isNaN(x)) || r[0] > r[1]) {
      throw new ValueError(op, `params.areaRanges[${i}]`, 'a range [lo, hi] with lo <= hi', JSON.stringify(r));
    }
  });
  return {
    imageIds: unique(p.imageIds),
    categoryIds: unique(p.categoryIds),
    iouThresholds: [...p.iouThresholds],
    recallThresholds: [...p.recallThresholds],
    maxDets: [...p.maxDets].sort((a, b) => a - b),
    areaRanges: p.areaRanges.map(([lo, hi]) => [lo, hi]),
    areaRangeLabels: [...p.areaRangeLabels],
    useCategories: p.useCategories,
  };
}
