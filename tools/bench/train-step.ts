/**
 * The training step of a small RetinaNet (tools/bench/train-step/: the RetinaNet example's model,
 * anchors, targets and losses before the example moved to @kiln/vision's RetinaNet, kept here as
 * the benchmark's own fixed model so that its tables stay comparable) timed in Kiln, side by side
 * with its PyTorch twin (tools/bench/retinanet_twin.py: the same architecture, initial weights, batch,
 * losses and Adam). One step is the example's: upload the batch, forward, sigmoid focal + smooth L1
 * (normalised by the positive anchors), backward, Adam, read both losses back.
 *
 * Presets: the example's former `cpu` and `cuda` (train-step/settings.ts), `real` (RetinaNet's real width: batch 8, 512×512, width
 * 256, strides 8-128, 4-conv subnets, 49,104 anchors per image) and `fast`.
 *
 * On the GPU machine (`bash tools/gpu/remote.sh train-bench` runs these three in one call):
 *   node --conditions=@kiln/source --import tsx tools/bench/train-step.ts --export /tmp/kiln-train --presets cuda,real
 *   python3 tools/bench/retinanet_twin.py --data /tmp/kiln-train --presets cuda,real --json /tmp/kiln-train/torch.json
 *   node --conditions=@kiln/source --import tsx tools/bench/train-step.ts --presets cuda,real \
 *        --torch /tmp/kiln-train/torch.json --profile --out $OUT/benchmarks-train.md
 * On the CPU, Kiln and PyTorch interleaved (one thread and the defaults, idle and with a competing process):
 *   node --conditions=@kiln/source --import tsx tools/bench/train-step.ts --presets cpu --interleave \
 *        --threads 1,0 --loads idle,busy --python /usr/bin/python3 --out /tmp/train-cpu.md
 * On the GPU the same (the step timings of a launch-bound preset move with the host's pace from one
 * minute to the next; interleaved rounds put both sides in the same minutes):
 *   node --conditions=@kiln/source --import tsx tools/bench/train-step.ts --presets cuda --interleave --rounds 60 [--amp bf16]
 *
 * Options: --presets a,b  --device cpu|cuda  --warmup 3  --steps 10  --threads 1,0 (CPU; 0 = the default)
 *   --optimizer fused|composed|both (Adam's path)  --amp bf16 (adds mixed-precision rows: the
 *   core's autocast scope in bfloat16; the twin's rows come with --precisions float32,bf16)
 *   --profile (the profiler's table of one step)  --trace DIR (that step as Chrome trace JSON)
 *   --profile-shapes (that table per kernel and input shapes, recordShapes; the twin's likewise)
 *   --cudnn-benchmark (cuDNN's algorithms chosen by timing, setCudnnBenchmark; the twin sets
 *   torch.backends.cudnn.benchmark from the same flag)
 *   --export DIR  --torch FILE  --out FILE  --interleave  --loads idle,busy  --rounds 15  --python python3
 *   (and the twin's --modes eager,compile --precisions float32,bf16, accepted and left to it, since
 *   remote.sh's train-bench gives both scripts one command line)
 *
 * Timing: `--warmup` steps, then `--steps` steps; per step the host wall time (the step ends with
 * the losses read back, so the device is done) and on CUDA the device time between events recorded
 * before and after it; medians. Every step reuses the one batch, uploaded each step as the example
 * does. The learning rate stays at the example's peak (no schedule: its step is host arithmetic).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { cpuThreads, profile } from '@kiln/tensor';
import { cuda, setCudnnBenchmark } from '@kiln/cuda';
import { parseOptions } from './cli-options.js';
import { PRESET_NAMES, type PresetName, describePreset, presetSettings } from './train-step/presets.js';
import { type StepSetup, autocastScope, disposeSetup, exportForTwin, makeSetup, timeSteps, trainStep } from './train-step/kiln-step.js';
import { type KilnRow, type TwinResults, combinedTable } from './train-step/table.js';
import { interleaved, interleavedTable } from './train-step/interleave.js';

// An empty default means 'decided below' (by the device or the mode).
const args = parseOptions(process.argv.slice(2), {
  presets: { type: 'strings', default: '' }, device: { type: 'string', default: '' },
  warmup: { type: 'number', default: '3' }, steps: { type: 'number', default: '10' },
  threads: { type: 'numbers', default: '' }, optimizer: { type: 'string', default: 'fused' }, amp: { type: 'string', default: '' },
  profile: { type: 'boolean' }, 'cudnn-benchmark': { type: 'boolean' }, 'profile-shapes': { type: 'boolean' }, 'row-limit': { type: 'number', default: '40' }, trace: { type: 'string', default: '' },
  export: { type: 'string', default: '' }, torch: { type: 'string', default: '' }, out: { type: 'string', default: '' },
  interleave: { type: 'boolean' }, loads: { type: 'strings', default: 'idle' }, rounds: { type: 'number', default: '15' },
  python: { type: 'string', default: 'python3' },
  // the twin's own options (remote.sh's train-bench passes one command line to both): not used here
  modes: { type: 'string', default: '' }, precisions: { type: 'string', default: '' },
});
const log = (...a: unknown[]) => console.log(...a);

const onGpu = cuda.isAvailable();
const presets = (args.presets.length > 0 ? args.presets : onGpu ? ['cuda', 'real'] : ['cpu']) as PresetName[];
for (const p of presets) if (!PRESET_NAMES.includes(p)) throw new Error(`--presets: expected some of ${PRESET_NAMES.join(', ')}, got ${p}`);
const deviceFor = (p: PresetName) => args.device || (p === 'cpu' || p === 'fast' ? 'cpu' : 'cuda');
const { warmup, steps, amp } = args;
if (!['fused', 'composed', 'both'].includes(args.optimizer)) throw new Error(`--optimizer: expected fused, composed or both, got ${args.optimizer}`);
const optimizers = args.optimizer === 'both' ? [true, false] : [args.optimizer === 'fused'];
if (amp !== '' && amp !== 'bf16') throw new Error(`--amp: expected bf16, got ${amp}`);
if (args['cudnn-benchmark'] && onGpu) setCudnnBenchmark(true);

function machine(device: string): string {
  if (device.startsWith('cuda')) {
    const p = cuda.deviceProperties(device);
    return `GPU ${p.name} (CUDA runtime ${p.runtimeVersion}, driver ${p.driverVersion})`;
  }
  return `CPU: ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}), load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`;
}

function newSetup(p: PresetName, fused: boolean, withAmp: boolean): StepSetup {
  const s = presetSettings(p, deviceFor(p));
  if (s.device.startsWith('cuda') && !onGpu) throw new Error(`preset ${p} runs on ${s.device}, but CUDA is not available: ${cuda.unavailableReason() ?? 'unknown reason'}`);
  return makeSetup(s, { fused, amp: withAmp ? autocastScope('bfloat16', s.device) : null });
}

/** --export DIR: the twin's files for every preset. */
function exportAll(dir: string): void {
  for (const p of presets) {
    const u = newSetup(p, true, false);
    exportForTwin(u, dir, p);
    log(`exported ${describePreset(p, u.settings)} to ${join(dir, p)}`);
    disposeSetup(u);
  }
}

/** The profiler's tables of one step per preset (with --profile), for the Markdown output too. */
const profileTables: string[] = [];

/** Times every preset (and thread count on the CPU); prints the profiler's table on request. */
function timeAll(): KilnRow[] {
  const rows: KilnRow[] = [];
  const threadCounts = args.threads;
  for (const p of presets) {
    for (const fused of optimizers) {
      const label = optimizers.length > 1 && !fused ? `${p} (composed Adam)` : p;
      const precisions = ['float32', ...(amp ? ['bf16'] : [])];
      for (const precision of precisions) {
        const u = newSetup(p, fused, precision === 'bf16');
        const cpu = u.settings.device === 'cpu';
        const counts = cpu ? (threadCounts.length ? threadCounts : [0]) : [0];
        const defaultThreads = cpuThreads();
        for (const t of counts) {
          if (cpu) cpuThreads(t || defaultThreads);
          const r = timeSteps(() => trainStep(u), u.settings.device, warmup, steps);
          const threads = cpu ? cpuThreads() : null;
          rows.push({ preset: label, precision, threads, wallMs: r.wallMs, deviceMs: r.deviceMs });
          log(`[${label}] Kiln ${precision}${cpu ? ` ${String(threads)} thread(s)` : ''}: step ${r.wallMs.toFixed(2)} ms (min ${r.minWallMs.toFixed(2)})` +
            (r.deviceMs !== null ? `, device ${r.deviceMs.toFixed(2)} ms` : '') + `; first-step losses ${r.firstLosses.map((x) => x.toPrecision(6)).join(' / ')}`);
        }
        if (args.profile && fused) {
          if (cpu) cpuThreads(counts[0] || defaultThreads);   // the first timed setting's threads
          const byShape = args['profile-shapes'];
          const prof = profile({ recordShapes: byShape }, () => trainStep(u));
          const title = `The profiler's table of one Kiln ${p} ${precision} step${cpu ? ` on ${cpuThreads()} thread(s)` : ''} (sorted by device time; [names] are ranges):`;
          const table = prof.table({ rowLimit: args['row-limit'], groupByInputShape: byShape });
          log(`\n${title}\n${table}\n`);
          profileTables.push(`${title}\n\n\`\`\`\n${table}\n\`\`\``);
          const traceDir = args.trace;
          if (traceDir) {
            mkdirSync(traceDir, { recursive: true });
            prof.exportChromeTrace(join(traceDir, `train-step-${p}-${precision}.json`));
            log(`wrote ${join(traceDir, `train-step-${p}-${precision}.json`)}`);
          }
        }
        cpuThreads(defaultThreads);
        disposeSetup(u);
      }
    }
  }
  return rows;
}

async function interleave(): Promise<void> {
  const p = presets[0];
  const dir = mkdtempSync(join(tmpdir(), 'kiln-train-'));
  try {
    const precision = amp ? 'bf16' : 'float32';
    const u = newSetup(p, optimizers[0], precision === 'bf16');
    const device = u.settings.device, cpu = device === 'cpu';
    exportForTwin(u, dir, p);
    // on the GPU the thread count and a competing process change little: one condition
    const threads = cpu ? (args.threads.length > 0 ? args.threads : [1, 0]) : [0];
    const loads = cpu ? (args.loads as ('idle' | 'busy')[]) : ['idle' as const];
    log(`${describePreset(p, u.settings)}\n${machine(device)}`);
    const r = await interleaved(u, p, {
      threads, loads, rounds: args.rounds, python: args.python, precision,
      twinArgs: ['--data', dir, '--presets', p, '--device', device, ...(args['cudnn-benchmark'] ? ['--cudnn-benchmark'] : [])],
    });
    if (r.twinError) log(`PyTorch side not run: ${r.twinError}`);
    const on = cpu ? 'on the CPU' : `on ${machine(device)}`;
    const md = interleavedTable(r.rows, [
      `RetinaNet training step ${on}, ${precision === 'bf16' ? 'bfloat16 autocast' : 'float32'}${args['cudnn-benchmark'] ? ', cuDNN benchmark mode on (both sides)' : ''}: ` +
        `Kiln and PyTorch ${r.torch ?? '(missing)'} eager in interleaved rounds (one step each per round, ${args.rounds} rounds after one warm-up round; medians of the host wall time, each step ending with its losses read back)`,
      `- ${describePreset(p, u.settings)}`,
      `- ${machine(device)}; Adam ${optimizers[0] ? 'fused' : 'composed'} in Kiln, PyTorch's ${cpu ? 'for-loop' : 'foreach'} Adam`,
      ...(cpu ? ['- torch.compile: not timed on the CPU here (Debian\'s PyTorch 1.13 has none)'] : []),
      ...(r.check ? [`- same model and batch (the twin loads Kiln's weights and batch): ${r.check}`] : []),
      ...(r.twinError ? [`- PyTorch side not run: ${r.twinError.split('\n').filter((l) => l.trim()).pop() ?? ''}`] : []),
    ]);
    log(`\n${md}`);
    const out = args.out;
    if (out) writeFileSync(out, `${md}\n`);
    disposeSetup(u);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function main(): void {
  const exportDir = args.export;
  if (exportDir) {
    exportAll(exportDir);
    return;
  }
  const dev = deviceFor(presets[0]);
  log(machine(dev));
  for (const p of presets) log(`  ${describePreset(p, presetSettings(p, deviceFor(p)))}`);
  const rows = timeAll();
  const torchFile = args.torch;
  let twin: TwinResults | null = null, twinMissing: string | undefined;
  if (torchFile) {
    try {
      twin = JSON.parse(readFileSync(torchFile, 'utf8')) as TwinResults;
    } catch (e) {
      twinMissing = `no results (${(e as Error).message.split('\n')[0]})`;
    }
  }
  const md = combinedTable(rows, twin, {
    title: `RetinaNet training step (tools/bench/train-step, the example's former model: forward, focal + smooth L1, backward, Adam, losses read back), ${machine(dev)}; medians of ${steps} steps after ${warmup} warm-up; ms per step (host wall) and device ms (CUDA events around the step)${args['cudnn-benchmark'] ? '; cuDNN benchmark mode on (both sides)' : ''}`,
    presets: presets.map((p) => describePreset(p, presetSettings(p, deviceFor(p)))),
    twinMissing,
  });
  log(`\n${md}`);
  const out = args.out;
  if (out) writeFileSync(out, `${[md, ...profileTables].join('\n\n')}\n`);
}

if (args.interleave) await interleave();
else main();
