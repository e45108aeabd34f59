// An extension's kernel made a differentiable op exactly as a built-in one is: declared with
// declareOp, recorded with recordOp, given a derivative with defineDerivative (a formula that
// launches the extension's kernel again, so it is differentiable twice), then gradchecked in
// float64. The kernel is the probe extension's ext_probe_scale (native/test-extensions/probe.cc).
import { expect, it } from 'vitest';
import { type Tensor, addonPath, declareOp, emptyOn, launchKernel, loadExtension, recordOp, tensor } from '@kiln/tensor';
import { forEachDevice } from '@kiln/tensor/testing';
import { defineDerivative, gradcheck, gradgradcheck } from '@kiln/autograd';

const path = addonPath('test-extensions/kiln_test_probe.so');
if (path === null) throw new Error('test-extensions/kiln_test_probe.so is not built: run `npm run build -w @kiln/native`');
loadExtension(path);

const scaleOp = declareOp('ext_probe_scale', ['input']);

/** input · s through the extension's kernel, recorded for autograd. */
function probeScale(input: Tensor, s: number): Tensor {
  const out = emptyOn(input.shape, input.dtype, input.device);
  launchKernel(scaleOp.name, [input], [out], [s]);
  return recordOp(scaleOp, [input], [out], { s });
}

// d(input · s)/d input = s: the gradient is the upstream gradient through the same kernel
defineDerivative('ext_probe_scale', { grads: { input: (c) => probeScale(c.grad, c.attrs.s as number) } });

forEachDevice('an extension op with a derivative', (dev) => {
  it('passes float64 gradcheck and gradgradcheck, on a non-contiguous input', () => {
    const x = tensor(Float64Array.from({ length: 12 }, (_, i) => Math.cos(i) * 2), { dtype: 'float64', device: dev })
      .reshape([3, 4]).transpose(0, 1).requiresGrad_();
    expect(gradcheck((t: Tensor) => probeScale(t, -2.5).mul(t), [x])).toBe(true);
    expect(gradgradcheck((t: Tensor) => probeScale(t, -2.5).mul(t), [x])).toBe(true);
  });

  it('backpropagates through a graph mixing it with built-in ops', () => {
    const x = tensor([1, 2, 3], { dtype: 'float64', device: dev }).requiresGrad_();
    probeScale(x.mul(x), 3).sum().backward();
    expect([...x.grad!.toArray() as number[]]).toEqual([6, 12, 18]);
  });
});
