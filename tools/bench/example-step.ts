/**
 * The RetinaNet example's own training step (examples/retinanet: @kiln/vision's ResNet-FPN
 * RetinaNet, its losses and matching on the device, Adam), timed on one batch made ahead, so that
 * the table shows the model's step without the batch making (tools/bench/batch-pool.ts times that).
 * Each row: median host wall time per step (the step ends with both losses read back) and median
 * device time (CUDA events around the step), for each precision asked for; --profile prints the
 * profiler's table of one more step per precision.
 *
 *   node --conditions=@kiln/source --import tsx tools/bench/example-step.ts [--preset cuda]
 *        [--precisions float32,tf32,bf16] [--steps 10] [--warmup 3] [--batch N] [--head-norm G] [--device cpu] [--cudnn-benchmark]
 *        [--profile] [--profile-shapes] [--row-limit 40] [--sort-by deviceTotal|calls|hostTotal|...]
 *        [--torch FILE] [--out FILE]
 *
 * Beside PyTorch (tools/bench/example_twin.py, torchvision's RetinaNet on the same weights and batch):
 *
 *   node ... tools/bench/example-step.ts --export /tmp/ex-twin          # weights, batch, settings; exits
 *   python3 tools/bench/example_twin.py --data /tmp/ex-twin --precisions float32,tf32,bf16 --json /tmp/ex-twin/torch.json
 *   node ... tools/bench/example-step.ts --precisions float32,tf32,bf16 --torch /tmp/ex-twin/torch.json --out table.md
 *
 * Precisions: float32 (float32 throughout: the example's --no-tf32), tf32 (float32 with TF32
 * tensor cores for matmul and convolution, setFloat32MatmulPrecision('high'): the cuda preset's
 * default), bf16 and fp16 (the example's --amp: autocast, fp16 with a GradScaler; the PyTorch
 * twin times float32, tf32 and bf16).
 */
import { cuda, setCudnnBenchmark } from '@kiln/cuda';
import { type Float32MatmulPrecision, type ProfileSortKey, profile, setFloat32MatmulPrecision } from '@kiln/tensor';
import { Adam, GradScaler } from '@kiln/optim';
import { PRESETS, type Settings } from '../../examples/retinanet/config.js';
import { prepareBatch } from '../../examples/retinanet/batches.js';
import { FOCAL } from '../../examples/retinanet/loss.js';
import { type StepParts, batchSpecOf, buildModel, disposeDetector, trainOnBatch } from '../../examples/retinanet/train.js';
import { readFileSync, writeFileSync } from 'node:fs';
import { parseOptions } from './cli-options.js';
import { exportExampleForTwin } from './example-twin-export.js';
import { timeSteps } from './train-step/kiln-step.js';
import { type KilnRow, type TwinResults, combinedTable } from './train-step/table.js';

const PRECISIONS = ['float32', 'tf32', 'bf16', 'fp16'] as const;
type Precision = (typeof PRECISIONS)[number];

const args = parseOptions(process.argv.slice(2), {
  preset: { type: 'string', default: 'cuda' },
  precisions: { type: 'strings', default: 'float32,bf16' },
  steps: { type: 'number', default: '10' },
  warmup: { type: 'number', default: '3' },
  batch: { type: 'number', default: '0' },
  'head-norm': { type: 'number', default: '-1' },
  device: { type: 'string', default: '' },
  'cudnn-benchmark': { type: 'boolean' },
  profile: { type: 'boolean' },
  'profile-shapes': { type: 'boolean' },
  'row-limit': { type: 'number', default: '40' },
  'sort-by': { type: 'string', default: 'deviceTotal' },
  export: { type: 'string', default: '' },
  // the twin's (example_twin.py, remote.sh's example-bench passes both one command line): left to it
  modes: { type: 'string', default: '' },
  torch: { type: 'string', default: '' },
  out: { type: 'string', default: '' },
});
if (!(args.preset in PRESETS)) throw new Error(`--preset: expected fast, cpu or cuda, got ${args.preset}`);
for (const p of args.precisions) if (!(PRECISIONS as readonly string[]).includes(p)) throw new Error(`--precisions: expected some of ${PRECISIONS.join(', ')}, got ${p}`);
if (!(args.steps >= 1 && args.warmup >= 1)) throw new Error('--steps and --warmup: expected at least 1 each');

const base = PRESETS[args.preset as keyof typeof PRESETS]();
if (args.batch > 0) base.batchSize = args.batch;
if (args['head-norm'] >= 0) base.model.headGroupNorm = args['head-norm'] || undefined;     // GroupNorm groups in the head (0: none)
if (args.device) base.device = args.device;      // e.g. the cuda preset on the CPU, to count its ops
if (base.device.startsWith('cuda') && !cuda.isAvailable()) throw new Error(`preset ${args.preset} runs on CUDA, which is not available: ${cuda.unavailableReason() ?? 'unknown reason'}`);
if (args['cudnn-benchmark']) setCudnnBenchmark(true);

/** The step's parts for one precision: the seed-0 focal detector, Adam, a GradScaler for fp16. */
function partsFor(precision: Precision): StepParts {
  const settings: Settings = { ...base, amp: precision === 'bf16' ? 'bf16' : precision === 'fp16' ? 'fp16' : undefined };
  const model = buildModel(settings, FOCAL, 0).train();
  return { model, trainee: model, optimizer: new Adam(model.parameters(), { lr: settings.lr }), scaler: precision === 'fp16' ? new GradScaler() : null, settings };
}

function freeParts(p: StepParts): void {
  p.optimizer.disposeState();
  disposeDetector(p.model);
}

const dev = base.device;
const onCuda = dev.startsWith('cuda');
const batch = prepareBatch(batchSpecOf(base), 0);
const s = base.scenes;
if (args.export) {
  const l = exportExampleForTwin(base, batch, args.export);
  console.log(`exported the seed-0 focal detector, one batch of ${base.batchSize} images and the settings to ${args.export} (Kiln's float32 losses at these weights: ${l.classification} / ${l.box})`);
  process.exit(0);
}
console.log(`example step: preset ${args.preset}, ${base.batchSize} images of 3×${s.imageSize}×${s.imageSize}, model ${JSON.stringify(base.model)}, ` +
  `${onCuda ? cuda.deviceProperties(dev).name : 'cpu'}; cuDNN benchmark mode ${args['cudnn-benchmark'] ? 'on' : 'off'}; medians of ${args.steps} steps after ${args.warmup} warm-up`);

const rows: string[][] = [];
const kilnRows: KilnRow[] = [];
for (const precision of args.precisions as Precision[]) {
  const matmul: Float32MatmulPrecision = precision === 'tf32' ? 'high' : 'highest';
  setFloat32MatmulPrecision(matmul);
  const parts = partsFor(precision);
  const r = timeSteps(() => trainOnBatch(parts, batch), dev, args.warmup, args.steps);
  kilnRows.push({ preset: args.preset, precision, threads: null, wallMs: r.wallMs, deviceMs: r.deviceMs });
  rows.push([precision, r.wallMs.toFixed(2), r.minWallMs.toFixed(2), r.deviceMs !== null ? r.deviceMs.toFixed(2) : '-', r.firstLosses.map((x) => x.toPrecision(5)).join(' / ')]);
  console.log(`[${precision}] step ${rows.at(-1)![1]} ms (min ${rows.at(-1)![2]}), device ${rows.at(-1)![3]} ms; first-step losses ${rows.at(-1)![4]}`);
  if (args.profile) {
    const shapes = args['profile-shapes'];
    const prof = profile({ recordShapes: shapes }, () => trainOnBatch(parts, batch));
    console.log(`\nThe profiler's table of one ${precision} step (sorted by ${args['sort-by']}):\n${prof.table({ rowLimit: args['row-limit'], groupByInputShape: shapes, sortBy: args['sort-by'] as ProfileSortKey })}\n`);
  }
  freeParts(parts);
  setFloat32MatmulPrecision('highest');
}

const header = ['precision', 'step ms (median)', 'min ms', 'device ms', 'first-step losses (cls / box)'];
console.log(`\n| ${header.join(' | ')} |\n|${header.map(() => '---').join('|')}|`);
for (const r of rows) console.log(`| ${r.join(' | ')} |`);

if (args.torch) {
  const twin = JSON.parse(readFileSync(args.torch, 'utf8')) as TwinResults;
  const table = combinedTable(kilnRows, twin, {
    title: `The RetinaNet example's training step (${base.batchSize} images of 3×${s.imageSize}×${s.imageSize}, preset ${args.preset}), Kiln and torchvision's RetinaNet on the same weights and batch, ` +
      `${onCuda ? cuda.deviceProperties(dev).name : 'cpu'}; medians of ${args.steps} steps (Kiln) after ${args.warmup} warm-up`,
    presets: [`${args.preset}: ${JSON.stringify(base.model)}`],
  });
  console.log(`\n${table}`);
  if (args.out) writeFileSync(args.out, `${table}\n`);
}
