// autocast with autograd: gradients of a low-precision forward flow back in the low dtype and reach
// the float32 leaves in float32 through the recorded casts (values against the same computation in
// float64), the weight cast cache (hit within the outermost scope, cleared at its exit, remade when
// its parameter changed in place, bypassed where PyTorch's is), and a training step that leaves no
// memory behind.
import { expect, it } from 'vitest';
import {
  type AutocastDType, type DType, type Tensor, autocast, autocastCacheStats, conv2d, linear, matmul, memoryStats, tensor, tidy,
} from '@kiln/tensor';
import { expectClose, forEachDevice, randomValues, settledAllocated } from '@kiln/tensor/testing';
import { noGrad, zeroGrad } from '@kiln/autograd';

const numel = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);
const gradTol: Record<AutocastDType, { rtol: number; atol: number }> = {
  bfloat16: { rtol: 3e-2, atol: 6e-2 }, float16: { rtol: 4e-3, atol: 8e-3 },
};

forEachDevice('autocast and autograd', (dev) => {
  const param = (seed: number, shape: number[], dtype: DType = 'float32'): Tensor =>
    tensor(randomValues(seed, numel(shape)), { dtype, device: dev }).reshape(shape).clone().requiresGrad_();
  const as64 = (ps: Tensor[]): Tensor[] => ps.map((p) => p.detach().to('float64').requiresGrad_());

  /** A conv + linear model: its gradients under autocast against float64 without it. */
  const model = (x: Tensor, cw: Tensor, cb: Tensor, lw: Tensor, lb: Tensor): Tensor => {
    const h = conv2d(x, cw, cb, { padding: 1, stride: 2 }).sigmoid();       // [2, 4, 4, 4] (smooth: no kink for rounding to cross)
    return linear(h.reshape([2, 64]), lw, lb);                            // [2, 5]
  };
  const lossOf = (y: Tensor): Tensor => y.mul(y).sum().mul(0.5);

  for (const dtype of ['bfloat16', 'float16'] as const) {
    it(`gradients flow back in ${dtype} and reach the float32 leaves in float32, matching float64`, () => {
      const ps = [param(1, [2, 3, 8, 8]), param(2, [4, 3, 3, 3]), param(3, [4]), param(4, [5, 64]), param(5, [5])];
      let seen: DType | null = null;
      const loss = autocast({ deviceType: dev, dtype }, () => {
        const y = model(ps[0], ps[1], ps[2], ps[3], ps[4]);
        expect(y.dtype).toBe(dtype);
        y.registerHook((g) => { seen = g.dtype; });
        return lossOf(y);
      });
      expect(loss.dtype).toBe('float32');
      loss.backward();
      expect(seen).toBe(dtype);
      const qs = as64(ps);
      lossOf(model(qs[0], qs[1], qs[2], qs[3], qs[4])).backward();
      ps.forEach((p, i) => {
        expect(p.grad!.dtype, `leaf ${i}`).toBe('float32');
        expectClose(p.grad!, qs[i].grad!, { ...gradTol[dtype], what: `leaf ${i} (${dtype})` });
      });
    });
  }

  it('caches the cast of a parameter for the outermost scope and drops it at its exit', () => {
    const w = param(11, [8, 6]);
    const x1 = param(12, [3, 8]).detach(), x2 = param(13, [2, 8]).detach();
    const { hits } = autocastCacheStats();
    let y1: Tensor | null = null, y2: Tensor | null = null;
    autocast({ deviceType: dev, dtype: 'bfloat16' }, () => {
      y1 = matmul(x1, w);
      expect(autocastCacheStats()).toEqual({ entries: 1, hits });
      autocast({ deviceType: dev, dtype: 'bfloat16' }, () => { y2 = matmul(x2, w); });
      // the inner scope's exit keeps the cache; the second use was a hit
      expect(autocastCacheStats()).toEqual({ entries: 1, hits: hits + 1 });
    });
    expect(autocastCacheStats().entries).toBe(0);
    // backward after the scope: the graph still holds the cached cast; both uses reach w in float32
    y1!.sum().add(y2!.sum()).backward();
    expect(w.grad!.dtype).toBe('float32');
    const colSums = (x: Tensor): number[] => x.sum(0).toArray() as number[];
    const expected = colSums(x1).map((v, k) => v + colSums(x2)[k]);
    expectClose(w.grad!, expected.flatMap((v) => new Array<number>(6).fill(v)), { rtol: 2e-2, atol: 2e-2 });
  });

  it('makes the cast again when the parameter changed in place or the cast was disposed', () => {
    const w = param(21, [4, 3]);
    const x = param(22, [2, 4]).detach();
    autocast({ deviceType: dev, dtype: 'bfloat16' }, () => {
      const before = matmul(x, w).toArray();
      noGrad(() => w.mul_(2));
      const after = matmul(x, w).toArray() as number[][];
      expectClose(after.flat(), (before as number[][]).flat().map((v) => 2 * v), { rtol: 1e-2, atol: 1e-2 });
      // a tidy inside the scope releases the cast it made; the next use makes it again
      const v = param(23, [4, 3]);
      tidy(() => { matmul(x, v); });
      const hits = autocastCacheStats().hits;
      expect(matmul(x, v).dtype).toBe('bfloat16');
      expect(autocastCacheStats().hits).toBe(hits);
      matmul(x, v);
      expect(autocastCacheStats().hits).toBe(hits + 1);
    });
  });

  it("bypasses the cache where PyTorch's does: grad mode off, non-leaves, views, cacheEnabled: false", () => {
    const w = param(31, [4, 3]);
    const x = param(32, [2, 4]).detach();
    autocast({ deviceType: dev }, () => {
      noGrad(() => matmul(x, w));
      matmul(x, w.mul(1));
      matmul(x.t().t(), w.t().t());
      expect(autocastCacheStats().entries).toBe(0);
    });
    autocast({ deviceType: dev, cacheEnabled: false }, () => {
      matmul(x, w);
      expect(autocastCacheStats().entries).toBe(0);
    });
  });

  it('a training step under autocast, inside tidy, leaves no memory behind', async () => {
    const ps = [param(41, [4, 3, 3, 3]), param(42, [4]), param(43, [5, 64]), param(44, [5])];
    const x = param(45, [2, 3, 8, 8]).detach();
    const step = () => tidy(() => {
      const loss = autocast({ deviceType: dev, dtype: 'bfloat16' }, () => lossOf(model(x, ps[0], ps[1], ps[2], ps[3])));
      loss.backward();
    });
    step();
    zeroGrad(ps);
    const start = await settledAllocated(dev);
    for (let i = 0; i < 3; i++) {
      step();
      zeroGrad(ps);
      expect(memoryStats(dev).allocated, `after step ${i}`).toBe(start);
    }
  });
});
