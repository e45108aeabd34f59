// FrozenBatchNorm2d against a float64 reference, its buffers in the state dict, and loading a
// BatchNorm2d's state dict into it (numBatchesTracked dropped by the module's upgrade hook).
import { expect, it } from 'vitest';
import { ShapeError, ValueError, tensor } from '@kiln/tensor';
import { gradcheck, noGrad } from '@kiln/autograd';
import { BatchNorm2d, Conv2d, FrozenBatchNorm2d, Module, Sequential } from '@kiln/nn';
import { expectClose, forEachDevice } from '@kiln/tensor/testing';
import { f64, rand, values } from './test-helpers.js';

forEachDevice('FrozenBatchNorm2d', (dev) => {
  const stats = (bn: FrozenBatchNorm2d | BatchNorm2d) => noGrad(() => {
    bn.weight!.copy_(tensor([1.5, -0.5, 2], { dtype: 'float64', device: dev }));
    bn.bias!.copy_(tensor([0.1, 0.2, -0.3], { dtype: 'float64', device: dev }));
    bn.runningMean!.copy_(tensor([0.5, -1, 0], { dtype: 'float64', device: dev }));
    bn.runningVar!.copy_(tensor([4, 0.25, 1], { dtype: 'float64', device: dev }));
  });

  it('scales and shifts each channel by its fixed statistics, in training and evaluation alike', () => {
    const bn = new FrozenBatchNorm2d(3, { dtype: 'float64', device: dev, eps: 1e-3 });
    stats(bn);
    const x = rand(1, [2, 3, 4, 5], dev);
    const [w, b, m, v] = [[1.5, -0.5, 2], [0.1, 0.2, -0.3], [0.5, -1, 0], [4, 0.25, 1]];
    const expected = values(x).map((a, i) => {
      const c = Math.floor(i / 20) % 3;
      return ((a - m[c]) / Math.sqrt(v[c] + 1e-3)) * w[c] + b[c];
    });
    expectClose(bn.call(x), expected, f64);
    expectClose(bn.eval().call(x), expected, f64);
    // a strided (transposed) input
    const xt = rand(2, [2, 3, 5, 4], dev).transpose(2, 3);
    expect(xt.isContiguous).toBe(false);
    expectClose(bn.call(xt), values(xt).map((a, i) => {
      const c = Math.floor(i / 20) % 3;
      return ((a - m[c]) / Math.sqrt(v[c] + 1e-3)) * w[c] + b[c];
    }), f64);
  });

  it('equals BatchNorm2d in evaluation with the same statistics; keeps no parameters', () => {
    const frozen = new FrozenBatchNorm2d(3, { dtype: 'float64', device: dev });
    const bn = new BatchNorm2d(3, { dtype: 'float64', device: dev }).eval();
    stats(frozen);
    stats(bn);
    const x = rand(3, [1, 3, 3, 3], dev);
    expectClose(frozen.call(x), bn.call(x), { rtol: 1e-12, atol: 1e-12 });
    expect(frozen.parameters()).toEqual([]);
    expect(Object.keys(frozen.stateDict())).toEqual(['weight', 'bias', 'runningMean', 'runningVar']);
  });

  it("loads a BatchNorm2d's state dict, whose numBatchesTracked it drops, also nested", () => {
    const make = (norm: Module) => new Sequential(new Conv2d(2, 3, 1, { dtype: 'float64', device: dev }), norm);
    const source = make(new BatchNorm2d(3, { dtype: 'float64', device: dev }));
    stats(source.at(1) as BatchNorm2d);
    const target = make(new FrozenBatchNorm2d(3, { dtype: 'float64', device: dev }));
    const sd = source.stateDict();
    expect(Object.keys(sd)).toContain('1.numBatchesTracked');
    const result = target.loadStateDict(sd);
    expect(result).toEqual({ missingKeys: [], unexpectedKeys: [] });
    expect(values((target.at(1) as FrozenBatchNorm2d).runningVar)).toEqual([4, 0.25, 1]);
    const x = rand(4, [2, 2, 3, 3], dev);
    expectClose(target.call(x), source.eval().call(x), { rtol: 1e-12, atol: 1e-12 });
    // the caller's dict is left as it was
    expect(Object.keys(sd)).toContain('1.numBatchesTracked');
    // strict still reports keys that are really missing
    const partial = { ...sd };
    delete partial['1.runningMean'];
    expect(() => target.loadStateDict(partial)).toThrow(/missing keys '1\.runningMean'/);
  });

  it('passes gradcheck with respect to its input', () => {
    const bn = new FrozenBatchNorm2d(3, { dtype: 'float64', device: dev });
    stats(bn);
    const x = rand(5, [2, 3, 2, 3], dev).requiresGrad_();
    expect(gradcheck((a) => bn.call(a), [x])).toBe(true);
  });

  it('errors name the module and the argument', () => {
    expect(() => new FrozenBatchNorm2d(0)).toThrow(ValueError);
    expect(() => new FrozenBatchNorm2d(2, { eps: -1 })).toThrow("FrozenBatchNorm2d: argument 'eps' expected a non-negative number, got -1");
    expect(() => new FrozenBatchNorm2d(3, { device: dev }).call(rand(1, [2, 4, 2, 2], dev, 'float32'))).toThrow(ShapeError);
    expect(() => new FrozenBatchNorm2d(3, { device: dev }).call(rand(1, [2, 3, 2], dev, 'float32'))).toThrow(/FrozenBatchNorm2d: argument 'input' expected 4 dimensions/);
  });
});
