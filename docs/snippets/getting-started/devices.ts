import assert from 'node:assert/strict';
import { cuda, cudaLibraries, denseComputePath } from '@kiln/cuda';
import { getFloat32MatmulPrecision, memoryStats, randn, setFloat32MatmulPrecision, tidy } from '@kiln/tensor';

// Importing '@kiln/cuda' registers the 'cuda' device when its addon and a GPU are present.
const dev = cuda.isAvailable() ? 'cuda' : 'cpu';
if (!cuda.isAvailable()) console.log(`CUDA is not available (${cuda.unavailableReason() ?? 'unknown reason'}); using the CPU`);

const x = randn([256, 64], { device: dev, seed: 1 });
const w = randn([64, 10], { device: dev, seed: 2 });
const probs = x.matmul(w).softmax(1);            // runs on x's device
const host = probs.to('cpu');                    // a copy on the CPU (reading values synchronises)
assert.deepEqual(host.shape, [256, 10]);

// Memory: dispose() releases a tensor now; tidy() releases what its function created and did not
// return; `using` releases at the end of the block; the garbage collector is the last resort.
const before = memoryStats(dev).allocated;
const total = tidy(() => x.mul(2).add(1).sum()); // the two temporaries are released, total is kept
{
  using e = x.exp();
  assert.deepEqual(e.shape, [256, 64]);
}                                                // e is released here
total.dispose();
assert.equal(memoryStats(dev).allocated, before);

// On CUDA, matmul / linear and conv2d run on cuBLASLt and cuDNN where they are installed (found at
// run time); elsewhere on Kiln's own kernels. TF32 for float32 products is opt-in, as in PyTorch.
console.log(`matmul on ${denseComputePath('matmul')}, conv2d on ${denseComputePath('conv2d')}`);
if (!cudaLibraries().cudnn.available) console.log(`no cuDNN: ${cudaLibraries().cudnn.reason ?? 'unknown reason'}`);
setFloat32MatmulPrecision('high');
assert.equal(getFloat32MatmulPrecision(), 'high');
setFloat32MatmulPrecision('highest');
