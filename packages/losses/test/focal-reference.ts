/**
 * A float64 reference of the sigmoid focal loss written from the spec's formulas (not from the
 * kernels' rearranged form), used as the tests' oracle.
 */
const softplus = (x: number): number => Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x)));
const sigmoid = (x: number): number => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x)));

export interface RefOptions {
  gamma: number;
  alpha: number;
}

/** Loss and gradient of one element with a binary target: the seed's formulas with stable logs. */
export function refBinary(x: number, positive: boolean, { gamma, alpha }: RefOptions): [number, number] {
  const p = sigmoid(x);
  const oneMinusP = sigmoid(-x);
  const logP = -softplus(-x), log1mP = -softplus(x);
  const ap = alpha < 0 ? 1 : alpha, an = alpha < 0 ? 1 : 1 - alpha;
  if (positive) {
    const w = oneMinusP ** gamma;
    return [-ap * w * logP, -ap * w * (oneMinusP - gamma * p * logP)];
  }
  const w = p ** gamma;
  return [-an * w * log1mP, -an * w * (gamma * oneMinusP * log1mP - p)];
}

/** torchvision's definition for a soft target t, and its derivative by the product rule. */
export function refSoft(x: number, t: number, { gamma, alpha }: RefOptions): [number, number] {
  const p = sigmoid(x), oneMinusP = sigmoid(-x);
  const ce = t * softplus(-x) + (1 - t) * softplus(x);
  const pt = p * t + oneMinusP * (1 - t);
  const q = 1 - pt;
  const at = alpha < 0 ? 1 : alpha * t + (1 - alpha) * (1 - t);
  const loss = at * q ** gamma * ce;
  const dq = -(2 * t - 1) * p * oneMinusP;
  const dqg = gamma === 0 ? 0 : gamma * q ** (gamma - 1) * dq;
  return [loss, at * (dqg * ce + q ** gamma * (p - t))];
}
