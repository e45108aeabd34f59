import assert from 'node:assert/strict';
import { arange, ones, randn, tensor, zeros } from '@kiln/tensor';

// From nested arrays. The dtype is inferred (bool, int64 for integers, float32 otherwise) unless given.
const a = tensor([[1, 2, 3], [4, 5, 6]], { dtype: 'float32' });
assert.deepEqual(a.shape, [2, 3]);

// Factories take a shape and options ({ dtype, device, requiresGrad }).
const z = zeros([2, 3]);                         // float32 zeros
const r = randn([2, 3], { seed: 0 });            // seeded standard normal values
const i = arange(6).reshape([2, 3]);             // int64 [[0, 1, 2], [3, 4, 5]]
assert.equal(z.dtype, 'float32');
assert.equal(i.dtype, 'int64');

// Elementwise ops broadcast ([2, 3] with [3]) and take JS numbers as operands.
const b = a.mul(2).add(ones([3]));
assert.deepEqual(b.toArray(), [[3, 5, 7], [9, 11, 13]]);

// Integer and float operands promote as in PyTorch: int64 + float32 -> float32.
assert.equal(i.add(a).dtype, 'float32');

// Views share their base's storage: no copy.
const t = a.transpose(0, 1);                     // shape [3, 2], not contiguous
assert.equal(t.storage, a.storage);
assert.equal(t.isContiguous, false);

// Reductions and matrix products.
assert.equal(a.sum().item(), 21);
assert.deepEqual(a.mean(1).toArray(), [2, 5]);
assert.deepEqual(a.matmul(t).toArray(), [[14, 32], [32, 77]]);

// Reading values back: toArray (nested arrays), item (one element), toTypedArray (a flat copy).
const flat = b.toTypedArray();                   // Float32Array [3, 5, 7, 9, 11, 13]
assert.equal(flat[5], 13);
console.log(r.toString());                       // tensors print as in PyTorch

// Bad arguments throw typed errors that name the op, the argument, what was expected and what was given.
assert.throws(() => a.transpose(0, 5), { name: 'ShapeError', message: "transpose: argument 'dim1' expected a dimension in [-2, 1], got 5" });
assert.throws(() => a.add(zeros([2, 2])), { name: 'ShapeError', message: 'add: expected shapes that broadcast together, got [2, 3] and [2, 2]' });
