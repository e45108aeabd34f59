/** The gamma sweep's result (the paper's Table 1b as a chart): COCO AP (IoU 0.50:0.95) against gamma. */
import type { TopLevelSpec } from 'vega-lite';
import { PALETTE } from './style.js';

export interface GammaPoint {
  gamma: number;
  alpha: number;
  /** COCO's AP at IoU 0.50:0.95, in [0, 1] */
  ap: number;
}

/**
 * Points joined by a line, each labelled with its AP; the x axis has a tick at each gamma of the
 * sweep, with the alpha it was trained with on a second line (the rows of Table 1b).
 */
export function apVsGammaSpec(points: readonly GammaPoint[]): TopLevelSpec {
  const values = points.map((p) => ({ ...p, label: p.ap.toFixed(3) }));
  // a Vega expression mapping each tick's value to its two lines: ['0.5', 'α 0.5']
  const labelExpr = points.reduceRight((rest, p) => `datum.value == ${p.gamma} ? ['${p.gamma}', 'α ${p.alpha}'] : ${rest}`, 'datum.label');
  const x = {
    field: 'gamma', type: 'quantitative' as const, title: 'γ, and the α trained with it (the paper\'s Table 1b)',
    scale: { domain: [-0.25, 5.25] }, axis: { values: points.map((p) => p.gamma), labelExpr, labelOverlap: false, grid: false },
  };
  const y = { field: 'ap', type: 'quantitative' as const, title: 'AP (COCO, IoU 0.50:0.95)', scale: { domain: [0, 1] } };
  return {
    title: 'AP against γ (focal loss)',
    width: 560,
    height: 300,
    data: { values },
    encoding: { x, y },
    layer: [
      { mark: { type: 'line', color: PALETTE[0], point: { size: 60, filled: true, color: PALETTE[0] } } },
      { mark: { type: 'text', dy: -12, fontSize: 12 }, encoding: { text: { field: 'label' } } },
    ],
  };
}
