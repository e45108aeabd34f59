// Optimizer and scheduler state dicts: PyTorch's shape, and a run continued from a loaded state
// takes the same steps, bit for bit, as the run it was saved from; bad states are refused with
// the optimizer left as it was.
import { describe, expect, it } from 'vitest';
import { type Tensor, ShapeError, ValueError, tensor, zeros } from '@kiln/tensor';
import { noGrad } from '@kiln/autograd';
import { Adam, AdamW, type Optimizer, SGD, warmupCosine } from '@kiln/optim';
import { expectError, forEachDevice, randomValues, toNumbers } from '@kiln/tensor/testing';

type Dev = 'cpu' | 'cuda';
const values = (t: Tensor): number[] => toNumbers(t.toTypedArray());
const SHAPES = [[3, 2], [4], [2, 2, 2]];

function makeParams(dev: Dev, seed: number): Tensor[] {
  return SHAPES.map((s, i) => tensor(randomValues(seed + i, s.reduce((a, b) => a * b, 1)), { dtype: 'float32', device: dev }).reshape(s).requiresGrad_());
}

/** Gradients of step k, the same for every run. */
function setGrads(params: Tensor[], k: number): void {
  params.forEach((p, i) => { p.grad = tensor(randomValues(1000 * k + i, p.numel, -2, 2), { dtype: 'float32', device: p.device }).reshape([...p.shape]); });
}

type Make = (ps: Tensor[]) => Optimizer<{ lr: number }>;
const optimizers: [string, Make][] = [
  ['SGD momentum nesterov (fused)', (ps) => new SGD([{ params: ps.slice(0, 2) }, { params: ps.slice(2), lr: 0.05 }], { lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 1e-3 })],
  ['SGD momentum (composed)', (ps) => new SGD([{ params: ps.slice(0, 2) }, { params: ps.slice(2), lr: 0.05 }], { lr: 0.1, momentum: 0.8, fused: false })],
  ['Adam (fused)', (ps) => new Adam([{ params: ps.slice(0, 1) }, { params: ps.slice(1), lr: 3e-3 }], { lr: 1e-2 })],
  ['AdamW amsgrad (composed)', (ps) => new AdamW([{ params: ps.slice(0, 1) }, { params: ps.slice(1), weightDecay: 0.1 }], { lr: 1e-2, amsgrad: true, fused: false })],
];

forEachDevice('Optimizer.stateDict / loadStateDict', (dev) => {
  for (const [name, make] of optimizers) {
    it(`${name}: a run resumed from the state dict takes the same steps`, () => {
      const a = makeParams(dev, 1), optA = make(a);
      for (let k = 0; k < 3; k++) { setGrads(a, k); optA.step(); optA.zeroGrad(); }
      const sd = optA.stateDict();
      // a fresh optimizer over other parameters of the same shapes, groups and initial values
      const b = makeParams(dev, 50), optB = make(b);
      noGrad(() => b.forEach((p, i) => p.copy_(a[i])));
      optB.loadStateDict(sd);
      expect(optB.paramGroups.map((g) => g.lr)).toEqual(optA.paramGroups.map((g) => g.lr));
      for (let k = 3; k < 6; k++) {
        setGrads(a, k); optA.step(); optA.zeroGrad();
        setGrads(b, k); optB.step(); optB.zeroGrad();
      }
      a.forEach((p, i) => expect(values(b[i]), `params[${i}]`).toEqual(values(p)));
    });
  }

  it("has PyTorch's shape: state by parameter index, groups with hyper-parameters and indices", () => {
    const ps = makeParams(dev, 1);
    const opt = new Adam([{ params: ps.slice(0, 1) }, { params: ps.slice(1), lr: 3e-3 }], { lr: 1e-2 });
    setGrads([ps[0], ps[2]], 0);
    opt.step();
    const sd = opt.stateDict();
    expect(sd.paramGroups.map((g) => g.params)).toEqual([[0], [1, 2]]);
    expect(sd.paramGroups[1]).toMatchObject({ lr: 3e-3, initialLr: 3e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, amsgrad: false, fused: true });
    expect(Object.keys(sd.state)).toEqual(['0', '2']);             // params[1] had no gradient: no state
    expect(sd.state[0].step).toBe(1);
    expect(sd.state[2].expAvg).toBe(opt.state.get(ps[2])!.expAvg);  // the optimizer's own tensor, not a copy
    (sd.paramGroups[0].betas as number[])[0] = 0.5;                   // the hyper-parameters are copies
    expect(opt.paramGroups[0].betas[0]).toBe(0.9);
  });

  it('moves loaded state onto the parameters device and dtype (state from the CPU, as a checkpoint gives it)', () => {
    const ps = makeParams(dev, 1), opt = new SGD(ps, { lr: 0.1, momentum: 0.9 });
    const sd = { state: { 1: { momentumBuffer: tensor([1, 2, 3, 4], { dtype: 'float64' }) } }, paramGroups: opt.stateDict().paramGroups };
    opt.loadStateDict(sd);
    const buf = opt.state.get(ps[1])!.momentumBuffer as Tensor;
    expect([buf.device.type, buf.dtype]).toEqual([dev, 'float32']);
    expect(values(buf)).toEqual([1, 2, 3, 4]);
    expect(buf).not.toBe(sd.state[1].momentumBuffer);
  });

  it('refuses a state of other groups, parameters or shapes, leaving the optimizer as it was', () => {
    const ps = makeParams(dev, 1), opt = new Adam([{ params: ps.slice(0, 1) }, { params: ps.slice(1) }], { lr: 1e-2 });
    setGrads(ps, 0);
    opt.step();
    const good = opt.stateDict();
    const before = values(opt.state.get(ps[0])!.expAvg as Tensor);
    expect(() => opt.loadStateDict({ ...good, paramGroups: good.paramGroups.slice(0, 1) })).toThrow(ValueError);
    expect(() => opt.loadStateDict({ ...good, paramGroups: [good.paramGroups[0], { ...good.paramGroups[1], params: [1] }] })).toThrow(/2 parameters \(the group's\)/);
    expect(() => opt.loadStateDict({ ...good, state: { ...good.state, 0: { ...good.state[0], expAvg: zeros([2, 3], { device: dev }) } } })).toThrow(ShapeError);
    expect(() => opt.loadStateDict({ ...good, state: { 7: { step: 1 } } })).toThrow(/state\[7\]/);
    // a state entry that is neither a tensor nor a number (JSON round trips make arrays) names its key
    const arrayState = { ...good, state: { ...good.state, 0: { ...good.state[0], expAvg: [0, 0] as unknown as Tensor } } };
    expectError(() => opt.loadStateDict(arrayState), ValueError, { op: 'Adam.loadStateDict', argument: 'stateDict.state[0].expAvg', expected: 'a Tensor or a number', got: '[0, 0]' });
    expect(() => opt.loadStateDict({ ...good, paramGroups: [{ ...good.paramGroups[0], lr: -1 }, good.paramGroups[1]] })).toThrow(ValueError);
    // Adam's own rules: a step count, and the moments that go with it; a parameter index once
    const state0 = good.state[0];
    for (const step of [NaN, -1, 1.5]) {
      expectError(() => opt.loadStateDict({ ...good, state: { ...good.state, 0: { ...state0, step } } }), ValueError, { argument: 'stateDict.state[0].step' });
    }
    const { expAvgSq: _dropped, ...noSecondMoment } = state0;
    expectError(() => opt.loadStateDict({ ...good, state: { ...good.state, 0: noSecondMoment } }), ValueError, { argument: 'stateDict.state[0].expAvgSq' });
    expectError(() => opt.loadStateDict({ ...good, paramGroups: [good.paramGroups[0], { ...good.paramGroups[1], params: [1, 1] }] }), ValueError,
      { argument: 'stateDict.paramGroups[1].params[1]' });
    expect(values(opt.state.get(ps[0])!.expAvg as Tensor)).toEqual(before);
    expect(opt.paramGroups[0].lr).toBe(1e-2);
  });

  it('loads its own stateDict() (whose tensors are its state): the state is kept, and the run goes on as without the load', () => {
    for (const make of [(ps: Tensor[]) => new Adam(ps, { lr: 1e-2 }), (ps: Tensor[]) => new SGD(ps, { lr: 0.1, momentum: 0.9 })]) {
      const a = makeParams(dev, 3), b = makeParams(dev, 3);
      const oa = make(a), ob = make(b);
      setGrads(a, 0);
      setGrads(b, 0);
      oa.step();
      ob.step();
      ob.loadStateDict(ob.stateDict());
      expect(ob.state.size).toBe(oa.state.size);
      setGrads(a, 1);
      setGrads(b, 1);
      oa.step();
      ob.step();
      a.forEach((p, i) => expect(values(b[i])).toEqual(values(p)));
      oa.disposeState();
      ob.disposeState();
      for (const p of [...a, ...b]) {
        p.grad?.dispose();
        p.dispose();
      }
    }
  });

  it('takes an option given as undefined as its default (a JS habit); refuses betas that are not a pair', () => {
    const p = zeros([2], { device: dev }).requiresGrad_();
    expect(new Adam([p], { lr: 1e-3, betas: undefined }).paramGroups[0].betas).toEqual([0.9, 0.999]);
    expectError(() => new Adam([p], { lr: 1e-3, betas: 0.9 as never }), ValueError, { op: 'Adam', argument: 'betas' });
  });
});

describe('LRScheduler.stateDict / loadStateDict', () => {
  it('a scheduler resumed from its state (after the optimizer) sets the same learning rates', () => {
    const make = () => {
      const opt = new SGD([{ params: [zeros([1]).requiresGrad_()] }, { params: [zeros([1]).requiresGrad_()], lr: 1 }], { lr: 0.1 });
      return { opt, sched: warmupCosine(opt, { warmupIters: 3, totalIters: 12 }) };
    };
    const a = make();
    for (let i = 0; i < 5; i++) a.sched.step();
    const saved = { opt: a.opt.stateDict(), sched: a.sched.stateDict() };
    expect(saved.sched).toEqual({ lastEpoch: 5, baseLrs: [0.1, 1] });
    const b = make();
    b.opt.loadStateDict(saved.opt);
    b.sched.loadStateDict(saved.sched);
    expect(b.sched.getLastLr()).toEqual(a.sched.getLastLr());
    for (let i = 0; i < 6; i++) {
      a.sched.step();
      b.sched.step();
      expect(b.sched.getLastLr()).toEqual(a.sched.getLastLr());
    }
  });

  it('refuses states of another number of groups or a bad epoch', () => {
    const opt = new SGD([zeros([1]).requiresGrad_()], { lr: 0.1 });
    const s = warmupCosine(opt, { warmupIters: 2, totalIters: 5 });
    expect(() => s.loadStateDict({ lastEpoch: 1, baseLrs: [0.1, 0.2] })).toThrow(ValueError);
    expect(() => s.loadStateDict({ lastEpoch: 1.5, baseLrs: [0.1] })).toThrow("SequentialLR.loadStateDict: argument 'stateDict.lastEpoch' expected an integer >= -1, got 1.5");
    expect(s.lastEpoch).toBe(0);
  });
});
