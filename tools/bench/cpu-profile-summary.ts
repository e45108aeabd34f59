/**
 * Summarises a V8 CPU profile (`node --cpu-prof` writes one .cpuprofile per process): the functions
 * with the most self time and the most inclusive time (time with the function anywhere on the
 * stack, counted once per sample), as percentages of the sampled time. Used to see where the host
 * time of a launch-bound GPU step goes, e.g. on the GPU machine:
 *
 *   node --cpu-prof --cpu-prof-dir=/tmp/prof --cpu-prof-interval 50 --conditions=@kiln/source --import tsx \
 *     tools/bench/train-step.ts --presets cuda --precisions float32 --steps 100
 *   node --import tsx tools/bench/cpu-profile-summary.ts /tmp/prof/*.cpuprofile --top 40
 *
 * `--steps N` divides the times to show µs per step as well; `--under NAME` counts only the samples
 * with a function of that name on the stack (e.g. `--under timeSteps`: the timed steps, not the
 * setup).
 */
import { readFileSync } from 'node:fs';
import { type CpuProfile, profileTimes } from './cpu-profile.js';
import { parseOptions } from './cli-options.js';

// The profile files come first, the options after them.
const argv = process.argv.slice(2);
const firstOption = argv.findIndex((a) => a.startsWith('--'));
const files = firstOption < 0 ? argv : argv.slice(0, firstOption);
const { top, steps, under } = parseOptions(firstOption < 0 ? [] : argv.slice(firstOption), {
  top: { type: 'number', default: '30' },
  steps: { type: 'number', default: '0' },
  under: { type: 'string', default: '' },
});
if (files.length === 0) throw new Error('cpu-profile-summary: give a .cpuprofile file');

for (const file of files) {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const { self, inclusive, total } = profileTimes(profile, under);
  if (total === 0) {
    console.log(`${file}: no samples${under ? ` with ${under} on the stack` : ''}`);
    continue;
  }
  const row = (name: string, us: number) =>
    `${((100 * us) / total).toFixed(1).padStart(5)}%${steps > 0 ? `  ${(us / steps).toFixed(1).padStart(8)} µs/step` : ''}  ${name}`;
  console.log(`${file}: ${(total / 1e3).toFixed(0)} ms sampled${under ? ` under ${under}` : ''}`);
  console.log(`-- self time, top ${top}`);
  for (const [k, v] of [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(row(k, v));
  console.log(`-- inclusive time, top ${top}`);
  for (const [k, v] of [...inclusive.entries()].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(row(k, v));
}
