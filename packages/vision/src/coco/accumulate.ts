/**
 * pycocotools' `accumulate`: per IoU threshold, category, area range and maxDets, the precision at
 * each recall threshold (101-point interpolation of the monotone envelope) and the recall reached.
 */
import type { CocoEvalParams } from './params.js';
import type { ImageEvaluation } from './match.js';

/** numpy's `np.spacing(1)`: added to the precision's denominator, as pycocotools does. */
const EPS = 2 ** -52;

/** The accumulated curves (pycocotools' `eval`), row-major arrays with -1 where undefined. */
export interface CocoAccumulation {
  /** Shape [T, R, K, A, M]: precision at recall threshold r; -1 where the category has no ground truth in range. */
  precision: Float64Array;
  /** Shape [T, K, A, M]: the recall reached with all kept detections; -1 where undefined. */
  recall: Float64Array;
  /** Shape [T, R, K, A, M]: the score of the detection where the precision was read. */
  scores: Float64Array;
  /** The precision's shape: thresholds, recall points, categories, area ranges, maxDets. */
  precisionShape: [number, number, number, number, number];
  /** The recall's shape. */
  recallShape: [number, number, number, number];
}

/** The first index i with sorted[i] >= x (numpy's `searchsorted(..., side='left')`), n if none. */
function searchLeft(sorted: Float64Array, n: number, x: number): number {
  let lo = 0, hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Accumulates the per-image evaluations, laid out as `evaluate` made them: index
 * `(k * A + a) * I + i` for category k, area range a, image i.
 */
export function accumulate(evalImgs: readonly (ImageEvaluation | null)[], p: CocoEvalParams): CocoAccumulation {
  const T = p.iouThresholds.length, R = p.recallThresholds.length, A = p.areaRanges.length, M = p.maxDets.length;
  const K = p.useCategories ? p.categoryIds.length : 1, I = p.imageIds.length;
  const precision = new Float64Array(T * R * K * A * M).fill(-1);
  const recall = new Float64Array(T * K * A * M).fill(-1);
  const scores = new Float64Array(T * R * K * A * M).fill(-1);
  const pAt = (t: number, r: number, k: number, a: number, m: number) => (((t * R + r) * K + k) * A + a) * M + m;
  const maxDetLast = p.maxDets[M - 1] ?? 0;
  for (let k = 0; k < K; k++) {
    // every image's detections merged and sorted by score once per category (stable: image order,
    // then rank); the area ranges share them, and a maxDet takes the subsequence of ranks < maxDet,
    // which is the stable sort of those detections
    const firstE = (a: number) => {
      const E: (ImageEvaluation | null)[] = [];
      for (let i = 0; i < I; i++) E.push(evalImgs[(k * A + a) * I + i] ?? null);
      return E;
    };
    const E0 = firstE(0);
    const owner: number[] = [], rank: number[] = [], score: number[] = [];
    E0.forEach((e, i) => {
      if (!e) return;
      for (let d = 0; d < e.dtScores.length && d < maxDetLast; d++) { owner.push(i); rank.push(d); score.push(e.dtScores[d]); }
    });
    const sorted = [...owner.keys()].sort((x, y) => score[y] - score[x] || x - y);
    for (let a = 0; a < A; a++) {
      const E = a === 0 ? E0 : firstE(a);
      let npig = 0, any = false;
      for (const e of E) {
        if (!e) continue;
        any = true;
        for (const ig of e.gtIgnore) if (ig === 0) npig++;
      }
      if (!any || npig === 0) continue;
      for (let m = 0; m < M; m++) {
        const maxDet = p.maxDets[m];
        const order = maxDet >= maxDetLast ? sorted : sorted.filter((o) => rank[o] < maxDet);
        const nd = order.length;
        const rc = new Float64Array(nd), pr = new Float64Array(nd);
        for (let t = 0; t < T; t++) {
          let tp = 0, fp = 0;
          for (let s = 0; s < nd; s++) {
            const o = order[s], e = E[owner[o]]!, D = e.dtScores.length, at = t * D + rank[o];
            if (!e.dtIgnore[at]) {
              if (e.dtMatches[at] !== 0) tp++;
              else fp++;
            }
            rc[s] = tp / npig;
            pr[s] = tp / (fp + tp + EPS);
          }
          recall[((t * K + k) * A + a) * M + m] = nd ? rc[nd - 1] : 0;
          // the monotone envelope: precision at recall r is the best precision at any recall >= r
          for (let s = nd - 1; s > 0; s--) if (pr[s] > pr[s - 1]) pr[s - 1] = pr[s]!;
          for (let r = 0; r < R; r++) {
            const s = searchLeft(rc, nd, p.recallThresholds[r]);
            const at = pAt(t, r, k, a, m);
            if (s >= nd) {
              // recall never reaches this threshold: precision 0 from here on (pycocotools' except branch)
              for (let r2 = r; r2 < R; r2++) { precision[pAt(t, r2, k, a, m)] = 0; scores[pAt(t, r2, k, a, m)] = 0; }
              break;
            }
            precision[at] = pr[s]!;
            scores[at] = score[order[s]]!;
          }
        }
      }
    }
  }
  return { precision, recall, scores, precisionShape: [T, R, K, A, M], recallShape: [T, K, A, M] };
}
