import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cuda } from '@kiln/cuda';
import { type Tensor, profile, randn, recordFunction, relu, tidy } from '@kiln/tensor';
import '@kiln/autograd';
import { Conv2d, Module } from '@kiln/nn';
import { Adam } from '@kiln/optim';

const dev = cuda.isAvailable() ? 'cuda' : 'cpu';

class Net extends Module {
  conv1 = new Conv2d(1, 8, 3, { padding: 1, device: dev });
  conv2 = new Conv2d(8, 1, 3, { padding: 1, device: dev });
  forward(x: Tensor): Tensor {
    return this.conv2.call(relu(this.conv1.call(x)));
  }
}
const net = new Net();
const opt = new Adam(net.parameters(), { lr: 1e-3 });
const x = randn([4, 1, 16, 16], { device: dev, seed: 1 });

function step(): number {
  return tidy(() => {
    const loss = recordFunction('forward', () => net.call(x).pow(2).mean());
    recordFunction('backward', () => loss.backward());
    opt.step();
    opt.zeroGrad();
    return loss.item();
  });
}
step();                                          // warm up outside the profile

// Everything that runs inside `profile` is recorded: kernels, ranges, bytes allocated.
const prof = profile(() => step());
console.log(prof.table({ sortBy: 'deviceTotal', rowLimit: 12 }));

// The same numbers as rows: one per kernel name and one per range name.
const rows = prof.keyAverages();
const forward = rows.find((r) => r.name === 'forward')!;
assert.equal(forward.kind, 'range');
assert.ok(forward.deviceTotal > 0 && forward.hostTotal >= forward.hostSelf);
assert.ok(rows.some((r) => r.name === 'nn.Module: Conv2d' && r.calls === 2));   // modules are ranges
assert.ok(rows.some((r) => r.name === 'ReluBackward'));                          // so are backward nodes
assert.equal(rows.find((r) => r.name === 'adam_update')?.calls, 1);              // one fused Adam launch

// A trace for https://ui.perfetto.dev or chrome://tracing.
const dir = mkdtempSync(join(tmpdir(), 'kiln-profile-'));
prof.exportChromeTrace(join(dir, 'step.json'));
const trace = JSON.parse(readFileSync(join(dir, 'step.json'), 'utf8')) as { traceEvents: { name: string }[] };
assert.ok(trace.traceEvents.some((e) => e.name === 'backward'));
rmSync(dir, { recursive: true, force: true });
