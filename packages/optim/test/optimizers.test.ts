// Optimizers against PyTorch's documented update rules, computed here in float64 from the
// formulas (https://pytorch.org/docs/stable/generated/torch.optim.SGD.html, .Adam.html,
// .AdamW.html), on every device; gradient clipping; training a small model with autograd.
import { describe, expect, it } from 'vitest';
import { type DType, type Tensor, DisposedError, ValueError, device as toDevice, matmul, sum, tensor } from '@kiln/tensor';
import { gradcheck } from '@kiln/autograd';
import { Adam, AdamW, SGD, clipGradNorm_ } from '@kiln/optim';
import { expectClose, forEachDevice, randomValues, toNumbers, expectError } from '@kiln/tensor/testing';

type Dev = 'cpu' | 'cuda';
const values = (t: Tensor): number[] => toNumbers(t.toTypedArray());

const THETA0 = [0.5, -1.25, 2, 0.1, -0.3, 0.75];
/** Gradients for four steps, fixed so that every branch of the rules matters. */
const GRADS = [0, 1, 2, 3].map((k) => randomValues(100 + k, THETA0.length, -2, 2));

interface SGDCase { lr: number; momentum?: number; dampening?: number; weightDecay?: number; nesterov?: boolean; maximize?: boolean }

/**
 * torch.optim.SGD, as documented:
 *   g ← −g if maximize;  g ← g + λθ;
 *   if μ ≠ 0: b ← g (t = 1) else μb + (1 − τ)g;  g ← g + μb if nesterov else b
 *   θ ← θ − γ g
 */
function refSGD(c: SGDCase): number[] {
  const theta = [...THETA0];
  let buf: number[] | null = null;
  const mu = c.momentum ?? 0, tau = c.dampening ?? 0, wd = c.weightDecay ?? 0;
  for (const grad of GRADS) {
    let g = grad.map((x, i) => (c.maximize ? -x : x) + wd * theta[i]);
    if (mu !== 0) {
      buf = buf === null ? [...g] : buf.map((b, i) => mu * b + (1 - tau) * g[i]);
      g = c.nesterov ? g.map((x, i) => x + mu * buf![i]) : [...buf];
    }
    g.forEach((x, i) => { theta[i] -= c.lr * x; });
  }
  return theta;
}

interface AdamCase { lr: number; betas?: [number, number]; eps?: number; weightDecay?: number; amsgrad?: boolean; maximize?: boolean }

/**
 * torch.optim.Adam / AdamW, as documented (t from 1):
 *   g ← −g if maximize
 *   AdamW: θ ← θ − γλθ;   Adam: g ← g + λθ
 *   m ← β1 m + (1 − β1) g;   v ← β2 v + (1 − β2) g²
 *   m̂ = m / (1 − β1^t);   v̂ = v / (1 − β2^t)   (amsgrad: v̂max ← max(v̂max, v̂), used for v̂)
 *   θ ← θ − γ m̂ / (sqrt(v̂) + ε)
 */
function refAdam(c: AdamCase, decoupled: boolean): number[] {
  const theta = [...THETA0];
  const [b1, b2] = c.betas ?? [0.9, 0.999];
  const eps = c.eps ?? 1e-8, wd = c.weightDecay ?? (decoupled ? 1e-2 : 0);
  const m = THETA0.map(() => 0), v = THETA0.map(() => 0), vmax = THETA0.map(() => 0);
  GRADS.forEach((grad, k) => {
    const t = k + 1;
    for (let i = 0; i < theta.length; i++) {
      let g = c.maximize ? -grad[i] : grad[i];
      if (decoupled) theta[i] -= c.lr * wd * theta[i];
      else g += wd * theta[i];
      m[i] = b1 * m[i] + (1 - b1) * g;
      v[i] = b2 * v[i] + (1 - b2) * g * g;
      const mhat = m[i] / (1 - b1 ** t);
      let vhat = v[i] / (1 - b2 ** t);
      if (c.amsgrad) {
        vmax[i] = Math.max(vmax[i], v[i]);
        vhat = vmax[i] / (1 - b2 ** t);
      }
      theta[i] -= (c.lr * mhat) / (Math.sqrt(vhat) + eps);
    }
  });
  return theta;
}

/** Runs the optimizer over GRADS on one parameter; returns the parameter's final values. */
function run(dev: Dev, dtype: DType, make: (p: Tensor) => { step(): void }): number[] {
  const p = tensor(THETA0, { dtype, device: dev }).requiresGrad_();
  const opt = make(p);
  for (const g of GRADS) {
    p.grad = tensor(g, { dtype, device: dev });
    opt.step();
  }
  expect(p.device).toBe(toDevice(dev));
  return values(p);
}

const sgdCases: SGDCase[] = [
  { lr: 0.1 },
  { lr: 0.05, momentum: 0.9 },
  { lr: 0.05, momentum: 0.8, dampening: 0.3, weightDecay: 0.01 },
  { lr: 0.02, momentum: 0.9, nesterov: true, weightDecay: 1e-3 },
  { lr: 0.1, momentum: 0.5, maximize: true },
];
const adamCases: AdamCase[] = [
  { lr: 1e-2 },
  { lr: 5e-2, betas: [0.8, 0.99], eps: 1e-6 },
  { lr: 1e-2, weightDecay: 0.1 },
  { lr: 1e-2, amsgrad: true, weightDecay: 0.05 },
  { lr: 1e-2, maximize: true },
];

forEachDevice('SGD', (dev) => {
  for (const c of sgdCases) {
    for (const fused of [true, false]) {
      it(`follows the documented rule: ${JSON.stringify(c)}, fused: ${fused}`, () => {
        expectClose(run(dev, 'float64', (p) => new SGD([p], { ...c, fused })), refSGD(c), { rtol: 1e-12, atol: 1e-12 });
        expectClose(run(dev, 'float32', (p) => new SGD([p], { ...c, fused })), refSGD(c), { rtol: 1e-5, atol: 1e-6 });
      });
    }
  }

  it('parameter groups take their own hyper-parameters; parameters without grad are skipped', () => {
    const a = tensor([1, 2], { dtype: 'float64', device: dev }).requiresGrad_();
    const b = tensor([1, 2], { dtype: 'float64', device: dev }).requiresGrad_();
    const c = tensor([5], { dtype: 'float64', device: dev }).requiresGrad_();
    const opt = new SGD([{ params: [a] }, { params: [b, c], lr: 1 }], { lr: 0.1 });
    a.grad = tensor([1, 1], { dtype: 'float64', device: dev });
    b.grad = tensor([1, 1], { dtype: 'float64', device: dev });
    opt.step();
    expect(values(a)).toEqual([0.9, 1.9]);
    expect(values(b)).toEqual([0, 1]);
    expect(values(c)).toEqual([5]);
    expect(opt.paramGroups.map((g) => [g.lr, g.momentum])).toEqual([[0.1, 0], [1, 0]]);
    opt.zeroGrad();
    expect(a.grad).toBeNull();
  });

  it('rejects bad hyper-parameters and parameters', () => {
    const p = tensor([1], { dtype: 'float32', device: dev }).requiresGrad_();
    expectError(() => new SGD([p], { lr: -1 }), ValueError, { op: 'SGD', argument: 'lr', expected: 'a finite number >= 0', got: '-1' });
    expectError(() => new SGD([p], { lr: 0.1, momentum: -0.5 }), ValueError, { op: 'SGD', argument: 'momentum', expected: 'a finite number >= 0', got: '-0.5' });
    expectError(() => new SGD([p], { lr: 0.1, nesterov: true }), ValueError, { op: 'SGD', argument: 'nesterov', expected: 'momentum > 0 and dampening 0 with Nesterov momentum', got: 'momentum 0, dampening 0' });
    expectError(() => new SGD([p.mul(2)], { lr: 0.1 }), ValueError, { op: 'SGD', argument: 'params[0]', expected: 'a leaf tensor (a parameter, not the result of an op)', got: 'a non-leaf tensor' });
    expectError(() => new SGD([{ params: [p] }, { params: [p] }], { lr: 0.1 }), ValueError, { op: 'SGD', argument: 'params[0]', expected: 'a parameter in only one group', got: 'a parameter that appears twice' });
    expectError(() => new SGD([], { lr: 0.1 }), ValueError, { op: 'SGD', argument: 'params', expected: 'a non-empty list of parameters or parameter groups', got: 'an empty list' });
    // a single tensor, or a group whose params is one, is not a list (spreading it was a TypeError)
    expectError(() => new SGD(p as never, { lr: 0.1 }), ValueError, { op: 'SGD', argument: 'params', expected: 'an iterable of tensors (an array, a generator, module.parameters())' });
    expectError(() => new SGD([{ params: p as never }], { lr: 0.1 }), ValueError, { op: 'SGD', argument: 'params' });
    expectError(() => new SGD([p], { lr: 0.1, maximize: 'no' as unknown as boolean }), ValueError, { op: 'SGD', argument: 'maximize', expected: 'true or false', got: 'no' });
    // a misspelt hyper-parameter was stored in the group and ignored (no momentum)
    expectError(() => new SGD([p], { lr: 0.1, momentun: 0.9 } as never), ValueError, { op: 'SGD', argument: 'options', expected: 'only the options lr, momentum, dampening, weightDecay, nesterov, maximize, fused', got: '"momentun"' });
    // a group's own keys stay allowed, as PyTorch's param groups
    expect(new SGD([{ params: [p], name: 'head' } as never], { lr: 0.1 }).paramGroups[0]).toHaveProperty('name', 'head');
  });

  it('takes frozen parameters (requiresGrad false), as PyTorch, and leaves them unchanged', () => {
    const frozen = tensor([1, 2], { dtype: 'float32', device: dev });
    const trained = tensor([3], { dtype: 'float32', device: dev }).requiresGrad_();
    const opt = new SGD([frozen, trained], { lr: 0.5 });
    trained.grad = tensor([1], { dtype: 'float32', device: dev });
    opt.step();
    expect([values(frozen), values(trained)]).toEqual([[1, 2], [2.5]]);
  });

  it('refuses to step over a disposed parameter (Module.to() replaces them) instead of skipping it', () => {
    const kept = tensor([1], { dtype: 'float32', device: dev }).requiresGrad_();
    const gone = tensor([2], { dtype: 'float32', device: dev }).requiresGrad_();
    const opt = new SGD([kept, gone], { lr: 0.1 });
    kept.grad = tensor([1], { dtype: 'float32', device: dev });
    gone.dispose();
    expectError(() => opt.step(), DisposedError, { op: 'SGD.step' });
    expect(() => opt.step()).toThrow(/params\[1\] was disposed.*create the optimizer after moving the model/);
  });
});

forEachDevice('Adam and AdamW', (dev) => {
  for (const c of adamCases) {
    for (const fused of [true, false]) {
      it(`Adam follows the documented rule: ${JSON.stringify(c)}, fused: ${fused}`, () => {
        expectClose(run(dev, 'float64', (p) => new Adam([p], { ...c, fused })), refAdam(c, false), { rtol: 1e-12, atol: 1e-12 });
        expectClose(run(dev, 'float32', (p) => new Adam([p], { ...c, fused })), refAdam(c, false), { rtol: 1e-5, atol: 1e-6 });
      });
      it(`AdamW follows the documented rule: ${JSON.stringify(c)}, fused: ${fused}`, () => {
        expectClose(run(dev, 'float64', (p) => new AdamW([p], { ...c, fused })), refAdam(c, true), { rtol: 1e-12, atol: 1e-12 });
        expectClose(run(dev, 'float32', (p) => new AdamW([p], { ...c, fused })), refAdam(c, true), { rtol: 1e-5, atol: 1e-6 });
      });
    }
  }

  it('keeps its moments in the state and counts steps per parameter', () => {
    const p = tensor([1, 2], { dtype: 'float32', device: dev }).requiresGrad_();
    const opt = new Adam([p], { amsgrad: true });
    p.grad = tensor([0.5, -0.5], { dtype: 'float32', device: dev });
    opt.step();
    opt.step();
    const s = opt.state.get(p)!;
    expect(s.step).toBe(2);
    expect(Object.keys(s).sort()).toEqual(['expAvg', 'expAvgSq', 'maxExpAvgSq', 'step']);
    expect((s.expAvg as Tensor).isDisposed).toBe(false);
    expect((s.expAvg as Tensor).device).toBe(toDevice(dev));
  });

  it('rejects bad hyper-parameters', () => {
    const p = tensor([1], { dtype: 'float32', device: dev }).requiresGrad_();
    expectError(() => new Adam([p], { betas: [1, 0.999] }), ValueError, { op: 'Adam', argument: 'betas[0]', expected: 'a number in [0, 1)', got: '1' });
    expectError(() => new AdamW([p], { eps: -1 }), ValueError, { op: 'AdamW', argument: 'eps', expected: 'a finite number >= 0', got: '-1' });
    expectError(() => new Adam([p], { fused: 1 as unknown as boolean }), ValueError, { op: 'Adam', argument: 'fused', expected: 'true or false', got: '1' });
    expectError(() => new Adam([p], { amsgrad: 'yes' as unknown as boolean }), ValueError, { op: 'Adam', argument: 'amsgrad', expected: 'true or false', got: 'yes' });
    expectError(() => new AdamW([p], { weight_decay: 0.1 } as never), ValueError, { op: 'AdamW', argument: 'options', got: '"weight_decay"' });
    expectError(() => new SGD([p], { lr: 0.1, fused: 'yes' as unknown as boolean }), ValueError, { op: 'SGD', argument: 'fused', expected: 'true or false', got: 'yes' });
  });
});

forEachDevice('clipGradNorm_', (dev) => {
  const setup = (): Tensor[] => {
    const a = tensor([1, 2], { dtype: 'float64', device: dev }).requiresGrad_();
    const b = tensor([[1, 1], [1, 1]], { dtype: 'float64', device: dev }).requiresGrad_();
    const c = tensor([0], { dtype: 'float64', device: dev }).requiresGrad_();     // no grad: ignored
    a.grad = tensor([3, -4], { dtype: 'float64', device: dev });
    b.grad = tensor([[0, 12], [0, 0]], { dtype: 'float64', device: dev });
    return [a, b, c];
  };

  it('scales all gradients by maxNorm / total norm (2-norm, 1-norm, inf-norm)', () => {
    for (const [p, total] of [[2, 13], [1, 19], [Infinity, 12]] as const) {
      const params = setup();
      const norm = clipGradNorm_(params, 6.5, p);
      expect(norm.item()).toBeCloseTo(total, 12);
      const k = 6.5 / (total + 1e-6);
      expectClose(params[0].grad!, [3 * k, -4 * k], { rtol: 1e-12, atol: 1e-12 });
      expectClose(params[1].grad!, [0, 12 * k, 0, 0], { rtol: 1e-12, atol: 1e-12 });
    }
  });

  it('leaves gradients under the limit unchanged; non-finite norms error on request', () => {
    const params = setup();
    expect(clipGradNorm_(params, 100).item()).toBeCloseTo(13, 12);
    expect(values(params[0].grad!)).toEqual([3, -4]);
    params[0].grad = tensor([NaN, 1], { dtype: 'float64', device: dev });
    expectError(() => clipGradNorm_(params, 1, 2, { errorIfNonfinite: true }), ValueError, { op: 'clipGradNorm_', argument: 'params', expected: 'gradients with a finite total 2-norm', got: 'NaN' });
    expectError(() => clipGradNorm_(params, -1), ValueError, { op: 'clipGradNorm_', argument: 'maxNorm', expected: 'a number >= 0', got: '-1' });
    expectError(() => clipGradNorm_(params, 1, 2, { error_if_nonfinite: true } as never), ValueError, { op: 'clipGradNorm_', argument: 'options', got: '"error_if_nonfinite"' });
    expectError(() => clipGradNorm_(params[0] as never, 1), ValueError, { op: 'clipGradNorm_', argument: 'params', expected: 'an iterable of tensors (an array, a generator, module.parameters())' });
  });
});

forEachDevice('training with autograd gradients', (dev) => {
  // least squares: minimise |A w - y|^2 / n, whose gradient autograd computes (checked by gradcheck)
  const n = 16, d = 3;
  const aVals = randomValues(7, n * d);
  const wTrue = [0.5, -1, 2];
  const yVals = Array.from({ length: n }, (_, i) => wTrue.reduce((s, w, j) => s + w * aVals[i * d + j], 0));
  const loss = (w: Tensor): Tensor => {
    const A = tensor(aVals, { dtype: 'float64', device: dev }).reshape([n, d]);
    const y = tensor(yVals, { dtype: 'float64', device: dev }).reshape([n, 1]);
    const r = matmul(A, w).sub(y);
    return sum(r.mul(r)).div(n);
  };

  it('the objective passes gradcheck', () => {
    const w = tensor([0.1, 0.2, 0.3], { dtype: 'float64', device: dev }).reshape([d, 1]).requiresGrad_();
    expect(gradcheck(loss, [w])).toBe(true);
  });

  for (const [name, make, iters] of [
    ['SGD with Nesterov momentum', (w: Tensor) => new SGD([w], { lr: 0.1, momentum: 0.9, nesterov: true }), 200],
    ['Adam', (w: Tensor) => new Adam([w], { lr: 0.05 }), 600],
    ['AdamW without decay', (w: Tensor) => new AdamW([w], { lr: 0.05, weightDecay: 0 }), 600],
  ] as const) {
    it(`${name} recovers the least-squares solution`, () => {
      const w = tensor([0, 0, 0], { dtype: 'float64', device: dev }).reshape([d, 1]).requiresGrad_();
      const opt = make(w);
      for (let i = 0; i < iters; i++) {
        opt.zeroGrad();
        loss(w).backward();
        opt.step();
      }
      expectClose(w, wTrue, { rtol: 1e-3, atol: 1e-3 });
    });
  }
});

describe('optimizer state across steps', () => {
  it('momentum buffers survive the step scope (no disposed tensors)', () => {
    const p = tensor([1, 2, 3], { dtype: 'float32' }).requiresGrad_();
    const opt = new SGD([p], { lr: 0.1, momentum: 0.9 });
    for (let i = 0; i < 3; i++) {
      p.grad = tensor([1, 1, 1], { dtype: 'float32' });
      opt.step();
    }
    expect((opt.state.get(p)!.momentumBuffer as Tensor).isDisposed).toBe(false);
    // b: 1, 1.9, 2.71 -> p = 1 - 0.1 (1 + 1.9 + 2.71)
    expectClose(p, [1 - 0.561, 2 - 0.561, 3 - 0.561], { rtol: 1e-6, atol: 1e-6 });
  });
});
