/**
 * A float64 reference of the modulated deformable convolution, written straight from its
 * definition (a sum over channels and taps of weight · mask · bilinear sample), independent of the
 * kernels' im2col formulation: the oracle the tests compare both devices with.
 */

/** A dense row-major array with its shape. */
export interface Dense {
  readonly shape: readonly number[];
  readonly data: Float64Array;
}

/** Bilinear sample of plane (n, c) of x at (y, px), zero outside: torchvision's rule. */
function bilinear(x: Dense, n: number, c: number, y: number, px: number): number {
  const [, C, H, W] = x.shape as [number, number, number, number];
  if (y <= -1 || y >= H || px <= -1 || px >= W) return 0;
  const y0 = Math.floor(y), x0 = Math.floor(px);
  const at = (yy: number, xx: number): number => (yy >= 0 && yy < H && xx >= 0 && xx < W ? x.data[((n * C + c) * H + yy) * W + xx] : 0);
  const ly = y - y0, lx = px - x0;
  return (1 - ly) * (1 - lx) * at(y0, x0) + (1 - ly) * lx * at(y0, x0 + 1) + ly * (1 - lx) * at(y0 + 1, x0) + ly * lx * at(y0 + 1, x0 + 1);
}

/** Geometry of a reference call. */
export interface Conv {
  stride: [number, number];
  padding: [number, number];
  dilation: [number, number];
}

/**
 * out[n, o, oh, ow] = bias[o] + Σ_{c in o's group} Σ_{i, j} weight[o, c', i, j] · mask · x̃(n, c, y, x),
 * y = oh sh − ph + i dh + dy, x = ow sw − pw + j dw + dx (offset group of c: c / (C / G)).
 */
export function deformConv2dReference(x: Dense, offset: Dense, weight: Dense, mask: Dense | null, bias: Float64Array | null, conv: Conv): Dense {
  const [N, C, H, W] = x.shape as [number, number, number, number];
  const [O, Cg, kh, kw] = weight.shape as [number, number, number, number];
  const groups = C / Cg, K = kh * kw;
  const OH = Math.floor((H + 2 * conv.padding[0] - conv.dilation[0] * (kh - 1) - 1) / conv.stride[0]) + 1;
  const OW = Math.floor((W + 2 * conv.padding[1] - conv.dilation[1] * (kw - 1) - 1) / conv.stride[1]) + 1;
  const G = offset.shape[1] / (2 * K), perOffsetGroup = C / G;
  const out = new Float64Array(N * O * OH * OW);
  const off = (n: number, ch: number, oh: number, ow: number): number => offset.data[((n * offset.shape[1] + ch) * OH + oh) * OW + ow];
  const msk = (n: number, ch: number, oh: number, ow: number): number => (mask ? mask.data[((n * mask.shape[1] + ch) * OH + oh) * OW + ow] : 1);
  for (let n = 0; n < N; n++)
    for (let o = 0; o < O; o++)
      for (let oh = 0; oh < OH; oh++)
        for (let ow = 0; ow < OW; ow++) {
          let s = bias ? bias[o] : 0;
          const g = Math.floor(o / (O / groups));
          for (let cg = 0; cg < Cg; cg++) {
            const c = g * Cg + cg, og = Math.floor(c / perOffsetGroup);
            for (let i = 0; i < kh; i++)
              for (let j = 0; j < kw; j++) {
                const t = og * K + i * kw + j;
                const y = oh * conv.stride[0] - conv.padding[0] + i * conv.dilation[0] + off(n, 2 * t, oh, ow);
                const px = ow * conv.stride[1] - conv.padding[1] + j * conv.dilation[1] + off(n, 2 * t + 1, oh, ow);
                s += weight.data[((o * Cg + cg) * kh + i) * kw + j] * msk(n, t, oh, ow) * bilinear(x, n, c, y, px);
              }
          }
          out[((n * O + o) * OH + oh) * OW + ow] = s;
        }
  return { shape: [N, O, OH, OW], data: out };
}
