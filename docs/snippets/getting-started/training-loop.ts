import assert from 'node:assert/strict';
import { cuda } from '@kiln/cuda';
import { randn, tidy, zeros } from '@kiln/tensor';
import { noGrad, zeroGrad } from '@kiln/autograd';
import { binaryCrossEntropyWithLogits } from '@kiln/losses';

const dev = cuda.isAvailable() ? 'cuda' : 'cpu';
if (!cuda.isAvailable()) console.log(`CUDA is not available (${cuda.unavailableReason() ?? 'unknown reason'}); training on the CPU`);

// Data: 512 points in 8 dimensions, labelled by the sign of a fixed linear function.
const x = randn([512, 8], { device: dev, seed: 1 });
const trueW = randn([8, 1], { device: dev, seed: 2 });
const y = x.matmul(trueW).gt(0).float();        // [512, 1] of 0 and 1

// A logistic-regression model: parameters are leaves that require grad.
const w = randn([8, 1], { device: dev, seed: 3 }).mul(0.01).requiresGrad_();
const b = zeros([1], { device: dev, requiresGrad: true });
const lr = 0.5;

function step(): number {
  // tidy releases every temporary of the step (activations, gradients of intermediates).
  return tidy(() => {
    const logits = x.matmul(w).add(b);
    const loss = binaryCrossEntropyWithLogits(logits, y);   // mean over the 512 points
    loss.backward();
    noGrad(() => {
      for (const p of [w, b]) p.sub_(p.grad!.mul(lr));   // plain SGD
    });
    zeroGrad([w, b]);                           // frees the gradients (what opt.zeroGrad() does)
    return loss.item();
  });
}

const first = step();
let last = first;
for (let i = 0; i < 100; i++) last = step();
console.log(`loss ${first.toFixed(4)} -> ${last.toFixed(4)}`);
assert.ok(last < first / 2);
