// pad (PyTorch's F.pad): every mode against an index-by-index reference on random shapes, on each
// device, including non-contiguous inputs, crops and the half dtypes; float64 gradcheck; typed errors.
import { expect, it } from 'vitest';
import { type PadMode, type Tensor, ValueError, memoryStats, pad, synchronize, tensor } from '@kiln/tensor';
import { gradcheck } from '@kiln/autograd';
import { expectError, forEachDevice, randomValues, settleMemoryBeforeEach, testRng, toNumbers } from '@kiln/tensor/testing';

settleMemoryBeforeEach();

/** The padded values, element by element: each output position maps back to a source position or the constant. */
function reference(values: number[], shape: number[], padding: number[], mode: PadMode, value: number): { values: number[]; shape: number[] } {
  const nd = shape.length;
  const before = shape.map((_, d) => (d >= nd - padding.length / 2 ? padding[2 * (nd - 1 - d)] : 0));
  const after = shape.map((_, d) => (d >= nd - padding.length / 2 ? padding[2 * (nd - 1 - d) + 1] : 0));
  const out = shape.map((s, d) => s + before[d] + after[d]);
  const source = (i: number, s: number): number | null => {
    if (mode === 'constant') return i >= 0 && i < s ? i : null;
    if (mode === 'replicate') return Math.min(Math.max(i, 0), s - 1);
    if (mode === 'circular') return ((i % s) + s) % s;
    return i < 0 ? -i : i >= s ? 2 * (s - 1) - i : i;
  };
  const total = out.reduce((a, b) => a * b, 1), result: number[] = [];
  for (let flat = 0; flat < total; flat++) {
    let rem = flat, src = 0, stride = 1, inside = true;
    const idx: number[] = [];
    for (let d = nd - 1; d >= 0; d--) { idx[d] = rem % out[d]; rem = Math.floor(rem / out[d]); }
    for (let d = nd - 1; d >= 0; d--) {
      const j = source(idx[d] - before[d], shape[d]);
      if (j === null) inside = false;
      else src += j * stride;
      stride *= shape[d];
    }
    result.push(inside ? values[src] : value);
  }
  return { values: result, shape: out };
}

forEachDevice('pad', (dev) => {
  it('matches the reference in every mode on random shapes and paddings, also for a transposed view', () => {
    const rng = testRng(31);
    for (let trial = 0; trial < 40; trial++) {
      const nd = 1 + Math.floor(rng() * 4);
      const shape = Array.from({ length: nd }, () => 2 + Math.floor(rng() * 4));
      const mode = (['constant', 'reflect', 'replicate', 'circular'] as const)[trial % 4];
      const dims = 1 + Math.floor(rng() * nd);
      const padding = Array.from({ length: 2 * dims }, (_, k) => {
        const size = shape[nd - 1 - Math.floor(k / 2)];
        const top = mode === 'reflect' ? size - 1 : size;
        return mode === 'constant' ? Math.floor(rng() * 4) - 1 : Math.floor(rng() * (top + 1));
      });
      const values = randomValues(100 + trial, shape.reduce((a, b) => a * b, 1));
      let x: Tensor = tensor(values, { dtype: 'float32', device: dev }).reshape(shape);
      if (trial % 3 === 0 && nd >= 2) x = x.transpose(0, nd - 1).contiguous().transpose(0, nd - 1);   // same values, strided
      const want = reference(values, shape, padding, mode, mode === 'constant' ? 0.5 : 0);
      const got = pad(x, padding, mode === 'constant' ? { value: 0.5 } : { mode });
      expect(got.shape, `${mode} ${JSON.stringify(shape)} ${JSON.stringify(padding)}`).toEqual(want.shape);
      expect(toNumbers(got.toTypedArray())).toEqual(Array.from(Float32Array.from(want.values)));
    }
  });

  it('keeps the dtype (bfloat16, int64, bool), gives a tensor of its own when nothing is padded, crops with negative constant padding', () => {
    expect(pad(tensor([1, 2], { dtype: 'bfloat16', device: dev }), [1, 0]).toArray()).toEqual([0, 1, 2]);
    expect(pad(tensor([1, 2], { dtype: 'int64', device: dev }), [0, 2], { value: 7 }).toArray()).toEqual([1, 2, 7, 7]);
    expect(pad(tensor([true], { device: dev }), [1, 1], { mode: 'replicate' }).toArray()).toEqual([true, true, true]);
    const x = tensor([1, 2, 3], { dtype: 'float32', device: dev });
    const same = pad(x, [0, 0]);
    expect([same === x, same.storage === x.storage, same.toArray()]).toEqual([false, false, [1, 2, 3]]);
    const cropped = pad(x, [-1, -1]);
    expect([cropped.storage === x.storage, cropped.toArray()]).toEqual([false, [2]]);
    expect(x.pad([1, 0], { mode: 'reflect' }).toArray()).toEqual([2, 1, 2, 3]);
  });

  it('passes gradcheck in float64 in every mode', () => {
    const x = tensor(randomValues(41, 2 * 3 * 4), { dtype: 'float64', device: dev }).reshape([2, 3, 4]).requiresGrad_();
    for (const mode of ['constant', 'reflect', 'replicate', 'circular'] as const) {
      expect(gradcheck((a: Tensor) => pad(a, [1, 2, 2, 1], { mode }), [x]), mode).toBe(true);
    }
    expect(gradcheck((a: Tensor) => pad(a, [-1, 2]), [x])).toBe(true);
  });

  it('leaves nothing allocated but its result', () => {
    const x = tensor(randomValues(42, 24), { dtype: 'float32', device: dev }).reshape([2, 3, 4]);
    pad(x, [1, 1, 1, 1], { mode: 'reflect' }).dispose();
    synchronize(dev);
    const before = memoryStats(dev).allocated;
    for (const mode of ['constant', 'reflect', 'replicate', 'circular'] as const) pad(x, [1, 2, 1, 0], { mode }).dispose();
    synchronize(dev);
    expect(memoryStats(dev).allocated).toBe(before);
  });

  it('refuses bad paddings, modes and values with typed errors naming the argument', () => {
    const x = tensor([1, 2, 3], { dtype: 'float32', device: dev });
    expectError(() => pad(x, [1]), ValueError, { op: 'pad', argument: 'padding' });
    expectError(() => pad(x, [1, 1, 1, 1]), ValueError, { op: 'pad', argument: 'padding' });   // more pairs than dims
    expectError(() => pad(x, [0.5, 1]), ValueError, { op: 'pad', argument: 'padding' });
    expectError(() => pad(x, [3, 0], { mode: 'reflect' }), ValueError, { op: 'pad', argument: 'padding' });   // reflect needs < size
    expectError(() => pad(x, [4, 0], { mode: 'circular' }), ValueError, { op: 'pad', argument: 'padding' });
    expectError(() => pad(x, [-1, 0], { mode: 'replicate' }), ValueError, { op: 'pad', argument: 'padding' });
    expectError(() => pad(x, [-2, -2]), ValueError, { op: 'pad', argument: 'padding' });   // crops more than the size
    expectError(() => pad(x, [1, 1], { mode: 'mirror' as never }), ValueError, { op: 'pad', argument: 'mode' });
    expectError(() => pad(x, [1, 1], { mode: 'reflect', value: 1 }), ValueError, { op: 'pad', argument: 'value' });
    expectError(() => pad(x, [1, 1], { fill: 1 } as never), ValueError, { op: 'pad', argument: 'options' });
  });
});
