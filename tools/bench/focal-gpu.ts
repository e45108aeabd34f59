/**
 * Sigmoid focal loss forward + backward on the GPU: Kiln through its public TypeScript API, side
 * by side with PyTorch's alternatives measured in the same run (tools/bench/torch_focal.py writes
 * their timings and a cross-check set first). Reduction 'mean', gamma 2, alpha 0.25, C = 80.
 *
 * On the GPU machine (see docs/gpu-machine.md), in one call:
 *   python3 tools/bench/torch_focal.py --export-check /tmp/check --json /tmp/torch.json
 *   node --conditions=@kiln/source --import tsx tools/bench/focal-gpu.ts \
 *        --torch /tmp/torch.json --check /tmp/check --out $OUT/benchmarks-gpu.md
 *
 * Timing: CUDA events around each forward+backward step, after warm-up; the median of --reps steps;
 * input sets rotate so their total exceeds twice the L2 cache. Effective bandwidth counts the bytes
 * the op cannot avoid: logits read + gradient written. Every size is checked against a float64
 * computation before it is timed, and Kiln is checked against each PyTorch implementation's output
 * on the shared cross-check set.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type DType, type Tensor, checkDType, empty, fromTypedArray, rand, randint, randn, synchronize, where } from '@kiln/tensor';
import '@kiln/autograd';
import { cuda } from '@kiln/cuda';
import { sigmoidFocalLoss } from '@kiln/losses';
import { parseOptions } from './cli-options.js';

const options = parseOptions(process.argv.slice(2), {
  sizes: { type: 'numbers', default: '20000,200000,1600000' },
  dtypes: { type: 'strings', default: 'float32,bfloat16' },
  reps: { type: 'number', default: '50' },
  warmup: { type: 'number', default: '10' },
  'no-big': { type: 'boolean' },
  torch: { type: 'string', default: '' },
  check: { type: 'string', default: '' },
  out: { type: 'string', default: '' },
  /** 'cpu' smoke-tests the script where no GPU exists (host timers instead of CUDA events) */
  device: { type: 'string', default: 'cuda' },
});
if (options.device !== 'cuda' && options.device !== 'cpu') throw new Error(`--device: expected cuda or cpu, got '${options.device}'`);
const args = { ...options, dtypes: options.dtypes.map((d) => checkDType('focal-gpu', '--dtypes', d)), big: !options['no-big'], device: options.device };
const C = 80;
const L2_BYTES = 50 * 2 ** 20;

const log = (...a: unknown[]) => console.log(...a);
const DEV = args.device;

/** CUDA events on the GPU; host time after a synchronisation on the CPU smoke test. */
class Mark {
  private ev = DEV === 'cuda' ? new cuda.Event() : null;
  private t = 0;
  record(): this {
    if (this.ev) this.ev.record();
    else this.t = performance.now();
    return this;
  }
  elapsedTime(end: Mark): number {
    return this.ev ? this.ev.elapsedTime(end.ev!) : end.t - this.t;
  }
  dispose(): void {
    this.ev?.dispose();
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

interface InputSet {
  logits: Tensor;
  labels: Tensor;
}

/** Logits randn * 3; ~10% of rows foreground (classes 1..C, the background first), the rest background. */
function makeSet(n: number, dtype: DType, seed: number): InputSet {
  const logits = randn([n, C], { device: DEV, seed }).mul(3).to(dtype).requiresGrad_();
  const fg = rand([n], { device: DEV, seed: seed + 1 }).lt(0.1);
  const cls = randint(1, C + 1, [n], { device: DEV, seed: seed + 2 });
  const labels = where(fg, cls, 0);
  return { logits, labels };
}

function step(s: InputSet): Tensor {
  s.logits.grad?.dispose();
  s.logits.grad = null;
  const loss = sigmoidFocalLoss(s.logits, s.labels, { gamma: 2, alpha: 0.25, reduction: 'mean' });
  loss.backward();
  return loss;
}

/** Max |a - b| / max |b| over two tensors of one shape (b the reference). */
function relMaxErr(a: Tensor, b: Tensor): number {
  const num = a.to('float64').sub(b.to('float64')).abs().amax().item();
  const den = b.to('float64').abs().amax().item();
  return num / Math.max(den, 1e-300);
}

/** Loss and gradient in float64 on the GPU, from the same logits. */
function float64Reference(s: InputSet): { loss: number; grad: Tensor } {
  const x = s.logits.detach().to('float64').requiresGrad_();
  const loss = sigmoidFocalLoss(x, s.labels, { gamma: 2, alpha: 0.25, reduction: 'mean', fusedGrad: false });
  loss.backward();
  return { loss: loss.item(), grad: x.grad! };
}

/** (bytes read + written) / median time of `op` over float32 operands of 1 GiB (GPU) each. */
function bandwidthGBps(op: (x: Tensor, y: Tensor) => Tensor, operandsTouched: number): number {
  const n = DEV === 'cuda' ? 2 ** 28 : 2 ** 22;
  const x = empty([n], { device: DEV }).fill_(1), y = empty([n], { device: DEV }).fill_(1);
  const times: number[] = [];
  for (let i = 0; i < 12; i++) {
    const a = new Mark().record();
    const out = op(x, y);
    const b = new Mark().record();
    times.push(a.elapsedTime(b));
    out.dispose();
  }
  x.dispose();
  y.dispose();
  return (operandsTouched * 4 * n) / (median(times.slice(2)) * 1e-3) / 1e9;
}
const copyBandwidthGBps = () => bandwidthGBps((x) => x.clone(), 2);

interface Row {
  impl: string;
  dtype: string;
  n: number;
  ms: number;
  gbps: number;
  hostUs?: number;
  check: string;
}

function timeKiln(n: number, dtype: DType, copyGBps: number): Row {
  const itemsize = dtype === 'float32' ? 4 : 2;
  const perSet = n * C * itemsize + n * 8;
  const count = Math.max(2, Math.ceil((2 * L2_BYTES) / perSet));
  const sets = Array.from({ length: count }, (_, i) => makeSet(n, dtype, 100 + 10 * i));
  // check before timing
  const loss = step(sets[0]).item();
  const ref = float64Reference(sets[0]);
  const lossErr = Math.abs(loss - ref.loss) / Math.abs(ref.loss);
  const gradErr = relMaxErr(sets[0].logits.grad!, ref.grad);
  const tol = dtype === 'float32' ? 1e-5 : 1e-2;
  const ok = lossErr <= tol && gradErr <= tol;
  ref.grad.dispose();
  for (let i = 0; i < args.warmup; i++) step(sets[i % count]).dispose();
  synchronize(DEV);
  // device time: events around each step, the median
  const events = Array.from({ length: args.reps }, () => [new Mark(), new Mark()] as const);
  for (let i = 0; i < args.reps; i++) {
    events[i][0].record();
    const l = step(sets[i % count]);
    events[i][1].record();
    l.dispose();
  }
  synchronize(DEV);
  const ms = median(events.map(([a, b]) => a.elapsedTime(b)));
  // the whole call as a caller sees it, TypeScript included: wall time of back-to-back steps
  // (no events) until the device is done, per step; the median of 5 such runs
  const wall: number[] = [];
  for (let run = 0; run < 5; run++) {
    const t0 = performance.now();
    for (let i = 0; i < args.reps; i++) step(sets[i % count]).dispose();
    synchronize(DEV);
    wall.push(((performance.now() - t0) / args.reps) * 1e3);
  }
  const hostUs = median(wall);
  for (const [a, b] of events) { a.dispose(); b.dispose(); }
  for (const s of sets) { s.logits.grad?.dispose(); s.logits.dispose(); s.labels.dispose(); }
  const gbps = (2 * n * C * itemsize) / (ms * 1e-3) / 1e9;
  log(`  kiln ${dtype} N=${n}: ${ms.toFixed(3)} ms (whole call ${hostUs.toFixed(1)} µs), ${gbps.toFixed(0)} GB/s = ${(100 * gbps / copyGBps).toFixed(0)}% of copy; loss err ${lossErr.toExponential(1)} grad err ${gradErr.toExponential(1)} ${ok ? 'ok' : 'CHECK FAILED'}`);
  return { impl: 'kiln', dtype, n, ms, gbps, hostUs, check: `${lossErr.toExponential(1)} / ${gradErr.toExponential(1)}${ok ? '' : ' FAIL'}` };
}

/** > 2^31 elements: the 64-bit paths. The full sum must equal the sums of two halves (each < 2^31,
 * the 32-bit paths), and gradient rows past element 2^31 must equal the half's gradient rows. */
function bigCase(dtype: DType): Row {
  const n = Math.floor(2 ** 31 / C) + 1024;
  const s = makeSet(n, dtype, 7);
  const half = Math.floor(n / 2);
  const sumOf = (x: Tensor, t: Tensor) => sigmoidFocalLoss(x, t, { reduction: 'sum' }).to('float64').item();
  const x = s.logits.detach();
  const whole = sumOf(x, s.labels);
  const parts = sumOf(x.narrow(0, 0, half), s.labels.narrow(0, 0, half)) + sumOf(x.narrow(0, half, n - half), s.labels.narrow(0, half, n - half));
  const sumErr = Math.abs(whole - parts) / Math.abs(parts);
  step(s);
  const tailRows = 64;
  const xt = s.logits.detach().narrow(0, n - tailRows, tailRows).requiresGrad_();
  sigmoidFocalLoss(xt, s.labels.narrow(0, n - tailRows, tailRows), { reduction: 'sum' }).backward();
  // the full mean's gradient = the sum's gradient / (valid rows × C); every row is valid here
  const gradErr = relMaxErr(s.logits.grad!.narrow(0, n - tailRows, tailRows).mul(n * C), xt.grad!);
  const tol = dtype === 'float32' ? 1e-4 : 2e-2;
  const ok = sumErr <= tol && gradErr <= tol;
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    const a = new Mark().record();
    step(s).dispose();
    const b = new Mark().record();
    times.push(a.elapsedTime(b));
  }
  const ms = median(times.slice(1));
  const itemsize = dtype === 'float32' ? 4 : 2;
  const gbps = (2 * n * C * itemsize) / (ms * 1e-3) / 1e9;
  log(`  kiln ${dtype} N=${n} (${(n * C / 2 ** 31).toFixed(3)} × 2^31 elements): ${ms.toFixed(3)} ms, ${gbps.toFixed(0)} GB/s; halves-sum err ${sumErr.toExponential(1)}, tail grad err ${gradErr.toExponential(1)} ${ok ? 'ok' : 'CHECK FAILED'}`);
  s.logits.grad?.dispose();
  s.logits.dispose();
  s.labels.dispose();
  return { impl: 'kiln', dtype, n, ms, gbps, check: `${sumErr.toExponential(1)} / ${gradErr.toExponential(1)}${ok ? '' : ' FAIL'}` };
}

/** Kiln against PyTorch's outputs on the exported cross-check set. */
function crossCheck(dir: string): string[] {
  const meta = JSON.parse(readFileSync(join(dir, 'check.json'), 'utf8')) as { n: number; c: number; refLoss: number; losses: Record<string, number> };
  const f32 = (p: string) => new Float32Array(new Uint8Array(readFileSync(join(dir, p))).buffer);
  const logits = fromTypedArray(f32('logits.f32'), [meta.n, meta.c]);
  const labels = fromTypedArray(new BigInt64Array(new Uint8Array(readFileSync(join(dir, 'labels.i64'))).buffer), [meta.n]);
  const refGrad = fromTypedArray(new Float64Array(new Uint8Array(readFileSync(join(dir, 'ref_grad.f64'))).buffer), [meta.n, meta.c]);
  const lines: string[] = [];
  for (const dtype of ['float32', 'bfloat16'] as DType[]) {
    const x = logits.to({ device: DEV, dtype }).detach().requiresGrad_();
    const loss = sigmoidFocalLoss(x, labels.to(DEV));
    loss.backward();
    const kLoss = loss.to('float64').item();
    const kGrad = x.grad!.to({ device: 'cpu', dtype: 'float64' });
    lines.push(`kiln ${dtype} vs float64 reference: loss ${(Math.abs(kLoss - meta.refLoss) / meta.refLoss).toExponential(1)}, grad ${relMaxErr(kGrad, refGrad).toExponential(1)}`);
    for (const [impl, l] of Object.entries(meta.losses)) {
      const g = fromTypedArray(f32(`grad_${impl}.f32`), [meta.n, meta.c]);
      lines.push(`kiln ${dtype} vs ${impl} (float32): loss ${(Math.abs(kLoss - l) / Math.abs(l)).toExponential(1)}, grad ${relMaxErr(kGrad, g).toExponential(1)}`);
    }
  }
  for (const l of lines) log(`  ${l}`);
  return lines;
}

/** What the PyTorch twin (--torch) writes. */
interface TorchFile {
  torch: string;
  torchvision: string;
  copyBandwidthGBps?: number | null;
  elementwiseGBps?: { mul: number; add: number };
  results: { impl: string; dtype: string; n: number; medianMs: number; gbps: number; lossRelErr: number; gradRelErr: number; checkOk: boolean }[];
}

function main(): void {
  if (DEV === 'cuda' && !cuda.isAvailable()) {
    log(`CUDA is not available: ${cuda.unavailableReason() ?? 'unknown reason'}`);
    process.exit(1);
  }
  const props = DEV === 'cuda' ? cuda.deviceProperties(0) : { name: 'CPU (smoke test)', multiProcessorCount: 0, runtimeVersion: 0, driverVersion: 0 };
  log(`device ${props.name}, ${props.multiProcessorCount} SMs, CUDA runtime ${props.runtimeVersion}, driver ${props.driverVersion}`);
  const copyGBps = copyBandwidthGBps();
  log(`device-to-device copy through Kiln's copy kernel: ${copyGBps.toFixed(0)} GB/s (read + write)`);
  const elementwise = { mul: bandwidthGBps((x) => x.mul(2), 2), add: bandwidthGBps((x, y) => x.add(y), 3) };
  log(`elementwise float32: x * 2 ${elementwise.mul.toFixed(0)} GB/s, x + y ${elementwise.add.toFixed(0)} GB/s (read + write)`);
  const checks = args.check ? crossCheck(args.check) : [];
  const rows: Row[] = [];
  for (const dtype of args.dtypes) {
    for (const n of args.sizes) rows.push(timeKiln(n, dtype, copyGBps));
  }
  if (args.big) for (const dtype of args.dtypes) rows.push(bigCase(dtype));

  const torch = args.torch ? (JSON.parse(readFileSync(args.torch, 'utf8')) as TorchFile) : null;
  const torchCopy = torch?.copyBandwidthGBps;
  const refCopy = torchCopy ?? copyGBps;
  const table = ['| impl | dtype | N | median ms (device) | GB/s | of copy | × Kiln time | whole call µs (host) | check (loss / grad rel. err.) |', '|---|---|---:|---:|---:|---:|---:|---:|---|'];
  const kilnMs = new Map(rows.map((r) => [`${r.dtype}/${r.n}`, r.ms]));
  const all: Row[] = [...rows];
  for (const r of torch?.results ?? []) {
    all.push({ impl: `torch ${r.impl}`, dtype: r.dtype, n: r.n, ms: r.medianMs, gbps: r.gbps, check: `${r.lossRelErr.toExponential(1)} / ${r.gradRelErr.toExponential(1)}${r.checkOk ? '' : ' FAIL'}` });
  }
  all.sort((a, b) => a.dtype.localeCompare(b.dtype) || a.n - b.n || (a.impl === 'kiln' ? -1 : b.impl === 'kiln' ? 1 : a.impl.localeCompare(b.impl)));
  for (const r of all) {
    const k = kilnMs.get(`${r.dtype}/${r.n}`);
    table.push(`| ${r.impl} | ${r.dtype} | ${r.n} | ${r.ms.toFixed(3)} | ${r.gbps.toFixed(0)} | ${((100 * r.gbps) / refCopy).toFixed(0)}% | ${k ? (r.ms / k).toFixed(2) : '-'} | ${r.hostUs ? r.hostUs.toFixed(0) : '-'} | ${r.check} |`);
  }
  const md = [
    `GPU: ${props.name}; Kiln (CUDA runtime ${props.runtimeVersion}, driver ${props.driverVersion})` + (torch ? `; PyTorch ${torch.torch}, torchvision ${torch.torchvision}` : ''),
    `Sigmoid focal loss forward + backward, reduction 'mean', gamma 2, alpha 0.25, C = ${C}; bytes = logits read + gradient written;`,
    `copy bandwidth ${refCopy.toFixed(0)} GB/s (${torchCopy ? 'PyTorch copy_' : "Kiln's copy kernel"}); Kiln's copy kernel: ${copyGBps.toFixed(0)} GB/s.`,
    `Elementwise float32 over 1 GiB operands (read + write GB/s): x * 2 Kiln ${elementwise.mul.toFixed(0)}` +
      (torch?.elementwiseGBps ? `, PyTorch ${torch.elementwiseGBps.mul.toFixed(0)} (${((100 * elementwise.mul) / torch.elementwiseGBps.mul).toFixed(0)} %)` : '') +
      `; x + y Kiln ${elementwise.add.toFixed(0)}` +
      (torch?.elementwiseGBps ? `, PyTorch ${torch.elementwiseGBps.add.toFixed(0)} (${((100 * elementwise.add) / torch.elementwiseGBps.add).toFixed(0)} %)` : '') + '.',
    '',
    ...table,
    '',
    ...(checks.length ? ['Cross-check on one shared input set (N = 4096):', '', ...checks.map((l) => `- ${l}`)] : []),
  ].join('\n');
  log(`\n${md}`);
  if (args.out) writeFileSync(args.out, `${md}\n`);
}

main();
