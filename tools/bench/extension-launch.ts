/**
 * The cost of launching an extension's kernel against one of Kiln's own, on the CPU: the same work
 * (write a constant into a 4-element float32 tensor) through the built-in `fill` kernel and through
 * `ext_c_fill` of the test extension native/test-extensions/raw/c_abi_fill.c (plain C against the
 * extension ABI: the launch goes through the kernel table's trampoline, run_extension_kernel, which
 * builds the kiln_call and checks the kernel's result). Both are launched with launchKernel, so the
 * difference is the extension's path alone.
 *
 * How to run (from the repository root, after npm run build):
 *   node --conditions=@kiln/source --import tsx tools/bench/extension-launch.ts [--batches 31] [--ops 20000]
 *
 * Timing: batches of --ops launches, the two kernels alternated batch by batch (so a shared
 * machine's load falls on both alike), after a warm-up batch each; per launch: wall-clock median and
 * minimum over the batches, and the median CPU time of the process. The load average is printed.
 */
import { loadavg } from 'node:os';
import { addonPath, launchKernel, loadExtension, toTypedArray, zeros } from '@kiln/tensor';
import { parseOptions } from './cli-options.js';

const { batches, ops } = parseOptions(process.argv.slice(2), {
  batches: { type: 'number', default: '31' },
  ops: { type: 'number', default: '20000' },
});

const lib = addonPath('test-extensions/c_abi_fill.so');
if (lib === null) throw new Error('test-extensions/c_abi_fill.so is not built: npm run build -w @kiln/native');
loadExtension(lib);

const out = zeros([4], { dtype: 'float32' });
const cases: [string, () => void][] = [
  ['built-in fill', () => launchKernel('fill', [], [out], [1])],
  ['extension ext_c_fill', () => launchKernel('ext_c_fill', [], [out], [2])],
];
// both write what they should before they are timed
cases[0][1]();
if ([...toTypedArray(out)].some((v) => v !== 1)) throw new Error('fill wrote the wrong values');
cases[1][1]();
if ([...toTypedArray(out)].some((v) => v !== 2)) throw new Error('ext_c_fill wrote the wrong values');

const wall = cases.map(() => [] as number[]), cpu = cases.map(() => [] as number[]);
for (let b = -1; b < batches; b++) {
  cases.forEach(([, fn], i) => {
    const c0 = process.cpuUsage(), t0 = performance.now();
    for (let k = 0; k < ops; k++) fn();
    const w = performance.now() - t0, c = process.cpuUsage(c0);
    if (b < 0) return;   // warm-up
    wall[i].push((w * 1e3) / ops);
    cpu[i].push((c.user + c.system) / ops);
  });
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(`launchKernel of a 4-element float32 fill, ${batches} batches of ${ops} launches, load average ${loadavg()[0].toFixed(2)}\n`);
console.log('| kernel | wall median µs | wall min µs | CPU median µs |');
console.log('|---|---:|---:|---:|');
cases.forEach(([name], i) => {
  const w = wall[i], c = cpu[i];
  console.log(`| ${name} | ${median(w).toFixed(3)} | ${Math.min(...w).toFixed(3)} | ${median(c).toFixed(3)} |`);
});
