/**
 * torchvision's `AnchorGenerator.generate_anchors`: the anchors of one feature-map cell, centred on
 * (0, 0), computed in float32 as torchvision does, so that its rounding gives the same integers.
 */

/** Rounds half to even, as torch.round. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);                       // half up
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * The [A, 4] (x1, y1, x2, y2) anchors of one level, A = ratios × scales, ratio-major (torchvision's
 * order): for aspect ratio r (height / width) and size s, `w = s / √r`, `h = s·√r`, the box
 * `[-w, -h, w, h] / 2` rounded to integers. Every step is rounded to float32 (`Math.fround`), as
 * torchvision computes it in float32 tensors; one rounding of a double product, quotient or square
 * root of float32 values to float32 is the correctly rounded float32 result.
 */
export function cellAnchors(scales: readonly number[], aspectRatios: readonly number[]): number[][] {
  const f = Math.fround;
  const out: number[][] = [];
  for (const ratio of aspectRatios) {
    const hRatio = f(Math.sqrt(f(ratio)));
    const wRatio = f(1 / hRatio);
    for (const scale of scales) {
      const ws = f(wRatio * f(scale)), hs = f(hRatio * f(scale));
      out.push([-ws, -hs, ws, hs].map((v) => roundHalfEven(f(v / 2))));
    }
  }
  return out;
}
