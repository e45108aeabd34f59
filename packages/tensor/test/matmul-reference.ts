/** The float64 reference of the matrix-product tests (matmul.test.ts, cpu-gemm.test.ts). */

export const numel = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);

/** torch.matmul's rules on row-major values, in float64. */
export function refMatmul(a: readonly number[], as: readonly number[], b: readonly number[], bs: readonly number[]): { values: number[]; shape: number[] } {
  const a2 = as.length === 1 ? [1, as[0]] : [...as];
  const b2 = bs.length === 1 ? [bs[0], 1] : [...bs];
  const M = a2.at(-2)!, K = a2.at(-1)!, N = b2.at(-1)!;
  if (b2.at(-2) !== K) throw new Error('reference: shapes do not multiply');
  const ab = a2.slice(0, -2), bb = b2.slice(0, -2);
  const nb = Math.max(ab.length, bb.length);
  const pad = (s: number[]) => [...new Array<number>(nb - s.length).fill(1), ...s];
  const pa = pad(ab), pb = pad(bb);
  const batch = pa.map((x, i) => Math.max(x, pb[i]));
  const out: number[] = [];
  const idx = new Array<number>(nb).fill(0);
  for (let t = 0; t < numel(batch); t++) {
    let ia = 0, ib = 0;
    for (let d = 0; d < nb; d++) {
      ia = ia * pa[d] + (pa[d] === 1 ? 0 : idx[d]);
      ib = ib * pb[d] + (pb[d] === 1 ? 0 : idx[d]);
    }
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        let s = 0;
        for (let k = 0; k < K; k++) s += a[ia * M * K + m * K + k] * b[ib * K * N + k * N + n];
        out.push(s);
      }
    }
    for (let d = nb - 1; d >= 0; d--) {
      if (++idx[d] < batch[d]) break;
      idx[d] = 0;
    }
  }
  const shape = [...batch, ...(as.length === 1 ? [] : [M]), ...(bs.length === 1 ? [] : [N])];
  return { values: out, shape };
}
