/**
 * Plain float64 references of the softmax focal and distribution focal losses, per row, with their
 * gradients in closed form (the formulas the sources' comments derive) rather than by autograd.
 */
const logSumExp = (xs: readonly number[]): number => {
  const m = Math.max(...xs);
  return m === -Infinity ? -Infinity : m + Math.log(xs.reduce((s, v) => s + Math.exp(v - m), 0));
};
const logSigmoid = (z: number): number => -(Math.max(-z, 0) + Math.log1p(Math.exp(-Math.abs(z))));

/** Loss and d loss / d x of one row: -alpha_t (1 - p_t)^gamma log p_t, p = softmax(x). */
export function refSoftmaxFocalRow(x: readonly number[], t: number, gamma: number, alphaT: number): [number, number[]] {
  const others = logSumExp(x.filter((_, j) => j !== t));
  // log p_t and log(1 - p_t) from z = x_t - others (p_t = sigmoid(z)): exact even when p_t rounds to 1
  const z = x[t] - others;
  const logPt = logSigmoid(z), log1mPt = logSigmoid(-z);
  const q = Math.exp(log1mPt), pt = Math.exp(logPt);
  const qg = Math.exp(gamma * log1mPt);
  const dz = -alphaT * qg * (q - gamma * pt * logPt);   // d loss / d z
  const grad = x.map((v, j) => (j === t ? dz : -dz * Math.exp(v - others)));
  return [-alphaT * qg * logPt, grad];
}

/** Loss and gradient of one row of the distribution focal loss (label y in [0, n)). */
export function refDistributionFocalRow(x: readonly number[], y: number): [number, number[]] {
  const lse = logSumExp(x);
  const l = Math.floor(y), wl = l + 1 - y, wr = y - l;
  const loss = -(wl * (x[l] - lse) + wr * (x[l + 1] - lse));
  // d/dx_j: (wl + wr) p_j - wl [j = l] - wr [j = l + 1], and wl + wr = 1
  const grad = x.map((v, j) => Math.exp(v - lse) - (j === l ? wl : 0) - (j === l + 1 ? wr : 0));
  return [loss, grad];
}
