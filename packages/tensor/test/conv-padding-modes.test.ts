// conv2d's padding 'same' and 'valid' (PyTorch's): 'same' keeps the input's size, its extra zero
// after (right, bottom) when the kernel's reach dilation·(k - 1) is odd, as PyTorch's (checked
// against torch 1.13: F.conv2d(x, w, padding='same') equals F.conv2d(F.pad(x, (s, s + e, s, s + e)), w));
// gradients through it; typed errors.
import { expect, it } from 'vitest';
import { type Tensor, ValueError, conv2d, conv2dBackwardInput, pad, tensor } from '@kiln/tensor';
import { gradcheck } from '@kiln/autograd';
import { expectClose, expectError, forEachDevice, randomValues, toNumbers } from '@kiln/tensor/testing';

forEachDevice("conv2d padding 'same' / 'valid'", (dev) => {
  const rand = (seed: number, shape: number[], dtype: 'float32' | 'float64' = 'float32') =>
    tensor(randomValues(seed, shape.reduce((a, b) => a * b, 1)), { dtype, device: dev }).reshape(shape);

  it("'same' keeps the size: explicit padding of r // 2, and one more after where the reach r is odd", () => {
    const x = rand(1, [2, 2, 5, 6]);
    for (const [k, d] of [[3, 1], [2, 1], [4, 1], [3, 2], [2, 3], [1, 1]]) {
      const w = rand(2 + k, [3, 2, k, k]), b = rand(3, [3]);
      const r = d * (k - 1), s = Math.floor(r / 2), e = r % 2;
      const y = conv2d(x, w, b, { padding: 'same', dilation: d });
      expect(y.shape, `k ${k} d ${d}`).toEqual([2, 3, 5, 6]);
      expectClose(y, toNumbers(conv2d(pad(x, [s, s + e, s, s + e]), w, b, { dilation: d }).toTypedArray()), { rtol: 1e-5, atol: 1e-5 });
    }
    const w = rand(9, [3, 2, 3, 3]);
    expect(conv2d(x, w, null, { padding: 'valid' }).shape).toEqual([2, 3, 3, 4]);
  });

  it("gradients flow through 'same' with an odd reach (float64 gradcheck)", () => {
    const x = rand(11, [1, 2, 4, 5], 'float64').requiresGrad_(), w = rand(12, [2, 2, 2, 2], 'float64').requiresGrad_();
    expect(gradcheck((a: Tensor, b: Tensor) => conv2d(a, b, null, { padding: 'same' }), [x, w])).toBe(true);
  });

  it("refuses 'same' with a stride, other strings, and strings in the backward functions", () => {
    const x = rand(21, [1, 2, 5, 5]), w = rand(22, [3, 2, 3, 3]);
    expectError(() => conv2d(x, w, null, { padding: 'same', stride: 2 }), ValueError, { op: 'conv2d', argument: 'padding' });
    expectError(() => conv2d(x, w, null, { padding: 'full' as never }), ValueError, { op: 'conv2d', argument: 'padding' });
    expectError(() => conv2dBackwardInput(rand(23, [1, 3, 5, 5]), w, [1, 2, 5, 5], { padding: 'same' }), ValueError, { op: 'conv2d_backward_input', argument: 'padding' });
  });
});
