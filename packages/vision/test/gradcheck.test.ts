/**
 * Gradients of @kiln/vision's differentiable ops against central finite differences, in float64,
 * on every device: roiAlign and roiPool with their backward kernels (second derivatives too), and
 * the IoU family and box coder (composed of core ops). The last test checks that every
 * differentiable op this package declares has a derivative and a case here.
 */
import { describe, expect, it } from 'vitest';
import { type Tensor, allOps, tensor } from '@kiln/tensor';
import { derivativeOf, gradcheck, gradgradcheck } from '@kiln/autograd';
import { expectClose, forEachDevice, randomValues } from '@kiln/tensor/testing';

const before = new Set(allOps().map((o) => o.name));
const vision = await import('@kiln/vision');
const declaredHere = allOps().filter((o) => !before.has(o.name) && o.differentiable).map((o) => o.name);

interface Case {
  ops: string[];
  title: string;
  build(dev: string): { fn: (...xs: Tensor[]) => Tensor | Tensor[]; inputs: Tensor[] };
  gradgrad?: boolean;
}

const leaf = (dev: string, shape: number[], seed: number, lo = -1, hi = 1): Tensor =>
  tensor(randomValues(seed, shape.reduce((a, b) => a * b, 1), lo, hi), { dtype: 'float64', device: dev }).reshape(shape).requiresGrad_();
const f64 = (dev: string, v: number[][]): Tensor => tensor(v, { dtype: 'float64', device: dev });

/** Boxes with x1 < x2, y1 < y2, sizes in [0.5, 2.5], as a leaf. */
function boxLeaf(dev: string, n: number, seed: number): Tensor {
  const xy = randomValues(seed, 2 * n, 0, 3), wh = randomValues(seed + 1, 2 * n, 0.5, 2.5);
  return f64(dev, Array.from({ length: n }, (_, i) => [xy[2 * i], xy[2 * i + 1], xy[2 * i] + wh[2 * i], xy[2 * i + 1] + wh[2 * i + 1]])).requiresGrad_();
}

// sample points away from pixel borders so that finite differences do not cross a kink
const rois = (dev: string) => f64(dev, [[0, 0.3, 0.6, 3.2, 4.7], [1, 2.1, 1.3, 3.9, 5.2], [0, -1.4, 2.2, 3.3, 3.4]]);

/** v = 4/π² (atan(w₁/h₁) - atan(w₂/h₂))², [N, M], written here from its definition. */
function aspectTerm(a: Tensor, b: Tensor): Tensor {
  const ratio = (t: Tensor) => t.select(1, 2).sub(t.select(1, 0)).div(t.select(1, 3).sub(t.select(1, 1))).atan();
  const d = ratio(a).unsqueeze(1).sub(ratio(b));
  return d.mul(d).mul(4 / Math.PI ** 2);
}
/** α = v / (1 - IoU + v + eps) at the given (constant) boxes. */
function ciouAlpha(a: Tensor, b: Tensor, eps = 1e-7): Tensor {
  const v = aspectTerm(a, b);
  return v.div(vision.boxIou(a, b).neg().add(1).add(v).add(eps));
}

const cases: Case[] = [
  { ops: ['roi_align', 'roi_align_backward'], title: 'roiAlign, fixed sampling, not aligned', gradgrad: true, build: (dev) => ({
    fn: (x) => vision.roiAlign(x, rois(dev), { outputSize: [2, 3], spatialScale: 1, samplingRatio: 2 }), inputs: [leaf(dev, [2, 1, 6, 5], 1)],
  }) },
  { ops: ['roi_align', 'roi_align_backward'], title: 'roiAlign, adaptive sampling, aligned, scaled, non-contiguous input', gradgrad: true, build: (dev) => ({
    fn: (x) => vision.roiAlign(x.transpose(2, 3), rois(dev), { outputSize: 2, spatialScale: 0.9, samplingRatio: 0, aligned: true }),
    inputs: [leaf(dev, [2, 1, 5, 6], 2)],
  }) },
  { ops: ['roi_align_backward'], title: 'roiAlignBackward itself', gradgrad: true, build: (dev) => ({
    fn: (g) => vision.roiAlignBackward(g, rois(dev), [2, 1, 6, 5], { outputSize: [2, 3], samplingRatio: 2 }), inputs: [leaf(dev, [3, 1, 2, 3], 3)],
  }) },
  { ops: ['roi_pool', 'roi_pool_backward'], title: 'roiPool (distinct values: no tie moves the argmax)', gradgrad: true, build: (dev) => ({
    fn: (x) => vision.roiPool(x, rois(dev), { outputSize: [2, 2], spatialScale: 1 }), inputs: [leaf(dev, [2, 1, 6, 5], 4)],
  }) },
  { ops: ['roi_pool_backward'], title: 'roiPoolBackward itself', gradgrad: true, build: (dev) => {
    const argmax = tensor([[[[9, 10], [17, 2]]], [[[20, 21], [-1, 29]]], [[[11, 12], [13, 14]]]], { dtype: 'int64', device: dev });
    return { fn: (g) => vision.roiPoolBackward(g, rois(dev), argmax, [2, 1, 6, 5]), inputs: [leaf(dev, [3, 1, 2, 2], 6)] };
  } },
  ...(['boxIou', 'generalizedBoxIou', 'distanceBoxIou'] as const).map((f, i): Case => ({
    ops: [], title: `${f} (both box sets)`, gradgrad: true, build: (dev) => ({ fn: (a, b) => vision[f](a, b), inputs: [boxLeaf(dev, 3, 10 + i), boxLeaf(dev, 4, 20 + i)] }),
  })),
  // completeBoxIou holds α constant (torchvision computes it under no_grad), so its gradient is
  // that of DIoU - α₀ v with α₀ the value at the point: that function is checked, and
  // completeBoxIou's gradient must equal its gradient (the test after the loop)
  { ops: [], title: 'DIoU - α₀ v (completeBoxIou with α held constant)', gradgrad: true, build: (dev) => {
    const [a, b] = [boxLeaf(dev, 3, 13), boxLeaf(dev, 4, 23)];
    const alpha0 = ciouAlpha(a.detach(), b.detach());
    return { fn: (x, y) => vision.distanceBoxIou(x, y).sub(alpha0.mul(aspectTerm(x, y))), inputs: [a, b] };
  } },
  { ops: [], title: 'boxArea and boxConvert', gradgrad: true, build: (dev) => ({
    fn: (a) => [vision.boxArea(a), vision.boxConvert(a, 'xyxy', 'cxcywh'), vision.boxConvert(a, 'cxcywh', 'xywh')], inputs: [boxLeaf(dev, 3, 30)],
  }) },
  { ops: [], title: 'BoxCoder encode and decode', gradgrad: true, build: (dev) => {
    const coder = new vision.BoxCoder([10, 10, 5, 5]);
    return { fn: (gt, p, codes) => [coder.encodeSingle(gt, p), coder.decodeSingle(codes, p)], inputs: [boxLeaf(dev, 3, 40), boxLeaf(dev, 3, 42), leaf(dev, [3, 8], 44, -0.5, 0.5)] };
  } },
];

forEachDevice('@kiln/vision gradients', (dev) => {
  for (const c of cases) {
    it(`gradcheck: ${c.title}`, () => {
      const { fn, inputs } = c.build(dev);
      expect(gradcheck(fn as never, inputs)).toBe(true);
    });
    if (c.gradgrad) {
      it(`gradgradcheck: ${c.title}`, () => {
        const { fn, inputs } = c.build(dev);
        expect(gradgradcheck(fn as never, inputs)).toBe(true);
      });
    }
  }
});

forEachDevice('completeBoxIou', (dev) => {
  it('has the gradient of DIoU - α₀ v, α₀ held at its value (as torchvision)', () => {
    const [a, b] = [boxLeaf(dev, 3, 13), boxLeaf(dev, 4, 23)];
    const w = leaf(dev, [3, 4], 50).detach();
    vision.completeBoxIou(a, b).mul(w).sum().backward();
    const [a2, b2] = [a.detach().requiresGrad_(), b.detach().requiresGrad_()];
    const alpha0 = ciouAlpha(a2.detach(), b2.detach());
    vision.distanceBoxIou(a2, b2).sub(alpha0.mul(aspectTerm(a2, b2))).mul(w).sum().backward();
    expectClose(a.grad!, a2.grad!, { rtol: 1e-12, atol: 1e-14 });
    expectClose(b.grad!, b2.grad!, { rtol: 1e-12, atol: 1e-14 });
  });
});

describe("@kiln/vision's differentiable ops", () => {
  it('each has a derivative and a gradcheck case', () => {
    expect(declaredHere.length).toBeGreaterThan(0);
    expect(declaredHere.filter((name) => !derivativeOf(name))).toEqual([]);
    const covered = new Set(cases.flatMap((c) => c.ops));
    expect(declaredHere.filter((name) => !covered.has(name))).toEqual([]);
  });
});
