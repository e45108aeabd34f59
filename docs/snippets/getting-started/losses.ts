import assert from 'node:assert/strict';
import { tensor } from '@kiln/tensor';
import '@kiln/autograd';
import { CrossEntropyLoss, GIoULoss, crossEntropy } from '@kiln/losses';

const logits = tensor([[2, 0, -1], [0.5, 1, 0], [-1, 0, 3], [0, 2, 1]], { dtype: 'float32', requiresGrad: true });
const labels = tensor([0, 1, 2, 2], { dtype: 'int64' });
const classWeight = tensor([1, 2, 0.5], { dtype: 'float32' });

// A module fixes its options (checked now); each call may override them (here mmdetection's avg_factor).
const criterion = new CrossEntropyLoss({ classWeight, labelSmoothing: 0.1 });
const loss = criterion.forward(logits, labels);
assert.equal(loss.item(), crossEntropy(logits, labels, { classWeight, labelSmoothing: 0.1 }).item());
loss.backward();
const perPositive = criterion.forward(logits, labels, { avgFactor: 2 });
assert.equal(perPositive.item(), crossEntropy(logits, labels, { classWeight, labelSmoothing: 0.1, avgFactor: 2 }).item());

// A bad option fails at construction, naming the class and the argument.
assert.throws(() => new GIoULoss({ eps: -1 }), /GIoULoss: argument 'eps'/);
