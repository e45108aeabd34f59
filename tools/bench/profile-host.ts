/**
 * Where the host time of one focal-loss step goes (TypeScript, N-API, CUDA API calls): runs many
 * small forward+backward steps under the V8 sampling profiler and prints the functions with the
 * most self time. Run it where the time is in question (e.g. on the GPU machine):
 *   node --conditions=@kiln/source --import tsx tools/bench/profile-host.ts --device cuda --n 20000
 */
import { Session } from 'node:inspector';
import { randint, randn, synchronize } from '@kiln/tensor';
import '@kiln/autograd';
import '@kiln/cuda';
import { sigmoidFocalLoss } from '@kiln/losses';
import { type CpuProfile, profileTimes } from './cpu-profile.js';
import { parseOptions } from './cli-options.js';

const { device, n, steps } = parseOptions(process.argv.slice(2), {
  device: { type: 'string', default: 'cpu' },
  n: { type: 'number', default: '20000' },
  steps: { type: 'number', default: '2000' },
});

const x = randn([n, 80], { device, seed: 1 }).requiresGrad_();
const t = randint(0, 81, [n], { device, seed: 2 });
const step = () => {
  x.grad?.dispose();
  x.grad = null;
  const l = sigmoidFocalLoss(x, t);
  l.backward();
  l.dispose();
};
for (let i = 0; i < 200; i++) step();
synchronize(device);

const session = new Session();
session.connect();
const post = <T>(method: string, params?: object) =>
  new Promise<T>((res, rej) => session.post(method, params ?? {}, (e, r) => (e ? rej(e) : res(r as T))));
await post('Profiler.enable');
await post('Profiler.setSamplingInterval', { interval: 50 });
await post('Profiler.start');
const t0 = performance.now();
for (let i = 0; i < steps; i++) step();
synchronize(device);
const perStep = ((performance.now() - t0) / steps) * 1e3;
const { profile } = await post<{ profile: CpuProfile }>('Profiler.stop');
const { self, total } = profileTimes(profile);
console.log(`${device} N=${n}: ${perStep.toFixed(1)} µs per forward+backward step (host, synchronised at the end)`);
for (const [k, v] of [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, 25)) {
  console.log(`${((100 * v) / total).toFixed(1).padStart(5)}%  ${(v / steps).toFixed(2).padStart(7)} µs/step  ${k}`);
}
