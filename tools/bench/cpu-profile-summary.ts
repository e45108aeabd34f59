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
import { parseOptions } from './cli-options.js';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

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

const frameName = (f: ProfileNode['callFrame']): string =>
  `${f.functionName || '(anonymous)'} ${f.url.split('/').slice(-2).join('/')}:${f.lineNumber + 1}`;

for (const file of files) {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let total = 0; // µs
  profile.samples.forEach((id, i) => {
    // timeDeltas[i] is the gap before sample i: the time until the next sample is sample i's (as
    // DevTools counts it; the last sample gets none)
    const dt = profile.timeDeltas[i + 1] ?? 0;
    const stack: ProfileNode['callFrame'][] = [];
    for (let n: number | undefined = id; n !== undefined; n = parent.get(n)) stack.push(byId.get(n)!.callFrame);
    if (under && !stack.some((f) => f.functionName === under)) return;
    total += dt;
    const leaf = frameName(stack[0]);
    self.set(leaf, (self.get(leaf) ?? 0) + dt);
    // Inclusive: every distinct function on this sample's stack, once (recursion counted once).
    for (const name of new Set(stack.map(frameName))) inclusive.set(name, (inclusive.get(name) ?? 0) + dt);
  });

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
