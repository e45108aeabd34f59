/**
 * Kiln's side of the @kiln/vision benchmark: NMS, batched NMS over 80 classes and RoI Align
 * forward + backward on the inputs tools/bench/vision_torch.py saved, timed the same way (device
 * events, warm-up, median), checked against torchvision's results, and printed side by side with
 * torchvision's timings from the same device call (a markdown table, also written to
 * $OUT/vision-bench.md when $OUT is set).
 *
 *   bash tools/gpu/remote.sh 'py:tools/bench/vision_torch.py' 'bench:tools/bench/vision-gpu.ts'   # the GPU machine
 *   node --conditions=@kiln/source --import tsx tools/bench/vision-gpu.ts --device cpu                # here, after vision_torch.py --device cpu
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type DType, type Tensor, fromTypedArray, synchronize, tidy } from '@kiln/tensor';
import '@kiln/autograd';
import { cuda } from '@kiln/cuda';
import { batchedNms, nms, roiAlign } from '@kiln/vision';
import { parseOptions } from './cli-options.js';

const args = parseOptions(process.argv.slice(2), {
  device: { type: 'string', default: 'cuda' },
  dir: { type: 'string', default: '/tmp/kiln-vision-bench' },
  reps: { type: 'number', default: '30' },
  warmup: { type: 'number', default: '5' },
});
if (args.device !== 'cuda' && args.device !== 'cpu') throw new Error(`--device: expected 'cuda' or 'cpu', got '${args.device}'`);
const DEV: 'cuda' | 'cpu' = args.device;
const DIR = args.dir;
const REPS = args.reps;
const WARMUP = args.warmup;

interface TorchRow {
  case: string;
  ms: number;
  kept?: number;
}
const torchInfo = JSON.parse(readFileSync(join(DIR, 'torch.json'), 'utf8')) as { torch: string; torchvision: string; device: string; gpu: string | null; threads: number; rows: TorchRow[] };

/** A saved array as a tensor of `shape` on the device. */
function load(name: string, dtype: DType, shape: number[]): Tensor {
  const buf = readFileSync(join(DIR, `${name}.bin`));
  const bytes = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
  const data = dtype === 'int64' ? new BigInt64Array(bytes) : new Float32Array(bytes);
  return fromTypedArray(data, shape).to(DEV);
}

/** A saved int64 list of any length. */
const loadIndices = (name: string): Tensor => load(name, 'int64', [readFileSync(join(DIR, `${name}.bin`)).byteLength / 8]);

/** CUDA events on the GPU; host time after a synchronisation on the CPU. */
function timed(fn: () => void): number {
  for (let i = 0; i < WARMUP; i++) tidy(fn);
  synchronize(DEV);
  const times: number[] = [];
  for (let i = 0; i < REPS; i++) {
    if (DEV === 'cuda') {
      const a = new cuda.Event(), b = new cuda.Event();
      a.record();
      tidy(fn);
      b.record();
      times.push(a.elapsedTime(b));
      a.dispose();
      b.dispose();
    } else {
      const t0 = performance.now();
      tidy(fn);
      synchronize(DEV);
      times.push(performance.now() - t0);
    }
  }
  return [...times].sort((x, y) => x - y)[Math.floor(times.length / 2)];
}

const sameIndices = (a: Tensor, b: Tensor): boolean => a.numel === b.numel && (a.numel === 0 || a.eq(b).all().item<'bool'>());
function maxRelErr(a: Tensor, b: Tensor): number {
  return tidy(() => a.sub(b).abs().amax().item() / Math.max(b.abs().amax().item(), 1e-30));
}

const rows: { case: string; kiln: number; check: string }[] = [];
for (const n of [1000, 5000, 10000]) {
  const boxes = load(`boxes_${n}`, 'float32', [n, 4]), scores = load(`scores_${n}`, 'float32', [n]), classes = load(`classes_${n}`, 'int64', [n]);
  const keep = nms(boxes, scores, 0.5), want = loadIndices(`nms_keep_${n}`);
  rows.push({ case: `nms N=${n}`, kiln: timed(() => void nms(boxes, scores, 0.5)), check: sameIndices(keep, want) ? `same ${keep.numel} kept` : `DIFFERENT: ${keep.numel} kept vs ${want.numel}` });
  const bkeep = batchedNms(boxes, scores, classes, 0.5), bwant = loadIndices(`batched_keep_${n}`);
  rows.push({ case: `batched_nms N=${n}, 80 classes`, kiln: timed(() => void batchedNms(boxes, scores, classes, 0.5)), check: sameIndices(bkeep, bwant) ? `same ${bkeep.numel} kept` : `DIFFERENT: ${bkeep.numel} kept vs ${bwant.numel}` });
}

const features = load('features', 'float32', [2, 256, 200, 200]);
const x = features.requiresGrad_();
for (const k of [128, 512, 2048]) {
  const rois = load(`rois_${k}`, 'float32', [k, 5]), grad = load(`grad_${k}`, 'float32', [k, 256, 7, 7]);
  const opts = { outputSize: 7, spatialScale: 0.25, samplingRatio: 2, aligned: false };
  const step = () => {
    x.grad?.dispose();
    x.grad = null;
    roiAlign(x, rois, opts).backward(grad);
  };
  let check = '';
  if (k === 512) {
    const y = roiAlign(x.detach(), rois, opts);
    const wantY = load(`roi_out_${k}`, 'float32', [k, 256, 7, 7]), wantG = load(`roi_grad_${k}`, 'float32', [2, 256, 200, 200]);
    step();
    check = `max rel err: output ${maxRelErr(y, wantY).toExponential(1)}, gradient ${maxRelErr(x.grad!, wantG).toExponential(1)}`;
  }
  rows.push({ case: `roi_align forward K=${k}`, kiln: timed(() => void roiAlign(x.detach(), rois, opts)), check });
  rows.push({ case: `roi_align forward+backward K=${k}`, kiln: timed(step), check: '' });
}

const torchMs = new Map(torchInfo.rows.map((r) => [r.case, r.ms]));
const where = DEV === 'cuda' ? (torchInfo.gpu ?? 'an unnamed GPU') : `CPU, ${torchInfo.threads} threads`;
const lines = [
  `Kiln vs torchvision ${torchInfo.torchvision} (torch ${torchInfo.torch}) on ${where}: median of ${REPS} calls after ${WARMUP} warm-up, ${DEV === 'cuda' ? 'CUDA events' : 'host timer'}; float32.`,
  '',
  '| case | torchvision ms | Kiln ms | Kiln / torchvision | check (Kiln vs torchvision) |',
  '|---|---:|---:|---:|---|',
  ...rows.map((r) => {
    const t = torchMs.get(r.case);
    return `| ${r.case} | ${t?.toFixed(3) ?? '-'} | ${r.kiln.toFixed(3)} | ${t ? (r.kiln / t).toFixed(2) : '-'} | ${r.check} |`;
  }),
];
console.log(lines.join('\n'));
if (process.env.OUT) writeFileSync(join(process.env.OUT, 'vision-bench.md'), `${lines.join('\n')}\n`);
synchronize(DEV);
