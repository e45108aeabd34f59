/**
 * Figure 1 of the paper: FL(p_t) = -(1 - p_t)^gamma log(p_t) against p_t, the probability the
 * model gives the ground-truth class, for gamma 0 (cross-entropy), 0.5, 1, 2 and 5. The values
 * come from the library's own `sigmoidFocalLoss`, not from the formula written again here.
 */
import { fromTypedArray, tidy, toTypedArray } from '@kiln/tensor';
import { sigmoidFocalLoss } from '@kiln/losses';
import type { TopLevelSpec } from 'vega-lite';

export const FIGURE1_GAMMAS = [0, 0.5, 1, 2, 5] as const;

/**
 * The focal loss of a positive target at each probability p (logit log(p / (1 - p)), so that
 * sigmoid gives back p; alpha disabled).
 */
export function focalLossCurve(gamma: number, probabilities: readonly number[]): number[] {
  return tidy(() => {
    const logits = Float32Array.from(probabilities, (p) => Math.log(p / (1 - p)));
    const x = fromTypedArray(logits, [logits.length, 1]);
    const ones = fromTypedArray(new Float32Array(logits.length).fill(1), [logits.length, 1]);
    return [...(toTypedArray(sigmoidFocalLoss(x, ones, { gamma, alpha: -1, reduction: 'none' })) as Float32Array)];
  });
}

/** The figure: a line per gamma over p_t in (0, 1), y clipped to [0, 5], p_t > 0.6 shaded as in the paper. */
export function figure1Spec(): TopLevelSpec {
  const p = Array.from({ length: 199 }, (_, i) => (i + 1) / 200);
  const values = FIGURE1_GAMMAS.flatMap((gamma) => {
    const loss = focalLossCurve(gamma, p);
    return p.map((pt, j) => ({ p: pt, loss: loss[j], gamma: `γ = ${gamma}` }));
  });
  const x = { field: 'p', type: 'quantitative' as const, title: 'probability of the ground-truth class', scale: { domain: [0, 1] } };
  return {
    title: 'Focal loss (the paper\'s Figure 1)',
    width: 460,
    height: 320,
    layer: [
      {
        data: { values: [{ from: 0.6, to: 1, caption: 'well-classified examples' }] },
        layer: [
          { mark: { type: 'rect', color: '#eeeeee' }, encoding: { x: { field: 'from', type: 'quantitative' }, x2: { field: 'to' } } },
          {
            mark: { type: 'text', align: 'center', baseline: 'top', dy: 8, fontSize: 12, color: '#555555' },
            encoding: { x: { datum: 0.8, type: 'quantitative' }, y: { value: 0 }, text: { field: 'caption' } },
          },
        ],
      },
      {
        data: { values },
        mark: { type: 'line', clip: true },
        encoding: {
          x,
          y: { field: 'loss', type: 'quantitative', title: 'loss', scale: { domain: [0, 5] } },
          color: { field: 'gamma', type: 'nominal', title: null, sort: null },
        },
      },
    ],
  };
}
