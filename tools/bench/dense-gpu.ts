/**
 * Dense compute on the GPU: matmul and conv2d through Kiln's public API, side by side with PyTorch
 * measured in the same device call (tools/bench/torch_dense.py writes its timings first), and Kiln's
 * own kernels (the libraries switched off) for reference.
 *
 *   matmul  n x n @ n x n for n in --sizes (1024, 4096): float32 (precision 'highest'), TF32
 *           (float32 at precision 'high') and bfloat16
 *   conv    3x3, padding 1, x [16, 256, 64, 64], weight [256, 256, 3, 3]: forward, and forward +
 *           backward (input and weight gradients through autograd), float32 (no TF32) and
 *           bfloat16, with cuDNN's benchmark mode off and on (PyTorch's cudnn.benchmark matched)
 *   sum     float32 sums as the training step makes them: over [0, 2, 3] of the convolutions'
 *           output gradients (their bias gradients) at the benchmark model's shapes, and over the
 *           last dim and over everything of [8, 256, 64, 64]; effective GB/s count the bytes read
 *
 * On the GPU machine (docs/gpu-machine.md): `bash tools/gpu/remote.sh dense-bench`, which runs
 *   python3 tools/bench/torch_dense.py --json /tmp/torch-dense.json
 *   node --conditions=@kiln/source --import tsx tools/bench/dense-gpu.ts --torch /tmp/torch-dense.json --out $OUT/dense-gpu.md
 *
 * Timing: CUDA events around each call after --warmup calls, the median of --reps. Every case is
 * checked against a float64 computation on the GPU before it is timed (max |error| / max |reference|).
 * `--device cpu` with small `--sizes` and `--conv N,C,H,W,O` rehearses the script where no GPU is
 * (host timers), e.g. against `torch_dense.py --device cpu` with the same sizes.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { type DType, type Tensor, conv2d, conv2dBackwardInput, conv2dBackwardWeight, matmul, randn, setFloat32MatmulPrecision, synchronize, tidy } from '@kiln/tensor';
import '@kiln/autograd';
import { cuda, cudaLibraries, setCudnnBenchmark, setLibraryEnabled } from '@kiln/cuda';
import { parseOptions } from './cli-options.js';

const args = parseOptions(process.argv.slice(2), {
  sizes: { type: 'numbers', default: '1024,4096' },
  warmup: { type: 'number', default: '5' },
  reps: { type: 'number', default: '20' },
  torch: { type: 'string', default: '' },
  out: { type: 'string', default: '' },
  device: { type: 'string', default: 'cuda' },
  conv: { type: 'numbers', default: '16,256,64,64,256' },
});
if (args.device !== 'cuda' && args.device !== 'cpu') throw new Error(`--device: expected 'cuda' or 'cpu', got '${args.device}'`);
if (args.conv.length !== 5) throw new Error(`--conv: expected 5 sizes N,C,H,W,O, got '${args.conv.join(',')}'`);
const DEV: 'cuda' | 'cpu' = args.device;
const [CN, CC, CH, CW, CO] = args.conv as [number, number, number, number, number];
const X_SHAPE = [CN, CC, CH, CW], W_SHAPE = [CO, CC, 3, 3], Y_SHAPE = [CN, CO, CH, CW];
const CONV_FLOPS = 2 * CN * CO * CC * 9 * CH * CW;
const log = (...a: unknown[]) => console.log(...a);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function timeMs(fn: () => void, warmup = args.warmup, reps = args.reps): number {
  for (let i = 0; i < warmup; i++) fn();
  synchronize(DEV);
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    if (DEV === 'cpu') {
      const t0 = performance.now();
      fn();
      times.push(performance.now() - t0);
      continue;
    }
    const a = new cuda.Event(), b = new cuda.Event();
    a.record();
    fn();
    b.record();
    times.push(a.elapsedTime(b));
    a.dispose();
    b.dispose();
  }
  return median(times);
}

/** max |a - b| / max |b| (b the float64 reference). */
function relErr(a: Tensor, b: Tensor): number {
  const d = a.to('float64').sub(b).abs().amax().item();
  return d / Math.max(b.abs().amax().item(), 1e-300);
}

interface Row {
  op: string;
  config: string;
  size: string;
  mode: string;
  benchmark: boolean | null;
  ms: number;
  tflops: number;
  ownMs?: number;
  err: string;
}

/** Runs `fn` with the dense libraries switched off (Kiln's own kernels), then back on. */
function withOwnKernels<T>(fn: () => T): T {
  setLibraryEnabled('cublasLt', false);
  setLibraryEnabled('cudnn', false);
  try {
    return fn();
  } finally {
    setLibraryEnabled('cublasLt', true);
    setLibraryEnabled('cudnn', true);
  }
}

function matmulRows(): Row[] {
  const rows: Row[] = [];
  for (const n of args.sizes) {
    for (const config of ['float32', 'tf32', 'bfloat16'] as const) {
      const dtype: DType = config === 'bfloat16' ? 'bfloat16' : 'float32';
      setFloat32MatmulPrecision(config === 'tf32' ? 'high' : 'highest');
      const a = randn([n, n], { device: DEV, seed: n }).to(dtype), b = randn([n, n], { device: DEV, seed: n + 1 }).to(dtype);
      const ref = matmul(a.to('float64'), b.to('float64'));
      const err = relErr(matmul(a, b), ref);
      const tol = config === 'float32' ? 1e-5 : 1e-2;
      const ms = timeMs(() => matmul(a, b).dispose());
      const ownMs = withOwnKernels(() => timeMs(() => matmul(a, b).dispose(), 2, n > 2048 ? 5 : args.reps));
      const tflops = (2 * n ** 3) / (ms * 1e-3) / 1e12;
      log(`  kiln matmul ${config} ${n}: ${ms.toFixed(4)} ms, ${tflops.toFixed(1)} TFLOP/s (own kernels ${ownMs.toFixed(3)} ms); error ${err.toExponential(1)}${err <= tol ? '' : ' CHECK FAILED'}`);
      rows.push({ op: 'matmul', config, size: `${n}²`, mode: '', benchmark: null, ms, tflops, ownMs, err: `${err.toExponential(1)}${err <= tol ? '' : ' FAIL'}` });
      for (const t of [a, b, ref]) t.dispose();
    }
  }
  setFloat32MatmulPrecision('highest');
  return rows;
}

function convRows(): Row[] {
  const rows: Row[] = [];
  const own = new Map<string, number>();
  for (const benchmark of [false, true]) {
    setCudnnBenchmark(benchmark);
    for (const config of ['float32', 'bfloat16'] as const) {
      const x = randn(X_SHAPE, { device: DEV, seed: 7 }).to(config).requiresGrad_();
      const w = randn(W_SHAPE, { device: DEV, seed: 8 }).mul(0.02).to(config).requiresGrad_();
      const gy = randn(Y_SHAPE, { device: DEV, seed: 9 }).to(config);
      // checks against float64 (cuDNN's double convolution), forward and both gradients
      const x64 = x.detach().to('float64'), w64 = w.detach().to('float64'), g64 = gy.to('float64');
      const opts = { padding: 1 };
      const errs = [
        relErr(conv2d(x.detach(), w.detach(), null, opts), conv2d(x64, w64, null, opts)),
        relErr(conv2dBackwardInput(gy, w.detach(), X_SHAPE, opts), conv2dBackwardInput(g64, w64, X_SHAPE, opts)),
        relErr(conv2dBackwardWeight(gy, x.detach(), W_SHAPE, opts), conv2dBackwardWeight(g64, x64, W_SHAPE, opts)),
      ];
      const tol = config === 'float32' ? 1e-4 : 2e-2;
      const err = `${errs.map((e) => e.toExponential(1)).join(' / ')}${errs.every((e) => e <= tol) ? '' : ' FAIL'}`;
      const forward = () => conv2d(x.detach(), w.detach(), null, opts).dispose();
      const forwardBackward = () => {
        x.grad?.dispose();
        w.grad?.dispose();
        x.grad = null;
        w.grad = null;
        const y = conv2d(x, w, null, opts);
        y.backward(gy);
        y.dispose();
      };
      for (const [mode, fn, passes] of [['forward', forward, 1], ['forward+backward', forwardBackward, 3]] as const) {
        const ms = timeMs(fn);
        const key = `${config}/${mode}`;
        if (!own.has(key)) own.set(key, withOwnKernels(() => timeMs(fn, 1, 5)));
        const tflops = (passes * CONV_FLOPS) / (ms * 1e-3) / 1e12;
        log(`  kiln conv ${mode} ${config} benchmark=${benchmark}: ${ms.toFixed(3)} ms, ${tflops.toFixed(1)} TFLOP/s (own kernels ${own.get(key)!.toFixed(2)} ms); errors ${err}`);
        rows.push({ op: 'conv', config, size: `[${X_SHAPE.join(', ')}] → ${CO}, 3×3`, mode, benchmark, ms, tflops, ownMs: own.get(key), err });
      }
      x.grad?.dispose();
      w.grad?.dispose();
      for (const t of [x, w, gy, x64, w64, g64]) t.dispose();
    }
  }
  setCudnnBenchmark(false);
  return rows;
}

/** The sums' cases (tools/bench/torch_dense.py has the same list). */
const SUM_CASES: { shape: number[]; dims: number[] }[] = [
  { shape: [8, 256, 64, 64], dims: [0, 2, 3] },
  { shape: [8, 256, 16, 16], dims: [0, 2, 3] },
  { shape: [8, 256, 4, 4], dims: [0, 2, 3] },
  { shape: [32, 64, 32, 32], dims: [0, 2, 3] },
  { shape: [8, 256, 64, 64], dims: [3] },
  { shape: [8, 256, 64, 64], dims: [0, 1, 2, 3] },
];
const sumSize = (c: { shape: number[]; dims: number[] }) => `[${c.shape.join(', ')}] over [${c.dims.join(', ')}]`;

function sumRows(): Row[] {
  const rows: Row[] = [];
  for (const c of SUM_CASES) {
    const x = randn(c.shape, { device: DEV, seed: 11 });
    const err = tidy(() => relErr(x.sum(c.dims), x.to('float64').sum(c.dims)));
    const ms = timeMs(() => x.sum(c.dims).dispose());
    const gbps = (x.numel * 4) / (ms * 1e-3) / 1e9;
    log(`  kiln sum ${sumSize(c)}: ${ms.toFixed(4)} ms, ${gbps.toFixed(0)} GB/s; error ${err.toExponential(1)}${err <= 1e-6 ? '' : ' CHECK FAILED'}`);
    rows.push({ op: 'sum', config: 'float32', size: sumSize(c), mode: '', benchmark: null, ms, tflops: gbps, err: `${err.toExponential(1)}${err <= 1e-6 ? '' : ' FAIL'}` });
    x.dispose();
  }
  return rows;
}

interface TorchResult {
  op: string;
  config: string;
  size?: number | string;
  mode?: string;
  benchmark?: boolean;
  ms: number;
  tflops: number;
}

function main(): void {
  if (DEV === 'cuda' && !cuda.isAvailable()) {
    log(`CUDA is not available: ${cuda.unavailableReason() ?? 'unknown reason'}`);
    process.exit(1);
  }
  const props = DEV === 'cuda' ? cuda.deviceProperties(0) : { name: 'CPU (rehearsal)' };
  const libs = cudaLibraries();
  const where = (s: typeof libs.cublasLt) => (s.available ? `${s.version ?? 'unknown version'} (${s.path ?? 'unknown path'})` : 'not available');
  const libLine = `cuBLASLt ${where(libs.cublasLt)}, cuDNN ${where(libs.cudnn)}`;
  log(`device ${props.name}; ${libLine}`);
  const rows = [...matmulRows(), ...convRows(), ...sumRows()];
  const torch = args.torch ? (JSON.parse(readFileSync(args.torch, 'utf8')) as { torch: string; cudnn: number; cuda: string; results: TorchResult[] }) : null;
  const torchOf = (r: Row) => torch?.results.find((t) => t.op === r.op && t.config === r.config &&
    (r.op === 'matmul' ? `${String(t.size)}²` === r.size : r.op === 'sum' ? t.size === r.size : t.mode === r.mode && t.benchmark === r.benchmark));
  const table = [
    '| op | dtype | size | pass | cudnn.benchmark | Kiln ms | Kiln TFLOP/s | PyTorch ms | PyTorch TFLOP/s | Kiln / PyTorch time | Kiln own kernels ms | check (max rel. error vs float64) |',
    '|---|---|---|---|---|---:|---:|---:|---:|---:|---:|---|',
  ];
  for (const r of rows.filter((x) => x.op !== 'sum')) {
    const t = torchOf(r);
    table.push(`| ${r.op} | ${r.config} | ${r.size} | ${r.mode || '-'} | ${r.benchmark === null ? '-' : r.benchmark ? 'on' : 'off'} | ${r.ms.toFixed(3)} | ${r.tflops.toFixed(1)} | ` +
      `${t ? t.ms.toFixed(3) : '-'} | ${t ? t.tflops.toFixed(1) : '-'} | ${t ? (r.ms / t.ms).toFixed(2) : '-'} | ${r.ownMs?.toFixed(2) ?? '-'} | ${r.err} |`);
  }
  const sums = [
    '| sum (float32) | Kiln ms | Kiln GB/s | PyTorch ms | PyTorch GB/s | Kiln / PyTorch time | check (max rel. error vs float64) |',
    '|---|---:|---:|---:|---:|---:|---|',
  ];
  for (const r of rows.filter((x) => x.op === 'sum')) {
    const t = torchOf(r);
    sums.push(`| ${r.size} | ${r.ms.toFixed(4)} | ${r.tflops.toFixed(0)} | ${t ? t.ms.toFixed(4) : '-'} | ${t ? t.tflops.toFixed(0) : '-'} | ${t ? (r.ms / t.ms).toFixed(2) : '-'} | ${r.err} |`);
  }
  const targets: string[] = [];
  const bf16 = rows.find((r) => r.op === 'matmul' && r.config === 'bfloat16' && r.size === '4096²');
  if (bf16 && torchOf(bf16)) targets.push(`matmul 4096² bfloat16: ${(100 * bf16.tflops / torchOf(bf16)!.tflops).toFixed(0)} % of PyTorch's TFLOP/s (target ≥ 85 %)`);
  for (const r of rows.filter((x) => x.op === 'conv' && x.mode === 'forward+backward')) {
    const t = torchOf(r);
    if (t) targets.push(`conv forward + backward ${r.config}, benchmark ${r.benchmark ? 'on' : 'off'}: ${(r.ms / t.ms).toFixed(2)}× PyTorch's time (target ≤ 1.2×)`);
  }
  const md = [
    `GPU: ${props.name}; Kiln with ${libLine}` + (torch ? `; PyTorch ${torch.torch} (cuDNN ${torch.cudnn}, CUDA ${torch.cuda})` : ''),
    `CUDA events, ${args.warmup} warm-up calls, median of ${args.reps}; "own kernels": Kiln with cuBLASLt and cuDNN switched off (setLibraryEnabled).`,
    '',
    ...table,
    '',
    ...sums,
    '',
    ...targets.map((t) => `- ${t}`),
  ].join('\n');
  log(`\n${md}`);
  if (args.out) writeFileSync(args.out, `${md}\n`);
}

main();
