import assert from 'node:assert/strict';
import { randn, silu, tensor, type Tensor } from '@kiln/tensor';
import { gradcheck } from '@kiln/autograd';

// The new op, as a function and as a method; integer inputs compute in float32 (like sigmoid).
const x = tensor([-2, -0.5, 0, 0.5, 2], { dtype: 'float64' });
const y = silu(x);
const composed = x.mul(x.sigmoid());             // x · σ(x), from existing ops
assert.ok(y.sub(composed).abs().max().item() < 1e-15);
assert.equal(tensor([1, 2]).silu().dtype, 'float32');

// Its derivative, checked against central finite differences (inputs in float64).
const a = randn([3, 4], { dtype: 'float64', seed: 7 }).requiresGrad_();
assert.equal(gradcheck((t: Tensor) => t.silu(), [a]), true);

// On a non-contiguous view, too.
assert.equal(gradcheck((t: Tensor) => t.transpose(0, 1).silu(), [a]), true);
console.log('silu:', y.toArray());
