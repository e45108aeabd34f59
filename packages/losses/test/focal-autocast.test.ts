// The sigmoid focal loss in an autocast scope: its Function declares the 'float32' policy, so from
// half logits it returns a float32 loss (the float64 reference over the logits' values, within
// float32's tolerance: the kernels compute in float32 either way) and a gradient that the recorded
// cast brings back to the logits' dtype; a float16 loss scaled by GradScaler's 2^16 stays finite.
import { expect, it } from 'vitest';
import { type DType, type Tensor, autocast, linear, tensor } from '@kiln/tensor';
import { expectClose, forEachDevice, randomValues, toNumbers } from '@kiln/tensor/testing';
import { SigmoidFocalLossFunction, sigmoidFocalLoss } from '@kiln/losses';
import { refBinary } from './focal-reference.js';

const values = (t: Tensor): number[] => toNumbers(t.toTypedArray());

forEachDevice('sigmoid focal loss under autocast', (dev) => {
  const labels = [0, 1, 4, 2, 3, 0, 1];   // 0 background, 1..4 class t - 1
  const C = 4;
  const refSum = (x: number[]) => {
    let loss = 0;
    const grad = x.map((v, i) => {
      const [l, g] = refBinary(v, labels[Math.floor(i / C)] === (i % C) + 1, { gamma: 2, alpha: 0.25 });
      loss += l;
      return g;
    });
    return { loss, grad };
  };

  it("declares the 'float32' policy", () => {
    expect(SigmoidFocalLossFunction.autocast).toBe('float32');
  });

  for (const dtype of ['bfloat16', 'float16'] as const) {
    it(`from ${dtype} logits: a float32 loss, a ${dtype} gradient, float32 gradients for the float32 weights`, () => {
      const feats = tensor(randomValues(1, 7 * 6, -2, 2), { device: dev }).reshape([7, 6]);
      const w = tensor(randomValues(2, C * 6, -1, 1), { device: dev }).reshape([C, 6]).requiresGrad_();
      const target = tensor(labels, { dtype: 'int64', device: dev });
      let logits: Tensor | null = null;
      let seen: DType | null = null;
      const loss = autocast({ deviceType: dev, dtype }, () => {
        logits = linear(feats, w);
        logits.registerHook((g) => { seen = g.dtype; });
        return sigmoidFocalLoss(logits, target, { gamma: 2, alpha: 0.25, reduction: 'sum' });
      });
      expect(logits!.dtype).toBe(dtype);
      expect(loss.dtype).toBe('float32');
      const ref = refSum(values(logits!));
      expectClose(loss, [ref.loss], { rtol: 1e-5, atol: 1e-6 });
      loss.backward();
      expect(seen).toBe(dtype);
      expect(w.grad!.dtype).toBe('float32');
      // dL/dw = gᵀ feats, with g the reference gradient over the half logits
      const f = values(feats);
      const expected = Array.from({ length: C * 6 }, (_, k) => {
        const c = Math.floor(k / 6), j = k % 6;
        let s = 0;
        for (let r = 0; r < 7; r++) s += ref.grad[r * C + c] * f[r * 6 + j];
        return s;
      });
      expectClose(w.grad!, expected, dtype === 'bfloat16' ? { rtol: 2e-2, atol: 2e-2 } : { rtol: 3e-3, atol: 3e-3 });
    });
  }

  it('a float16 loss in float32 survives the scale 2^16 (a float16 one would overflow at 65504)', () => {
    const logits = tensor(randomValues(3, 400 * C, 2, 4), { dtype: 'float16', device: dev }).reshape([400, C]).requiresGrad_();
    const target = tensor(new Array<number>(400).fill(0), { dtype: 'int64', device: dev });
    const loss = autocast({ deviceType: dev, dtype: 'float16' }, () => sigmoidFocalLoss(logits, target, { reduction: 'sum' }));
    expect(loss.item()).toBeGreaterThan(1);
    expect(Number.isFinite(loss.mul(2 ** 16).item())).toBe(true);
    loss.mul(2 ** 16).backward();
    expect(logits.grad!.dtype).toBe('float16');
  });
});
