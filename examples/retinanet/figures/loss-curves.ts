/**
 * Training-loss curves, one line per loss variant: the classification loss and the box loss side
 * by side, each a moving mean over the steps, on log y axes (the variants' losses differ by
 * orders of magnitude: cross-entropy sums every easy negative, focal loss discounts them).
 */
import type { TopLevelSpec } from 'vega-lite';
import type { TrainLog } from '../train.js';

/** Mean of each window of `w` consecutive values, as points at the window's last step (1-based). */
export function movingMean(values: readonly number[], w: number): { step: number; value: number }[] {
  const out: { step: number; value: number }[] = [];
  let sum = 0;
  values.forEach((v, i) => {
    sum += v;
    if (i >= w) sum -= values[i - w];
    if (i >= w - 1) out.push({ step: i + 1, value: sum / w });
  });
  return out;
}

/**
 * The two-panel chart of `logs` (one colour per variant, in the order given); with `bySeed`, logs
 * of several seeds of a variant share its colour, told apart by the line's dashes.
 */
export function lossCurvesSpec(logs: readonly TrainLog[], options: { bySeed?: boolean } = {}): TopLevelSpec {
  const steps = logs[0]?.classification.length ?? 0;
  // about 25 windows across the run: smooth enough to compare, short enough to show warm-up
  const w = Math.max(1, Math.round(steps / 25));
  const variants = [...new Set(logs.map((l) => l.variant.name))];
  const panel = (title: string, pick: (l: TrainLog) => readonly number[]) => ({
    title,
    width: 380,
    height: 280,
    // a log axis has no place for zero: a window whose mean is 0 is left out
    data: { values: logs.flatMap((l) => movingMean(pick(l), w).filter((p) => p.value > 0).map((p) => ({ ...p, variant: l.variant.name, seed: `seed ${l.seed}` }))) },
    mark: { type: 'line' as const, clip: true },
    encoding: {
      x: { field: 'step', type: 'quantitative' as const, title: `training step (mean of ${w})` },
      y: { field: 'value', type: 'quantitative' as const, scale: { type: 'log' as const }, title: 'loss per positive anchor' },
      color: { field: 'variant', type: 'nominal' as const, title: 'loss', scale: { domain: variants } },
      ...(options.bySeed ? { strokeDash: { field: 'seed', type: 'nominal' as const, title: 'weights' } } : {}),
    },
  });
  return {
    hconcat: [panel('Classification loss', (l) => l.classification), panel('Box loss (smooth L1)', (l) => l.box)],
  };
}
