// On a GPU machine, from an installed project (tools/release/gpu-install-check.sh): the installed
// CUDA addon finds the GPU, and the sigmoid focal loss and its gradient computed there agree with
// the CPU's, for RetinaNet-sized float32 inputs. Prints one line of JSON; exits 1 when they differ.
import { cuda } from '@kiln/cuda';
import { randint, randn, type Tensor } from '@kiln/tensor';
import '@kiln/autograd';
import { sigmoidFocalLoss } from '@kiln/losses';

if (!cuda.isAvailable()) {
  console.error(`CUDA is unavailable: ${cuda.unavailableReason() ?? 'unknown reason'}`);
  process.exit(1);
}
const N = 20000, C = 80;   // anchors x classes of one RetinaNet image
const logits = randn([N, C], { seed: 1 });
const target = randint(0, C + 1, [N], { seed: 2, dtype: 'int64' });   // 0 background, 1..C class t-1

function lossAndGrad(device: 'cpu' | 'cuda'): { loss: number; grad: Float32Array } {
  const x = logits.to(device).detach().requiresGrad_();   // a leaf of its own on each device
  const loss = sigmoidFocalLoss(x, target.to(device), { gamma: 2, alpha: 0.25, reduction: 'sum' });
  loss.backward();
  return { loss: loss.item(), grad: (x.grad as Tensor).to('cpu').toTypedArray() as Float32Array };
}
const cpu = lossAndGrad('cpu'), gpu = lossAndGrad('cuda');
let maxGrad = 0, maxDiff = 0;
for (let i = 0; i < cpu.grad.length; i++) {
  maxGrad = Math.max(maxGrad, Math.abs(cpu.grad[i]));
  maxDiff = Math.max(maxDiff, Math.abs(cpu.grad[i] - gpu.grad[i]));
}
const lossRel = Math.abs(cpu.loss - gpu.loss) / Math.abs(cpu.loss);
const p = cuda.deviceProperties(0);
// The loss sums 1.6M float32 terms in a different order on each device (float32 rounding, about
// sqrt(n) * 6e-8 ~ 1e-4 relative at worst in practice); the gradient is elementwise (a few ulp).
const agree = lossRel < 1e-4 && maxDiff <= 1e-5 * maxGrad;
console.log(JSON.stringify({ gpu: p.name, computeCapability: `${p.major}.${p.minor}`, loss: { cpu: cpu.loss, cuda: gpu.loss, relDiff: lossRel }, grad: { maxAbs: maxGrad, maxDiff }, agree }));
if (!agree) process.exitCode = 1;
