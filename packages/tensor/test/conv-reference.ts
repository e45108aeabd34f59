/** The float64 reference of the convolution tests (nn-ops.test.ts, cpu-conv.test.ts). */

type P2 = [number, number];

/** A convolution window: kernel size, stride, padding and dilation, each [h, w]. */
export interface Win { k: P2; s: P2; p: P2; d: P2 }

/** The output length of a window moving over `i` positions. */
export const outLen = (i: number, k: number, s: number, p: number, d: number): number => Math.floor((i + 2 * p - d * (k - 1) - 1) / s) + 1;

/** Direct convolution: out[n, o, y, x] = b[o] + sum over the group's channels and taps. */
export function refConv2d(x: readonly number[], xs: readonly number[], wt: readonly number[], ws: readonly number[], bias: readonly number[] | null, win: Win, groups: number): { data: number[]; shape: number[] } {
  const [n, c, h, w] = xs as [number, number, number, number];
  const [o, cg, kh, kw] = ws as [number, number, number, number];
  const oh = outLen(h, kh, win.s[0], win.p[0], win.d[0]), ow = outLen(w, kw, win.s[1], win.p[1], win.d[1]);
  const og = o / groups;
  const data: number[] = [];
  for (let b = 0; b < n; b++)
    for (let oc = 0; oc < o; oc++) {
      const g = Math.floor(oc / og);
      for (let y = 0; y < oh; y++)
        for (let xx = 0; xx < ow; xx++) {
          let acc = bias ? bias[oc] : 0;
          for (let ci = 0; ci < cg; ci++) {
            const ch = g * cg + ci;
            for (let i = 0; i < kh; i++)
              for (let j = 0; j < kw; j++) {
                const hh = y * win.s[0] - win.p[0] + i * win.d[0], ww = xx * win.s[1] - win.p[1] + j * win.d[1];
                if (hh < 0 || hh >= h || ww < 0 || ww >= w) continue;
                acc += x[((b * c + ch) * h + hh) * w + ww] * wt[((oc * cg + ci) * kh + i) * kw + j];
              }
          }
          data.push(acc);
        }
    }
  return { data, shape: [n, o, oh, ow] };
}

/**
 * Both gradients of conv2d (no bias) from the output gradient g [n, o, oh, ow]: every product
 * x[b, ch, hh, ww] w[oc, ci, i, j] of the forward sum, taken back to the input (times g) and to the
 * weight (times g).
 */
export function refConv2dBackward(x: readonly number[], xs: readonly number[], wt: readonly number[], ws: readonly number[], g: readonly number[], win: Win, groups: number): { gx: number[]; gw: number[] } {
  const [n, c, h, w] = xs as [number, number, number, number];
  const [o, cg, kh, kw] = ws as [number, number, number, number];
  const oh = outLen(h, kh, win.s[0], win.p[0], win.d[0]), ow = outLen(w, kw, win.s[1], win.p[1], win.d[1]);
  const og = o / groups;
  const gx = new Array<number>(x.length).fill(0), gw = new Array<number>(wt.length).fill(0);
  for (let b = 0; b < n; b++)
    for (let oc = 0; oc < o; oc++)
      for (let y = 0; y < oh; y++)
        for (let xx = 0; xx < ow; xx++) {
          const gv = g[((b * o + oc) * oh + y) * ow + xx];
          for (let ci = 0; ci < cg; ci++) {
            const ch = Math.floor(oc / og) * cg + ci;
            for (let i = 0; i < kh; i++)
              for (let j = 0; j < kw; j++) {
                const hh = y * win.s[0] - win.p[0] + i * win.d[0], ww = xx * win.s[1] - win.p[1] + j * win.d[1];
                if (hh < 0 || hh >= h || ww < 0 || ww >= w) continue;
                const xi = ((b * c + ch) * h + hh) * w + ww, wi = ((oc * cg + ci) * kh + i) * kw + j;
                gx[xi] = gx[xi] + gv * wt[wi];
                gw[wi] = gw[wi] + gv * x[xi];
              }
          }
        }
  return { gx, gw };
}
