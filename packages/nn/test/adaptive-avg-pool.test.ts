// AdaptiveAvgPool2d against a float64 reference of PyTorch's bins, on equal and unequal bins,
// strided inputs and sizes kept with null; its gradient by gradcheck.
import { expect, it } from 'vitest';
import { ShapeError, ValueError } from '@kiln/tensor';
import { gradcheck } from '@kiln/autograd';
import { AdaptiveAvgPool2d } from '@kiln/nn';
import { expectClose, forEachDevice } from '@kiln/tensor/testing';
import { f64, rand, values } from './test-helpers.js';

/** PyTorch's adaptive average pooling, by its definition: bin i of L in n is [floor(iL/n), ceil((i+1)L/n)). */
function reference(x: readonly number[], [n, c, h, w]: number[], oh: number, ow: number): number[] {
  const out: number[] = [];
  for (let p = 0; p < n * c; p++) {
    for (let i = 0; i < oh; i++) {
      for (let j = 0; j < ow; j++) {
        const [h0, h1] = [Math.floor((i * h) / oh), Math.ceil(((i + 1) * h) / oh)];
        const [w0, w1] = [Math.floor((j * w) / ow), Math.ceil(((j + 1) * w) / ow)];
        let s = 0;
        for (let a = h0; a < h1; a++) for (let b = w0; b < w1; b++) s += x[(p * h + a) * w + b];
        out.push(s / ((h1 - h0) * (w1 - w0)));
      }
    }
  }
  return out;
}

forEachDevice('AdaptiveAvgPool2d', (dev) => {
  it('averages bins that tile the input, equal or not, 1 (global pooling) and the input size', () => {
    const cases: [number[], [number | null, number | null]][] = [
      [[2, 3, 6, 8], [1, 1]], [[2, 3, 6, 8], [3, 4]], [[1, 2, 7, 5], [3, 2]], [[1, 2, 5, 9], [5, 4]], [[1, 1, 3, 3], [5, 1]], [[1, 2, 4, 6], [null, 4]],
    ];
    for (const [shape, size] of cases) {
      const x = rand(shape[2] * 10 + shape[3], shape, dev);
      const y = new AdaptiveAvgPool2d(size).call(x);
      const [oh, ow] = [size[0] ?? shape[2], size[1] ?? shape[3]];
      expect(y.shape).toEqual([shape[0], shape[1], oh, ow]);
      expectClose(y, reference(values(x), shape, oh, ow), { ...f64, what: `${shape.join(',')} -> ${JSON.stringify(size)}` });
    }
  });

  it('reads strided inputs', () => {
    const x = rand(9, [1, 2, 7, 6], dev).transpose(2, 3);
    expect(x.isContiguous).toBe(false);
    expectClose(new AdaptiveAvgPool2d(4).call(x), reference(values(x), [1, 2, 6, 7], 4, 4), f64);
  });

  it('passes gradcheck on equal and unequal bins', () => {
    const x = rand(10, [1, 2, 5, 4], dev).requiresGrad_();
    expect(gradcheck((a) => new AdaptiveAvgPool2d([3, 2]).call(a), [x])).toBe(true);
    expect(gradcheck((a) => new AdaptiveAvgPool2d(1).call(a), [x])).toBe(true);
  });

  it('errors', () => {
    expect(() => new AdaptiveAvgPool2d(0)).toThrow(ValueError);
    expect(() => new AdaptiveAvgPool2d([2, 1.5])).toThrow("AdaptiveAvgPool2d: argument 'outputSize' expected a positive integer, null, or a pair of them, got [2,1.5]");
    expect(() => new AdaptiveAvgPool2d(1).call(rand(1, [2, 3, 4], dev))).toThrow(ShapeError);
    expect(() => new AdaptiveAvgPool2d(1).call(rand(1, [2, 3, 0, 4], dev))).toThrow(ShapeError);
  });
});
