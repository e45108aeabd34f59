// ModelEma against its definition computed here in float64: ema = d·ema + (1 - d)·model for floating
// parameters and buffers ('average'), copies for 'copy' and integer buffers, timm's warm-up ramp;
// its module is a separate, frozen, evaluation-mode copy; its state round-trips.
import { expect, it } from 'vitest';
import { ShapeError, type Tensor, ValueError, tensor } from '@kiln/tensor';
import { noGrad } from '@kiln/autograd';
import { BatchNorm2d, Conv2d, Module } from '@kiln/nn';
import { ModelEma } from '@kiln/optim';
import { expectClose, expectError, forEachDevice, randomValues, toNumbers } from '@kiln/tensor/testing';

const values = (t: Tensor): number[] => toNumbers(t.toTypedArray());

class Net extends Module {
  conv: Conv2d;
  bn: BatchNorm2d;
  constructor(dev: 'cpu' | 'cuda') {
    super();
    this.conv = new Conv2d(2, 3, 1, { dtype: 'float64', device: dev });
    this.bn = new BatchNorm2d(3, { dtype: 'float64', device: dev });
  }
  forward(x: Tensor): Tensor {
    return this.bn.call(this.conv.call(x));
  }
}

/** Moves every floating entry of the model's state somewhere new (a training step's stand-in). */
function perturb(net: Net, k: number): void {
  noGrad(() => {
    for (const [i, t] of Object.values(net.stateDict()).entries()) {
      if (t.dtype === 'int64') t.add_(1);
      else t.copy_(tensor(randomValues(100 * k + i, t.numel), { dtype: 'float64', device: t.device }).reshape([...t.shape]));
    }
  });
}

forEachDevice('ModelEma', (dev) => {
  for (const buffers of ['average', 'copy'] as const) {
    it(`follows ema = d·ema + (1 - d)·model (buffers: ${buffers}; integer buffers copied)`, () => {
      const net = new Net(dev);
      const ema = new ModelEma(net, { decay: 0.9, buffers });
      const expected = Object.fromEntries(Object.entries(net.stateDict()).map(([k, t]) => [k, values(t)]));
      for (let step = 0; step < 4; step++) {
        perturb(net, step);
        ema.update(net);
        for (const [k, t] of Object.entries(net.stateDict())) {
          const isParam = k.endsWith('weight') || k.endsWith('bias');
          const averaged = t.dtype !== 'int64' && (isParam || buffers === 'average');
          expected[k] = averaged ? expected[k].map((e, i) => 0.9 * e + 0.1 * values(t)[i]) : values(t);
        }
      }
      for (const [k, t] of Object.entries(ema.module.stateDict())) expectClose(t, expected[k], { rtol: 1e-12, atol: 1e-12, what: k });
      expect(ema.updates).toBe(4);
    });
  }

  it("is a frozen copy in evaluation mode, independent of the model", () => {
    const net = new Net(dev);
    const ema = new ModelEma(net);
    expect(ema.module).not.toBe(net);
    expect(ema.module.training).toBe(false);
    expect(net.training).toBe(true);
    expect(ema.module.parameters().every((p) => !p.requiresGrad)).toBe(true);
    expect(ema.module.conv.weight.storage).not.toBe(net.conv.weight.storage);
    expect(values(ema.module.conv.weight)).toEqual(values(net.conv.weight));
  });

  it("ramps the decay up with warmup: min(decay, (1 + n) / (10 + n))", () => {
    const ema = new ModelEma(new Net(dev), { decay: 0.5, warmup: true });
    const net = new Net(dev);
    const seen: number[] = [];
    for (let i = 0; i < 4; i++) { seen.push(ema.currentDecay()); ema.update(net); }
    expect(seen).toEqual([1 / 10, 2 / 11, 3 / 12, 4 / 13]);   // all below 0.5
    expect(new ModelEma(net, { decay: 0.2, warmup: true }).currentDecay()).toBe(0.1);
  });

  it('keeps the average on another device when asked', () => {
    const first = new Net(dev);
    const ema = new ModelEma(first, { device: 'cpu', decay: 0.5 });
    expect(ema.module.conv.weight.device.type).toBe('cpu');
    const net = new Net(dev);
    ema.update(net);
    const expected = values(first.conv.weight).map((e, i) => 0.5 * e + 0.5 * values(net.conv.weight)[i]);
    expectClose(ema.module.conv.weight, expected, { rtol: 1e-12, atol: 1e-12 });
  });

  it('round-trips its state; refuses another model and bad options', () => {
    const net = new Net(dev);
    const a = new ModelEma(net, { decay: 0.8 });
    perturb(net, 1);
    a.update(net);
    const b = new ModelEma(new Net(dev), { decay: 0.8 });
    b.loadStateDict(a.stateDict());
    expect(b.updates).toBe(1);
    for (const [k, t] of Object.entries(a.module.stateDict())) expect(values(b.module.stateDict()[k]), k).toEqual(values(t));
    expect(() => new ModelEma(net, { decay: 1.5 })).toThrow(ValueError);
    expect(() => new ModelEma(net, { buffers: 'mean' as 'copy' })).toThrow(ValueError);
    // the same keys, other shapes: refused before anything is averaged (was an error of add, half-way)
    const wider = new Net(dev);
    wider.conv = new Conv2d(4, 3, 1, { dtype: 'float64', device: dev });
    const before = values(a.module.stateDict()['bn.running_mean'] ?? a.module.stateDict()['bn.runningMean']);
    expectError(() => a.update(wider), ShapeError, { op: 'ModelEma.update', argument: "model['conv.weight']", expected: "the averaged model's shape [3, 2, 1, 1]", got: '[3, 4, 1, 1]' });
    expect(values(a.module.stateDict()['bn.running_mean'] ?? a.module.stateDict()['bn.runningMean'])).toEqual(before);
    expectError(() => new ModelEma(net, { decay_rate: 0.9 } as never), ValueError, { op: 'ModelEma', argument: 'options', expected: 'only the options decay, buffers, warmup, device', got: '"decay_rate"' });
    expectError(() => new ModelEma(net, { warmup: 'yes' as unknown as boolean }), ValueError, { op: 'ModelEma', argument: 'warmup', expected: 'true or false' });
    expect(() => a.update(new Conv2d(2, 3, 1) as unknown as Net)).toThrow(/the same state-dict keys/);
    expect(() => b.loadStateDict({ module: a.stateDict().module, updates: -1 })).toThrow(ValueError);
  });
});
