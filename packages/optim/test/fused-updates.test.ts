// The fused optimizer kernels (adam_update, sgd_update) against the composed path (fused: false)
// and a float64 reference over many steps, on every device: every option, float32 / float64 and the
// half types, parameters of edge sizes (empty, 1, odd, larger than a CPU thread's share), strided
// parameters and gradients, more parameters than one launch holds, mixed dtypes in one group, lr
// schedules, switching paths mid-run; bad arguments leave everything unchanged; nothing leaks.
import { expect, it } from 'vitest';
import {
  type DType, type Tensor, DTypeError, DeviceError, ShapeError, ValueError, fromTypedArray, memoryStats, profile, synchronize, tensor,
} from '@kiln/tensor';
import { Adam, AdamW, type AdamOptions, type Optimizer, SGD, type SGDOptions, StepLR } from '@kiln/optim';
import { expectClose, expectError, forEachDevice, randomValues, toNumbers, settleMemoryBeforeEach } from '@kiln/tensor/testing';

settleMemoryBeforeEach();

type Dev = 'cpu' | 'cuda';
const values = (t: Tensor): number[] => toNumbers(t.toTypedArray());

/** Shapes of one group: empty, one element, odd sizes, 12 in all (a large one has a test of its own). */
const SHAPES: number[][] = [[0], [1], [7], [3, 5], [33], [2, 3, 4], [9], [1, 1], [16], [5], [11], [4, 4]];

/** Rounds values to what a tensor of `dtype` holds (the reference starts from the same numbers). */
function rounded(xs: number[], dtype: DType): number[] {
  const t = tensor(xs, { dtype });
  const v = values(t);
  t.dispose();
  return v;
}

interface Problem {
  init: number[][];
  /** grads[step][param] */
  grads: number[][][];
}

function problem(shapes: number[][], steps: number, dtype: DType, seed: number): Problem {
  const numel = (s: number[]) => s.reduce((a, b) => a * b, 1);
  return {
    init: shapes.map((s, i) => rounded(randomValues(seed + i, numel(s), -2, 2), dtype)),
    grads: Array.from({ length: steps }, (_, k) => shapes.map((s, i) => rounded(randomValues(seed + 1000 * (k + 1) + i, numel(s), -3, 3), dtype))),
  };
}

/** Parameters of `shapes` holding `init`; `strided` makes the [3, 5] one a transposed view. */
function params(p: Problem, shapes: number[][], dtype: DType, dev: Dev, strided = false): Tensor[] {
  return shapes.map((s, i) => {
    if (strided && s.length === 2 && s[0] === 3 && s[1] === 5) {
      // a [3, 5] view of a [5, 3] tensor: values laid out so that the view reads init in order
      const t = p.init[i];
      const base = Array.from({ length: 15 }, (_, k) => t[(k % 3) * 5 + Math.floor(k / 3)]);
      return tensor(base, { dtype, device: dev }).reshape([5, 3]).transpose(0, 1).requiresGrad_();
    }
    return tensor(p.init[i], { dtype, device: dev }).reshape(s).requiresGrad_();
  });
}

/** The gradient of step k for parameter i; `strided` gives the [3, 5] one as every other column of a [3, 10]. */
function grad(p: Problem, k: number, i: number, shape: number[], dtype: DType, dev: Dev, strided: boolean): Tensor {
  const g = p.grads[k][i];
  if (strided && shape.length === 2 && shape[0] === 3 && shape[1] === 5) {
    const wide = Array.from({ length: 30 }, (_, j) => (j % 2 === 0 ? g[Math.floor(j / 10) * 5 + (j % 10) / 2] : 99));
    return tensor(wide, { dtype, device: dev }).reshape([3, 10]).slice(1, 0, undefined, 2);
  }
  return tensor(g, { dtype, device: dev }).reshape(shape);
}

/** Runs `steps` steps of an optimizer made by `make`, with the problem's gradients; returns the params. */
function train(p: Problem, dtype: DType, dev: Dev, make: (ps: Tensor[]) => Optimizer<{ lr: number }>, opts: { strided?: boolean; beforeStep?: (k: number, o: Optimizer<{ lr: number }>) => void } = {}) {
  const ps = params(p, SHAPES, dtype, dev, opts.strided);
  const opt = make(ps);
  p.grads.forEach((_, k) => {
    ps.forEach((t, i) => {
      t.grad?.dispose();
      t.grad = grad(p, k, i, SHAPES[i], dtype, dev, opts.strided ?? false);
    });
    opts.beforeStep?.(k, opt);
    opt.step();
  });
  return { ps, opt };
}

function disposeAll(ps: Tensor[], opt: Optimizer<{ lr: number }>): void {
  opt.disposeState();
  for (const t of ps) {
    t.grad?.dispose();
    t.dispose();
  }
}

/** torch.optim.Adam / AdamW's documented rule in float64, per element. */
function refAdam(p: Problem, o: Partial<AdamOptions>, decoupled: boolean, lrAt: (k: number) => number = () => o.lr ?? 1e-3): number[][] {
  const [b1, b2] = o.betas ?? [0.9, 0.999];
  const eps = o.eps ?? 1e-8, wd = o.weightDecay ?? (decoupled ? 1e-2 : 0);
  return p.init.map((init, i) => {
    const theta = [...init], m = init.map(() => 0), v = init.map(() => 0), vmax = init.map(() => 0);
    p.grads.forEach((gs, k) => {
      const t = k + 1, lr = lrAt(k);
      theta.forEach((_, j) => {
        let g = o.maximize ? -gs[i][j] : gs[i][j];
        if (decoupled) theta[j] -= lr * wd * theta[j];
        else g += wd * theta[j];
        m[j] = b1 * m[j] + (1 - b1) * g;
        v[j] = b2 * v[j] + (1 - b2) * g * g;
        vmax[j] = Math.max(vmax[j], v[j]);
        const vhat = (o.amsgrad ? vmax[j] : v[j]) / (1 - b2 ** t);
        theta[j] -= (lr * (m[j] / (1 - b1 ** t))) / (Math.sqrt(vhat) + eps);
      });
    });
    return theta;
  });
}

/** torch.optim.SGD's documented rule in float64. */
function refSGD(p: Problem, o: Partial<SGDOptions> & { lr: number }): number[][] {
  const mu = o.momentum ?? 0, tau = o.dampening ?? 0, wd = o.weightDecay ?? 0;
  return p.init.map((init, i) => {
    const theta = [...init];
    let buf: number[] | null = null;
    for (const gs of p.grads) {
      let g = gs[i].map((x, j) => (o.maximize ? -x : x) + wd * theta[j]);
      if (mu !== 0) {
        buf = buf === null ? [...g] : buf.map((b, j) => mu * b + (1 - tau) * g[j]);
        g = o.nesterov ? g.map((x, j) => x + mu * buf![j]) : [...buf];
      }
      g.forEach((x, j) => { theta[j] -= o.lr * x; });
    }
    return theta;
  });
}

const TOL: Record<DType, { rtol: number; atol: number }> = {
  float64: { rtol: 1e-12, atol: 1e-12 },
  float32: { rtol: 2e-5, atol: 2e-5 },
  float16: { rtol: 1e-2, atol: 2e-2 },
  bfloat16: { rtol: 5e-2, atol: 1e-1 },
  int32: { rtol: 0, atol: 0 }, int64: { rtol: 0, atol: 0 }, bool: { rtol: 0, atol: 0 },
};
/**
 * Fused against composed: the same operations in the same order, rounded alike in float32 and
 * float64 (on the CPU bit for bit; on CUDA nvcc contracts products and sums into FMAs, which round
 * once where the composed kernels round twice).
 */
const AGREE: Record<DType, { rtol: number; atol: number }> = {
  ...TOL,
  float64: { rtol: 1e-12, atol: 1e-13 },
  float32: { rtol: 1e-5, atol: 1e-6 },
};

/** What "agree" means on a device: bit for bit on the CPU (g++ does not contract), AGREE on CUDA. */
const agree = (dev: Dev, dtype: DType) => (dev === 'cpu' && (dtype === 'float32' || dtype === 'float64') ? { rtol: 0, atol: 0 } : AGREE[dtype]);

const ADAM_CASES: Partial<AdamOptions>[] = [
  { lr: 1e-2 },
  { lr: 3e-2, betas: [0.8, 0.99], eps: 1e-6, weightDecay: 0.1 },
  { lr: 1e-2, amsgrad: true, weightDecay: 0.05 },
  { lr: 2e-2, maximize: true, amsgrad: true },
];
const SGD_CASES: (Partial<SGDOptions> & { lr: number })[] = [
  { lr: 0.05 },
  { lr: 0.05, momentum: 0.9 },
  { lr: 0.02, momentum: 0.8, dampening: 0.3, weightDecay: 0.01, maximize: true },
  { lr: 0.02, momentum: 0.9, nesterov: true, weightDecay: 1e-3 },
];
const STEPS = 25;

forEachDevice('fused Adam and AdamW', (dev) => {
  for (const dtype of ['float64', 'float32'] as const) {
    for (const [cls, decoupled] of [[Adam, false], [AdamW, true]] as const) {
      for (const c of ADAM_CASES) {
        it(`${cls.name} ${dtype} ${JSON.stringify(c)}: ${STEPS} steps, fused = composed = float64 reference`, () => {
          const p = problem(SHAPES, STEPS, dtype, 11);
          const fused = train(p, dtype, dev, (ps) => new cls(ps, { ...c, fused: true }), { strided: true });
          const composed = train(p, dtype, dev, (ps) => new cls(ps, { ...c, fused: false }), { strided: true });
          const ref = refAdam(p, c, decoupled);
          fused.ps.forEach((t, i) => {
            expectClose(t, composed.ps[i], { ...agree(dev, dtype), what: `param ${i} fused vs composed` });
            expectClose(values(t), ref[i], { ...TOL[dtype], what: `param ${i} vs reference` });
            for (const key of ['expAvg', 'expAvgSq', ...(c.amsgrad ? ['maxExpAvgSq'] : [])]) {
              expectClose(fused.opt.state.get(t)![key] as Tensor, composed.opt.state.get(composed.ps[i])![key] as Tensor, { ...agree(dev, dtype), what: `${key} of param ${i}` });
            }
            expect(fused.opt.state.get(t)!.step).toBe(STEPS);
          });
          expect(fused.ps[3].isContiguous).toBe(false);
          disposeAll(fused.ps, fused.opt);
          disposeAll(composed.ps, composed.opt);
        });
      }
    }
  }

  // The composed path stores every temporary in the parameter's dtype: in float16, eps = 1e-8
  // rounds to 0 and a second moment below float16's range to 0, so a tiny gradient divides by 0
  // (PyTorch's for-loop Adam does the same with float16 parameters). The fused kernel computes in
  // float32 and stores only the results: it is compared with the reference alone in float16.
  for (const dtype of ['float16', 'bfloat16'] as const) {
    it(`Adam and AdamW with ${dtype} parameters (moments in ${dtype}) follow the reference`, () => {
      const p = problem(SHAPES, 6, dtype, 5);
      for (const [cls, decoupled] of [[Adam, false], [AdamW, true]] as const) {
        const c = { lr: 1e-2, amsgrad: decoupled };
        const fused = train(p, dtype, dev, (ps) => new cls(ps, { ...c, fused: true }));
        const composed = train(p, dtype, dev, (ps) => new cls(ps, { ...c, fused: false }));
        const ref = refAdam(p, c, decoupled);
        fused.ps.forEach((t, i) => {
          expect(t.dtype).toBe(dtype);
          expect((fused.opt.state.get(t)!.expAvg as Tensor).dtype).toBe(dtype);
          expectClose(values(t), ref[i], { ...TOL[dtype], what: `fused param ${i}` });
          if (dtype === 'bfloat16') expectClose(values(composed.ps[i]), ref[i], { ...TOL[dtype], what: `composed param ${i}` });
        });
        disposeAll(fused.ps, fused.opt);
        disposeAll(composed.ps, composed.opt);
      }
    });
  }

  it('a parameter of 70001 elements (split across CPU threads, many GPU blocks): fused = composed', () => {
    const n = 70001;
    const init = Float32Array.from(randomValues(31, n, -2, 2));
    const grads = [0, 1, 2].map((k) => Float32Array.from(randomValues(40 + k, n, -3, 3)));
    const run = (make: (p: Tensor) => Optimizer<{ lr: number }>) => {
      const p = fromTypedArray(init.slice()).to(dev).requiresGrad_();
      const opt = make(p);
      for (const g of grads) {
        p.grad?.dispose();
        p.grad = fromTypedArray(g).to(dev);
        opt.step();
      }
      const out = values(p);
      disposeAll([p], opt);
      return out;
    };
    expectClose(run((p) => new AdamW([p], { lr: 0.01, amsgrad: true, fused: true })), run((p) => new AdamW([p], { lr: 0.01, amsgrad: true, fused: false })), agree(dev, 'float32'));
    expectClose(run((p) => new SGD([p], { lr: 0.01, momentum: 0.9, fused: true })), run((p) => new SGD([p], { lr: 0.01, momentum: 0.9, fused: false })), agree(dev, 'float32'));
  });

  it('follows an lr schedule, and a run may switch between the paths (one state format)', () => {
    const p = problem(SHAPES, 12, 'float64', 3);
    const lrAt = (k: number) => 0.05 * 0.5 ** Math.floor(k / 4);
    let sched: StepLR | null = null;
    const { ps, opt } = train(p, 'float64', dev, (ps) => new Adam(ps, { lr: 0.05, amsgrad: true }), {
      beforeStep: (k, o) => {
        if (k === 0) sched = new StepLR(o, { stepSize: 4, gamma: 0.5 });
        else sched!.step();
        (o.paramGroups[0] as unknown as { fused: boolean }).fused = k % 3 !== 2;   // every third step composed
      },
    });
    const ref = refAdam(p, { amsgrad: true }, false, lrAt);
    ps.forEach((t, i) => expectClose(values(t), ref[i], { ...TOL.float64, what: `param ${i}` }));
    disposeAll(ps, opt);
  });

  it('updates up to 5 parameters per launch (4 with AMSGrad), one dtype per launch', () => {
    const launches = (o: Partial<AdamOptions>, dtypes: DType[]) => {
      const ps = dtypes.map((d, i) => tensor(randomValues(i, 3), { dtype: d, device: dev }).requiresGrad_());
      for (const t of ps) t.grad = tensor([0.5, -1, 2], { dtype: t.dtype, device: dev });
      const opt = new Adam(ps, o);
      const prof = profile(() => opt.step());
      disposeAll(ps, opt);
      return prof.keyAverages().find((r) => r.name === 'adam_update')?.calls ?? 0;
    };
    expect(launches({}, new Array<DType>(12).fill('float32'))).toBe(3);
    expect(launches({ amsgrad: true }, new Array<DType>(12).fill('float32'))).toBe(3);
    expect(launches({ amsgrad: true }, new Array<DType>(13).fill('float32'))).toBe(4);
    expect(launches({}, ['float32', 'float64', 'float32', 'float64', 'float16'])).toBe(3);
    expect(launches({ fused: false }, ['float32'])).toBe(0);
  });

  it('checks every parameter before it launches: a bad one leaves parameters and state unchanged', () => {
    const a = tensor([1, 2, 3], { dtype: 'float32', device: dev }).requiresGrad_();
    const b = tensor([4, 5], { dtype: 'float32', device: dev }).requiresGrad_();
    const opt = new Adam([a, b], { lr: 0.1 });
    a.grad = tensor([1, 1, 1], { dtype: 'float32', device: dev });
    // a gradient of another shape, dtype or device is refused when assigned (as PyTorch does), before
    // any step could read it
    expectError(() => { b.grad = tensor([1, 1, 1], { dtype: 'float32', device: dev }); }, ShapeError, { op: 'grad', argument: 'grad', expected: "a gradient of the tensor's shape [2]", got: '[3]' });
    expectError(() => { b.grad = tensor([1, 1], { dtype: 'int32', device: dev }); }, DTypeError, { op: 'grad', argument: 'grad', expected: "a gradient of the tensor's dtype float32", got: 'int32' });
    expect(b.grad).toBeNull();
    expect(values(a)).toEqual([1, 2, 3]);
    expect(opt.state.get(a)).toBeUndefined();
    // an expanded (stride 0) parameter cannot be written in place, as with an in-place op
    const e = tensor([1], { dtype: 'float32', device: dev }).expand([3]).requiresGrad_();
    e.grad = tensor([1, 1, 1], { dtype: 'float32', device: dev });
    const sgd = new SGD([a, e], { lr: 0.1, momentum: 0.9 });
    expectError(() => sgd.step(), ValueError, { op: 'SGD (params[1])', argument: 'self', got: 'a view with stride 0 along dim 0 of size 3' });
    expect(values(a)).toEqual([1, 2, 3]);
    expect(sgd.state.get(a)).toEqual({});   // the momentum buffer made for this step went again
    if (dev === 'cuda') expect(() => { b.grad = tensor([1, 1], { dtype: 'float32' }); }).toThrow(DeviceError);
  });

  it('leaks nothing: allocated memory is flat across steps and back to the start when the state goes', () => {
    synchronize(dev);
    const start = memoryStats(dev).allocated;
    const p = problem([[300], [7], [0]], 6, 'float32', 9);
    const ps = p.init.map((v) => tensor(v, { dtype: 'float32', device: dev }).requiresGrad_());
    const grads = p.grads[0].map((g) => tensor(g, { dtype: 'float32', device: dev }));
    // a strided parameter needs stand-ins each step: they go too
    const base = tensor(randomValues(4, 14), { dtype: 'float32', device: dev });
    const wide = base.slice(0, 0, undefined, 2).requiresGrad_();
    wide.grad = tensor(randomValues(5, 7), { dtype: 'float32', device: dev });
    for (const o of [new Adam([...ps, wide], { amsgrad: true }), new SGD([...ps, wide], { lr: 0.1, momentum: 0.9 })]) {
      ps.forEach((t, i) => { t.grad = grads[i]!; });
      o.step();
      synchronize(dev);
      const afterFirst = memoryStats(dev).allocated;
      for (let k = 0; k < 5; k++) o.step();
      synchronize(dev);
      expect(memoryStats(dev).allocated).toBe(afterFirst);
      o.disposeState();
    }
    for (const t of [...ps, wide, base]) t.dispose();
    for (const g of [...grads, wide.grad]) g.dispose();
    synchronize(dev);
    expect(memoryStats(dev).allocated).toBe(start);
  });
});

forEachDevice('fused SGD', (dev) => {
  for (const dtype of ['float64', 'float32'] as const) {
    for (const c of SGD_CASES) {
      it(`SGD ${dtype} ${JSON.stringify(c)}: ${STEPS} steps, fused = composed = float64 reference`, () => {
        const p = problem(SHAPES, STEPS, dtype, 21);
        const fused = train(p, dtype, dev, (ps) => new SGD(ps, { ...c, fused: true }), { strided: true });
        const composed = train(p, dtype, dev, (ps) => new SGD(ps, { ...c, fused: false }), { strided: true });
        const ref = refSGD(p, c);
        fused.ps.forEach((t, i) => {
          expectClose(t, composed.ps[i], { ...agree(dev, dtype), what: `param ${i} fused vs composed` });
          expectClose(values(t), ref[i], { ...TOL[dtype], what: `param ${i} vs reference` });
          if (c.momentum) expectClose(fused.opt.state.get(t)!.momentumBuffer as Tensor, composed.opt.state.get(composed.ps[i])!.momentumBuffer as Tensor, { ...agree(dev, dtype), what: `buffer of param ${i}` });
        });
        disposeAll(fused.ps, fused.opt);
        disposeAll(composed.ps, composed.opt);
      });
    }
  }

  it('with float16 parameters follows the reference', () => {
    const p = problem(SHAPES, 6, 'float16', 2);
    const c = { lr: 0.02, momentum: 0.9, nesterov: true };
    const { ps, opt } = train(p, 'float16', dev, (ps) => new SGD(ps, c));
    const ref = refSGD(p, c);
    ps.forEach((t, i) => expectClose(values(t), ref[i], { ...TOL.float16, what: `param ${i}` }));
    disposeAll(ps, opt);
  });

  it('sends 16 parameters per launch without momentum, 8 with', () => {
    const count = (o: Partial<SGDOptions>) => {
      const ps = Array.from({ length: 17 }, (_, i) => tensor([i, 1], { dtype: 'float32', device: dev }).requiresGrad_());
      for (const t of ps) t.grad = tensor([1, 1], { dtype: 'float32', device: dev });
      const opt = new SGD(ps, { lr: 0.1, ...o });
      const prof = profile(() => opt.step());
      disposeAll(ps, opt);
      return prof.keyAverages().find((r) => r.name === 'sgd_update')!.calls;
    };
    expect(count({})).toBe(2);
    expect(count({ momentum: 0.9 })).toBe(3);
  });
});
