/**
 * pycocotools' `summarize` for boxes: the 12 standard numbers from the accumulated curves, and the
 * 12 lines it prints.
 */
import { ValueError } from '@kiln/tensor';
import type { CocoAccumulation } from './accumulate.js';
import type { CocoEvalParams } from './params.js';

/** The 12 standard box metrics, named; -1 where undefined (no ground truth in the range). */
export interface CocoMetrics {
  /** AP at IoU 0.50:0.95, all areas, 100 detections: COCO's main number. */
  ap: number;
  /** AP at IoU 0.50. */
  ap50: number;
  /** AP at IoU 0.75. */
  ap75: number;
  /** AP of small objects (area < 32²). */
  apSmall: number;
  /** AP of medium objects (32² to 96²). */
  apMedium: number;
  /** AP of large objects (area > 96²). */
  apLarge: number;
  /** AR with 1 detection per image and category. */
  ar1: number;
  /** AR with 10. */
  ar10: number;
  /** AR with 100. */
  ar100: number;
  /** AR of small objects. */
  arSmall: number;
  /** AR of medium objects. */
  arMedium: number;
  /** AR of large objects. */
  arLarge: number;
}

/** The metrics' names in pycocotools' `stats` order. */
export const cocoMetricNames: readonly (keyof CocoMetrics)[] = [
  'ap', 'ap50', 'ap75', 'apSmall', 'apMedium', 'apLarge', 'ar1', 'ar10', 'ar100', 'arSmall', 'arMedium', 'arLarge',
];

/** The 12 numbers as `stats` (an array in pycocotools' order) and by name. */
export interface CocoSummary {
  /** pycocotools' `stats`. */
  stats: number[];
  /** The same numbers by name. */
  metrics: CocoMetrics;
  /** The 12 lines pycocotools prints. */
  text: string;
}

/** Pairwise sum of `v[from..from+n)` as numpy's `add.reduce` computes it for float64. */
function pairwiseSum(v: readonly number[], from: number, n: number): number {
  if (n < 8) {
    let s = 0;
    for (let i = from; i < from + n; i++) s += v[i];
    return s;
  }
  if (n <= 128) {
    const r = v.slice(from, from + 8);
    let i = 8;
    for (; i < n - (n % 8); i += 8) for (let j = 0; j < 8; j++) r[j] += v[from + i + j];
    let s = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; i++) s += v[from + i];
    return s;
  }
  let n2 = Math.floor(n / 2);
  n2 -= n2 % 8;
  return pairwiseSum(v, from, n2) + pairwiseSum(v, from + n2, n - n2);
}

/** numpy's `mean` of the defined values (> -1), -1 when there are none: one summary number. */
export function meanOfDefined(values: readonly number[]): number {
  const v = values.filter((x) => x > -1);
  if (v.length === 0) return -1;
  return pairwiseSum(v, 0, v.length) / v.length;
}

/**
 * Python's `'{:0.<digits>f}'.format(x)`: toFixed, except that an exact tie (x = (n + ½)·10^-digits,
 * as 0.0625 is to 3 digits) goes to the even n as Python rounds, not up as toFixed does.
 */
export function formatFixed(x: number, digits: number): string {
  const scale = 10 ** digits, y = x * scale, n = Math.floor(y);
  if (y - n !== 0.5 || (n + 0.5) / scale !== x) return x.toFixed(digits);
  return ((n % 2 === 0 ? n : n + 1) / scale).toFixed(digits);
}

/** Which slice of the curves one summary number averages. */
interface Selection { ap: boolean; iouThreshold?: number; areaLabel: string; maxDets: number }

/**
 * The mean over one selection of the accumulated curves, restricted to the categories `ks` (all
 * when absent): AP averages precision over thresholds, recall points and categories; AR averages
 * recall over thresholds and categories. Values are taken in numpy's order (threshold, then recall
 * point, then category).
 */
function summaryValue(acc: CocoAccumulation, p: CocoEvalParams, sel: Selection, ks?: readonly number[]): number {
  const [T, R, K, A, M] = acc.precisionShape;
  const ts = sel.iouThreshold === undefined ? [...Array(T).keys()] : [...Array(T).keys()].filter((t) => p.iouThresholds[t] === sel.iouThreshold);
  const as = [...Array(A).keys()].filter((a) => p.areaRangeLabels[a] === sel.areaLabel);
  const ms = [...Array(M).keys()].filter((m) => p.maxDets[m] === sel.maxDets);
  const cats = ks ?? [...Array(K).keys()];
  const values: number[] = [];
  for (const t of ts) {
    if (sel.ap) {
      for (let r = 0; r < R; r++) for (const k of cats) for (const a of as) for (const m of ms) values.push(acc.precision[(((t * R + r) * K + k) * A + a) * M + m]);
    } else {
      for (const k of cats) for (const a of as) for (const m of ms) values.push(acc.recall[((t * K + k) * A + a) * M + m]);
    }
  }
  return meanOfDefined(values);
}

/**
 * The 12 numbers and pycocotools' printed lines, over all categories or those at indices `ks` of
 * `p.categoryIds`. Needs at least 3 maxDets (AR@maxDets[0], [1], [2], as pycocotools).
 */
export function summarizeDetections(acc: CocoAccumulation, p: CocoEvalParams, ks?: readonly number[]): CocoSummary {
  if (p.maxDets.length < 3) throw new ValueError('CocoEval.summarize', 'params.maxDets', 'at least 3 values (AR@maxDets[0], [1], [2])', JSON.stringify(p.maxDets));
  const [d0, d1, d2] = p.maxDets as [number, number, number];
  const rows: Selection[] = [
    { ap: true, areaLabel: 'all', maxDets: d2 },
    { ap: true, iouThreshold: 0.5, areaLabel: 'all', maxDets: d2 },
    { ap: true, iouThreshold: 0.75, areaLabel: 'all', maxDets: d2 },
    { ap: true, areaLabel: 'small', maxDets: d2 },
    { ap: true, areaLabel: 'medium', maxDets: d2 },
    { ap: true, areaLabel: 'large', maxDets: d2 },
    { ap: false, areaLabel: 'all', maxDets: d0 },
    { ap: false, areaLabel: 'all', maxDets: d1 },
    { ap: false, areaLabel: 'all', maxDets: d2 },
    { ap: false, areaLabel: 'small', maxDets: d2 },
    { ap: false, areaLabel: 'medium', maxDets: d2 },
    { ap: false, areaLabel: 'large', maxDets: d2 },
  ];
  const stats = rows.map((sel) => summaryValue(acc, p, sel, ks));
  const thr = p.iouThresholds;
  const lines = rows.map((sel, i) => {
    const title = sel.ap ? 'Average Precision' : 'Average Recall';
    const iou = sel.iouThreshold === undefined ? `${formatFixed(thr[0], 2)}:${formatFixed(thr[thr.length - 1], 2)}` : formatFixed(sel.iouThreshold, 2);
    return ` ${title.padEnd(18)} ${sel.ap ? '(AP)' : '(AR)'} @[ IoU=${iou.padEnd(9)} | area=${sel.areaLabel.padStart(6)} | maxDets=${String(sel.maxDets).padStart(3)} ] = ${formatFixed(stats[i], 3)}`;
  });
  const metrics = Object.fromEntries(cocoMetricNames.map((n, i) => [n, stats[i]])) as unknown as CocoMetrics;
  return { stats, metrics, text: lines.join('\n') };
}
