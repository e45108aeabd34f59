import assert from 'node:assert/strict';
import { conv2d, rand, randn, zeros, ones, type Tensor } from '@kiln/tensor';
import { gradcheck } from '@kiln/autograd';
// Importing the package loads its library (build/kiln_deform_conv.so): its CPU kernels, and its
// CUDA kernels where it has them and a GPU is registered.
import { deformConv2d, extension } from 'kiln-deform-conv';

console.log('kernels:', extension.kernels);
for (const s of extension.skipped) console.log(`skipped ${s.device}: ${s.reason}`);

// DCNv2 on a batch: 3x3 taps, each moved by a learned (dy, dx) and scaled by a learned mask.
const x = randn([2, 4, 8, 8], { seed: 1 }), weight = randn([6, 4, 3, 3], { seed: 2 }).mul(0.1);
const offset = randn([2, 2 * 9, 8, 8], { seed: 3 }).mul(0.5), mask = rand([2, 9, 8, 8], { seed: 4 });
const y = deformConv2d(x, offset, weight, { mask, padding: 1 });
assert.deepEqual(y.shape, [2, 6, 8, 8]);

// With zero offsets and unit masks it is an ordinary convolution.
const plain = deformConv2d(x, zeros([2, 18, 8, 8]), weight, { mask: ones([2, 9, 8, 8]), padding: 1 });
assert.ok(plain.sub(conv2d(x, weight, null, { padding: 1 })).abs().max().item<'float32'>() < 1e-5);

// Its gradients in every argument, against finite differences (float64).
const f64 = (t: Tensor) => t.to('float64').requiresGrad_();
const [sx, so, sm, sw] = [x.narrow(0, 0, 1).narrow(2, 0, 4).narrow(3, 0, 4), offset.narrow(0, 0, 1).narrow(2, 0, 4).narrow(3, 0, 4),
  mask.narrow(0, 0, 1).narrow(2, 0, 4).narrow(3, 0, 4), weight].map(f64);
assert.equal(gradcheck((a: Tensor, o: Tensor, m: Tensor, w: Tensor) => deformConv2d(a, o, w, { mask: m, padding: 1 }), [sx, so, sm, sw]), true);
console.log('deformConv2d:', y.shape, 'gradcheck passed');
