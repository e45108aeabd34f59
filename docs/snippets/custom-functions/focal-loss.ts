import assert from 'node:assert/strict';
import { type Tensor, randint, randn } from '@kiln/tensor';
import { gradcheck } from '@kiln/autograd';
import { SigmoidFocalLossFunction, sigmoidFocalLoss } from '@kiln/losses';

// 6 anchors, 4 classes; targets with the background first: 0 background, 1..4 class t - 1, negative = ignored row.
const logits = randn([6, 4], { dtype: 'float64', seed: 1 }).requiresGrad_();
const labels = randint(-1, 5, [6], { seed: 2 });

// apply(input, target, options), or the functional form that calls it.
const loss = SigmoidFocalLossFunction.apply(logits, labels, { gamma: 2, alpha: 0.25, reduction: 'mean' });
assert.equal(loss.gradFn?.name, 'SigmoidFocalLossFunctionBackward');
loss.backward();                                 // hands out the gradient forward computed (fused)
const fused = logits.grad!.clone();
logits.grad = null;

// The separate backward kernel gives the same gradient.
sigmoidFocalLoss(logits, labels, { fusedGrad: false }).backward();
assert.ok(logits.grad!.sub(fused).abs().max().item() < 1e-12);

// Both against finite differences, for every reduction.
for (const reduction of ['mean', 'sum', 'none'] as const) {
  assert.equal(gradcheck((x: Tensor) => sigmoidFocalLoss(x, labels, { reduction }), [logits]), true);
}
console.log('focal loss', loss.item());
