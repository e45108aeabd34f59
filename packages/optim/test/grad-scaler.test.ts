// GradScaler and its native kernel, on every device. The kernel: every gradient times 1 / scale
// against a float64 reference, the flag raised by inf, -inf and NaN anywhere (first, last, middle
// element; any gradient of a launch; a later launch) and never cleared, edge sizes, strided
// gradients, more gradients than one launch holds, mixed dtypes, bad arguments. The scaler: skipped
// steps, the growth / backoff schedule, equality with an unscaled run when nothing overflows (the
// fused and composed optimizers, with clipping after unscale_), the state dict round trip, misuse,
// and a small conv + linear model trained under autocast with float16 loss scaling.
import { expect, it } from 'vitest';
import {
  type DType, type Tensor, DTypeError, DeviceError, ValueError, autocast, conv2d, linear, memoryStats, tensor, tidy, zeros,
} from '@kiln/tensor';
import { zeroGrad } from '@kiln/autograd';
import { Adam, GradientAccumulator, type GradScalerStateDict, type Optimizer, SGD, GradScaler, ampNonFiniteCheckAndUnscale_, clipGradNorm_, type LearningRate } from '@kiln/optim';
import { expectClose, expectError, forEachDevice, randomValues, settledAllocated, toNumbers, settleMemoryBeforeEach } from '@kiln/tensor/testing';

settleMemoryBeforeEach();

const numel = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);
const values = (t: Tensor): number[] => toNumbers(t.toTypedArray());

forEachDevice('GradScaler', (dev) => {
  const rand = (seed: number, shape: number[], dtype: DType = 'float32'): Tensor =>
    tensor(randomValues(seed, numel(shape), -4, 4), { dtype, device: dev }).reshape(shape);
  const flag = (): Tensor => zeros([1], { dtype: 'float32', device: dev });

  it('the kernel unscales every gradient (float64 reference), edge sizes, strided views and more than one launch', () => {
    for (const dtype of ['float32', 'float64', 'float16', 'bfloat16'] as const) {
      const shapes = [[0], [1], [7], [3, 5], [40000], ...Array.from({ length: 16 }, (_, i) => [i + 2])];
      // magnitudes in [0.5, 4], either sign: divided by 64 they stay normal numbers in float16
      const normal = (seed: number, shape: number[]): Tensor =>
        tensor(randomValues(seed, numel(shape), 0.5, 4).map((v, i) => (i % 3 === 1 ? -v : v)), { dtype, device: dev }).reshape(shape);
      const grads = shapes.map((s, i) => normal(100 + i, s));
      const strided = normal(99, [6, 8]).t();                      // a transposed view
      grads.push(strided);
      const before = grads.map((g) => values(g.contiguous()));
      const f = flag();
      ampNonFiniteCheckAndUnscale_(grads, f, 1 / 64);
      expect(f.item()).toBe(0);
      grads.forEach((g, i) => {
        const ref = before[i].map((v) => v / 64);
        // a power of two: exact in every dtype
        expectClose(g.contiguous(), ref, { rtol: 0, atol: 0, what: `${dtype} gradient ${i}` });
      });
      expect(strided.isContiguous).toBe(false);
    }
    // a scale that is not a power of two rounds once, in the compute type
    const g = rand(7, [33]);
    const v = values(g);
    ampNonFiniteCheckAndUnscale_([g], flag(), 1 / 3);
    expectClose(g, v.map((x) => x / 3), { rtol: 1e-6, atol: 1e-7 });
  });

  it('the kernel raises the flag for inf, -inf and NaN anywhere, and never clears it', () => {
    for (const bad of [Infinity, -Infinity, NaN]) {
      for (const [where, at] of [['first', 0], ['middle', 20000], ['last', 39999]] as const) {
        for (const dtype of ['float32', 'float16', 'bfloat16', 'float64'] as const) {
          const grads = Array.from({ length: 20 }, (_, i) => rand(200 + i, [i === 17 ? 40000 : 5], dtype));
          const vals = values(grads[17]);
          vals[at] = bad;
          grads[17] = tensor(vals, { dtype, device: dev });       // in the second launch
          const f = flag();
          ampNonFiniteCheckAndUnscale_(grads, f, 0.5);
          expect(f.item(), `${bad} ${where} ${dtype}`).toBe(1);
          expect(values(grads[17])[at], 'a non-finite element is left non-finite').not.toSatisfy(Number.isFinite);
        }
      }
    }
    const f = flag();
    const bad = tensor([1, NaN], { device: dev });
    ampNonFiniteCheckAndUnscale_([bad], f, 1);
    ampNonFiniteCheckAndUnscale_([rand(3, [4])], f, 1);
    expect(f.item()).toBe(1);
  });

  it('the kernel rejects bad arguments with typed errors, before changing anything', () => {
    const g = rand(1, [4]);
    const v = values(g);
    expectError(() => ampNonFiniteCheckAndUnscale_([g], zeros([2], { device: dev }), 0.5), DTypeError, { argument: 'foundInf' });
    expectError(() => ampNonFiniteCheckAndUnscale_([g], zeros([1], { dtype: 'float64', device: dev }), 0.5), DTypeError, { argument: 'foundInf' });
    expectError(() => ampNonFiniteCheckAndUnscale_([g, tensor([1, 2], { dtype: 'int32', device: dev })], flag(), 0.5), DTypeError, { argument: 'grads[1]' });
    expectError(() => ampNonFiniteCheckAndUnscale_([g], flag(), Infinity), ValueError, { argument: 'invScale' });
    if (dev === 'cuda') expectError(() => ampNonFiniteCheckAndUnscale_([tensor([1])], flag(), 0.5), DeviceError, { argument: 'grads[0]' });
    expect(values(g)).toEqual(v);
  });

  /** A small least-squares problem: params, and a step that computes the loss's gradients. */
  function problem(seed: number) {
    const w = rand(seed, [6, 4]).mul(0.25).requiresGrad_(), b = rand(seed + 1, [6]).mul(0.25).requiresGrad_();
    const x = rand(seed + 2, [8, 4]), y = rand(seed + 3, [8, 6]);
    const loss = (): Tensor => {
      const d = linear(x, w, b).sub(y);
      return d.mul(d).mean();
    };
    const backward = (scale: (l: Tensor) => Tensor) => tidy(() => { scale(loss()).backward(); });
    return { params: [w, b], loss, backward };
  }

  const optimizers: [string, (ps: Tensor[]) => Optimizer<LearningRate>][] = [
    ['SGD, fused', (ps) => new SGD(ps, { lr: 0.05, momentum: 0.9 })],
    ['SGD, composed', (ps) => new SGD(ps, { lr: 0.05, momentum: 0.9, fused: false })],
    ['Adam, fused', (ps) => new Adam(ps, { lr: 0.01 })],
    ['Adam, composed', (ps) => new Adam(ps, { lr: 0.01, fused: false })],
  ];
  for (const [name, make] of optimizers) {
    it(`equals an unscaled run when nothing overflows, with clipping after unscale_ (${name})`, () => {
      const a = problem(10), b = problem(10);
      const oa = make(a.params), ob = make(b.params);
      const scaler = new GradScaler({ initScale: 2 ** 10, growthInterval: 2 });
      for (let i = 0; i < 5; i++) {
        a.backward((l) => l);
        clipGradNorm_(a.params, 0.5);
        oa.step();
        zeroGrad(a.params);
        b.backward((l) => scaler.scale(l));
        scaler.unscale_(ob);
        clipGradNorm_(b.params, 0.5);
        expect(scaler.step(ob)).toBe(true);
        scaler.update();
        zeroGrad(b.params);
      }
      // scales are powers of two: the unscaled gradients are the same bits
      a.params.forEach((p, i) => expect(values(b.params[i])).toEqual(values(p)));
      expect(scaler.getScale()).toBe(2 ** 12);
    });
  }

  it('skips the step on inf/NaN gradients, backs off, and grows after growthInterval clean steps', () => {
    const { params, backward } = problem(20);
    const opt = new SGD(params, { lr: 0.1 });
    const scaler = new GradScaler({ initScale: 8, growthFactor: 4, backoffFactor: 0.25, growthInterval: 3 });
    const scales: number[] = [], stepped: boolean[] = [];
    const plan = ['ok', 'inf', 'ok', 'nan', 'ok', 'ok', 'ok', 'ok', 'ok'];
    for (const kind of plan) {
      backward((l) => scaler.scale(l));
      if (kind !== 'ok') params[0].grad!.narrow(0, 2, 1).fill_(kind === 'inf' ? Infinity : NaN);
      const before = params.map(values);
      const did = scaler.step(opt);
      stepped.push(did);
      if (!did) params.forEach((p, i) => expect(values(p), 'a skipped step changes nothing').toEqual(before[i]));
      scaler.update();
      scales.push(scaler.getScale());
      zeroGrad(params);
    }
    expect(stepped).toEqual(plan.map((k) => k === 'ok'));
    // 8: ok (1 of 3) -> inf: 2 -> ok -> nan: 0.5 -> ok, ok, ok (3rd: x4 = 2) -> ok, ok
    expect(scales).toEqual([8, 2, 2, 0.5, 0.5, 0.5, 2, 2, 2]);
    expect(scaler.stateDict()).toEqual({ scale: 2, growthFactor: 4, backoffFactor: 0.25, growthInterval: 3, growthTracker: 2 });
  });

  it('joins GradientAccumulator: the same weights as accumulating without a scaler', () => {
    const a = problem(60), b = problem(60);
    const accA = new GradientAccumulator(new SGD(a.params, { lr: 0.1, momentum: 0.9 }), { steps: 2, clipGradNorm: 0.5 });
    const scaler = new GradScaler({ initScale: 2 ** 8 });
    const accB = new GradientAccumulator(new SGD(b.params, { lr: 0.1, momentum: 0.9 }), { steps: 2, clipGradNorm: 0.5, scaler });
    const init = b.params.map(values);
    for (let i = 0; i < 6; i++) {
      tidy(() => accA.backward(a.loss()));
      tidy(() => accB.backward(b.loss()));
    }
    a.params.forEach((p, i) => expect(values(b.params[i])).toEqual(values(p)));
    b.params.forEach((p, i) => expect(values(p), 'three steps were taken').not.toEqual(init[i]));
    expect(scaler.getScale()).toBe(2 ** 8);
  });

  it('round-trips its state dict; a disabled scaler passes through', () => {
    const a = new GradScaler({ initScale: 64, growthInterval: 5 });
    const { params, backward } = problem(30);
    const opt = new SGD(params, { lr: 0.1 });
    for (let i = 0; i < 3; i++) {
      backward((l) => a.scale(l));
      a.step(opt);
      a.update();
      zeroGrad(params);
    }
    const sd = a.stateDict();
    const b = new GradScaler();
    b.loadStateDict(JSON.parse(JSON.stringify(sd)) as GradScalerStateDict);
    expect(b.stateDict()).toEqual(sd);
    expect(b.getScale()).toBe(64);
    expectError(() => b.loadStateDict({ ...(sd as object), growthTracker: 7 } as never), ValueError, { argument: 'stateDict.growthTracker' });
    expectError(() => b.loadStateDict({} as never), ValueError, { argument: 'stateDict' });
    const off = new GradScaler({ enabled: false });
    const l = tensor([3], { device: dev });
    expect(off.scale(l)).toBe(l);
    expect(off.getScale()).toBe(1);
    expect(off.stateDict()).toEqual({});
  });

  it('rejects misuse: unscale_ twice, step twice, update with no inf check, bad options', () => {
    const { params, backward } = problem(40);
    const opt: Optimizer<LearningRate> = new SGD(params, { lr: 0.1 });
    const s = new GradScaler();
    expectError(() => s.update(), ValueError, { op: 'GradScaler.update' });
    backward((l) => s.scale(l));
    s.unscale_(opt);
    expectError(() => s.unscale_(opt), ValueError, { op: 'GradScaler.unscale_', argument: 'optimizer' });
    s.step(opt);
    expectError(() => s.step(opt), ValueError, { op: 'GradScaler.step', argument: 'optimizer' });
    s.update();
    zeroGrad(params);
    expectError(() => s.step(opt), ValueError, { op: 'GradScaler.step', argument: 'optimizer', got: 'no parameter with a gradient' });
    s.update();
    expectError(() => new GradScaler({ initScale: 0 }), ValueError, { argument: 'initScale' });
    expectError(() => new GradScaler({ growthFactor: 1 }), ValueError, { argument: 'growthFactor' });
    expectError(() => new GradScaler({ backoffFactor: 1 }), ValueError, { argument: 'backoffFactor' });
    expectError(() => new GradScaler({ growthInterval: 1.5 }), ValueError, { argument: 'growthInterval' });
    // PyTorch's spelling was ignored: the scale stayed 2^16
    expectError(() => new GradScaler({ init_scale: 1024 } as never), ValueError, { op: 'GradScaler', argument: 'options', got: '"init_scale"' });
    // a wrong argument failed deep inside with a TypeError
    expectError(() => new GradScaler().scale(2 as never), ValueError, { op: 'GradScaler.scale', argument: 'loss', expected: 'a Tensor', got: '2' });
    expectError(() => new GradScaler().unscale_({} as never), ValueError, { op: 'GradScaler.unscale_', argument: 'optimizer', expected: 'an optimizer' });
    expectError(() => new GradScaler({ enabled: false }).step(params as never), ValueError, { op: 'GradScaler.step', argument: 'optimizer' });
  });

  it('scales a half loss in float32 (a float16 loss times 2^16 would overflow)', () => {
    const s = new GradScaler();
    const l = tensor([2000], { dtype: 'float16', device: dev });
    const scaled = s.scale(l);
    expect(scaled.dtype).toBe('float32');
    expect(scaled.item()).toBe(2000 * 2 ** 16);
  });

  it('trains a small conv + linear model under autocast (float16) with loss scaling, leaving no memory behind', async () => {
    const p = (seed: number, shape: number[], k: number) => rand(seed, shape).mul(k).requiresGrad_();
    const cw = p(51, [8, 3, 3, 3], 0.1), cb = p(52, [8], 0.1), lw = p(53, [2, 8 * 4 * 4], 0.02), lb = p(54, [2], 0.1);
    const params = [cw, cb, lw, lb];
    const x = rand(55, [16, 3, 8, 8]);
    // targets: the mean of channel 0 and of channel 1's top half, a smooth function of the input
    const target = tidy(() => x.narrow(1, 0, 2).mean([2, 3]));
    const opt = new Adam(params, { lr: 0.01 });
    const scaler = new GradScaler({ growthInterval: 10 });
    const step = (): number => tidy(() => {
      const loss = autocast({ deviceType: dev, dtype: 'float16' }, () => {
        const h = conv2d(x, cw, cb, { stride: 2, padding: 1 }).relu();
        expect(h.dtype).toBe('float16');
        const out = linear(h.reshape([16, 128]), lw, lb);
        const d = out.sub(target);
        return d.mul(d).mean();
      });
      expect(loss.dtype).toBe('float32');
      scaler.scale(loss).backward();
      for (const q of params) expect(q.grad!.dtype).toBe('float32');
      stepped.push(scaler.step(opt));
      scaler.update();
      zeroGrad(params);
      return loss.item();
    });
    const stepped: boolean[] = [];
    const first = step();
    // Adam's state appears at the first step taken (2^16 may overflow the first float16 gradients)
    while (!stepped.includes(true)) step();
    const start = await settledAllocated(dev);
    let last = first;
    for (let i = 0; i < 60; i++) last = step();
    expect(memoryStats(dev).allocated).toBe(start);
    expect(stepped.filter((s) => s).length).toBeGreaterThan(55);
    expect(last).toBeLessThan(first * 0.2);
    expect(scaler.getScale()).toBeGreaterThanOrEqual(2 ** 16);
  });
});
