import assert from 'node:assert/strict';
import { tensor } from '@kiln/tensor';
import { grad, noGrad } from '@kiln/autograd';   // importing @kiln/autograd turns recording on

const w = tensor([1, 2, 3], { dtype: 'float32', requiresGrad: true });
const loss = w.mul(w).sum();                     // recorded: loss.gradFn is a graph node
loss.backward();                                 // d(sum w²)/dw = 2w, added into w.grad
assert.deepEqual(w.grad!.toArray(), [2, 4, 6]);

// noGrad: nothing inside is recorded (parameter updates, evaluation).
noGrad(() => w.sub_(w.grad!.mul(0.1)));
assert.equal(w.requiresGrad, true);
w.grad = null;                                   // gradients accumulate until cleared

// grad(): gradients returned instead of accumulated; createGraph allows a second derivative.
const x = tensor([1, 2], { dtype: 'float64', requiresGrad: true });
const [dx] = grad(x.pow(3).sum(), x, null, { createGraph: true });   // 3x²
const [d2x] = grad(dx.sum(), x);                                     // 6x
assert.deepEqual(dx.toArray(), [3, 12]);
assert.deepEqual(d2x.toArray(), [6, 12]);
