import assert from 'node:assert/strict';
import { cuda } from '@kiln/cuda';
import { type Tensor, autocast, randn, relu, tidy } from '@kiln/tensor';
import '@kiln/autograd';
import { Conv2d, Linear, Module } from '@kiln/nn';
import { Adam, GradScaler, clipGradNorm_ } from '@kiln/optim';

const dev = cuda.isAvailable() ? 'cuda' : 'cpu';

class Net extends Module {
  conv = new Conv2d(3, 8, 3, { padding: 1, stride: 2, device: dev });
  fc = new Linear(8 * 8 * 8, 2, { device: dev });
  forward(x: Tensor): Tensor {
    return this.fc.call(relu(this.conv.call(x)).flatten(1));
  }
}
const net = new Net();                       // float32 parameters: the master weights
const opt = new Adam(net.parameters(), { lr: 1e-2 });
const scaler = new GradScaler();             // initScale 2^16, growthInterval 2000, as PyTorch's
const x = randn([16, 3, 16, 16], { device: dev, seed: 1 });
const target = randn([16, 2], { device: dev, seed: 2 });

function step(): number {
  return tidy(() => {
    // convolutions and linear layers in float16, the loss's reduction in float32
    const loss = autocast({ deviceType: dev, dtype: 'float16' }, () => {
      const y = net.call(x);
      assert.equal(y.dtype, 'float16');
      return y.sub(target).pow(2).mean();
    });
    assert.equal(loss.dtype, 'float32');
    scaler.scale(loss).backward();          // float32 gradients in the float32 parameters
    scaler.unscale_(opt);                   // unscale before clipping, as PyTorch documents
    clipGradNorm_(net.parameters(), 1.0);
    scaler.step(opt);                       // skipped if a gradient is inf or NaN
    scaler.update();                        // halve the scale after an overflow, grow it later
    opt.zeroGrad();
    return loss.item();
  });
}

const first = step();
let last = first;
for (let i = 0; i < 30; i++) last = step();
console.log(`loss ${first.toFixed(4)} -> ${last.toFixed(4)}, scale ${scaler.getScale()}`);
assert.ok(last < first);
