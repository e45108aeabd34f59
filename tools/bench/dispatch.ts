/**
 * The CPU cost of Kiln's ops, three ways:
 *   1. bandwidth-bound elementwise ops on 16M float32 elements (add, sigmoid) against a plain JS loop;
 *   2. float32 matrix products (512², 1024²) against a plain JS triple loop in cache-friendly ikj order;
 *   3. the per-op overhead on tiny tensors: a 4-element add without autograd (also while the
 *      profiler records), a 4-element mul while recording gradients, and a tiny forward + backward,
 *      next to PyTorch eager's figures on this machine (4-element add about 1 µs, 4-element mul
 *      while recording about 1.8 µs);
 * and then (4) where the time of one tiny op goes: each stage of the dispatch path timed alone.
 *
 * How to run (from the repository root; KILN_NATIVE_DIR only when the addon is not in native/build):
 *   KILN_NATIVE_DIR=$PWD/native/build/Release \
 *   node --expose-gc --conditions=@kiln/source --import tsx tools/bench/dispatch.ts [--out docs/dispatch.md]
 * (--expose-gc: the large ops' timed calls start after a full collection; the tiny ops' batches
 * include their garbage collection, as they should.)
 * Options: --reps 9 (large ops)  --batches 31 --ops 20000 (tiny ops: median/min over batches of
 *          --ops calls)  --threads N (Kiln's OpenMP threads)  --no-matmul-1024  --no-stages
 *          --no-large (only the tiny ops and the stages: the per-call overhead)
 * For a CPU profile of one tiny-op case, loop it alone under the V8 profiler:
 *   node --cpu-prof --cpu-prof-dir /tmp/prof --conditions=@kiln/source --import tsx \
 *        tools/bench/dispatch.ts --loop mul-grad --seconds 10
 *   (cases: add, add-gc, mul-grad, fwd-bwd; open the .cpuprofile of the main thread in Chrome
 *   DevTools' Performance panel or speedscope; the N-API calls count as self time of their JS caller)
 *
 * Timing: performance.now() and process.cpuUsage() around each call (large ops: Kiln on its default
 * threads, Kiln on one thread and the JS loop in interleaved rounds, so a shared machine's load
 * falls on all alike) or each batch (tiny ops), after warm-up; wall-clock median and minimum (the
 * minimum is the least disturbed run) and median CPU time. Results are checked against the JS
 * loops before they are timed. The load average is printed with the tables.
 */
import { writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import {
  type KernelAddon, type Tensor, Profiler, allOps, backendFor, broadcastShapes, commonDevice, cpu, cpuThreads, emptyOn, fromTypedArray,
  launchKernel, loadAddon, needsRecording, promoteTypes, recordOp, sameShape,
} from '@kiln/tensor';
import '@kiln/autograd';
import { parseOptions } from './cli-options.js';

const options = parseOptions(process.argv.slice(2), {
  reps: { type: 'number', default: '9' },
  batches: { type: 'number', default: '31' },
  ops: { type: 'number', default: '20000' },
  threads: { type: 'number', default: '0' },
  'no-matmul-1024': { type: 'boolean' },
  'no-large': { type: 'boolean' },
  'no-stages': { type: 'boolean' },
  loop: { type: 'string', default: '' },
  seconds: { type: 'number', default: '10' },
  out: { type: 'string', default: '' },
});
const args = { ...options, matmul1024: !options['no-matmul-1024'], large: !options['no-large'], stages: !options['no-stages'] };

const log = (...a: unknown[]) => console.log(...a);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const loadNow = () => loadavg()[0].toFixed(2);

/** Wall-clock median and minimum, and the median CPU time of the process (user + system, all threads). */
interface Timing {
  median: number;
  min: number;
  cpu: number;
}

/** global.gc with node --expose-gc (used between the large ops' timed calls), else undefined. */
const gc = (globalThis as { gc?: () => void }).gc;

/** Wall and CPU time of one call of fn, in ms. */
function timeOnce(fn: () => void): { wall: number; cpu: number } {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  fn();
  const wall = performance.now() - t0;
  const c = process.cpuUsage(c0);
  return { wall, cpu: (c.user + c.system) / 1e3 };
}

/**
 * Several implementations of one computation, timed in interleaved rounds (one call of each per
 * round, so the load of a shared machine falls on all alike), after `warmup` rounds. ms per call.
 * `setup` runs untimed before each call (e.g. setting Kiln's thread count).
 */
function timeInterleaved(impls: { name: string; fn: () => void; setup?: () => void; reps?: number }[], reps: number, warmup = 1): Map<string, Timing> {
  const wall = new Map<string, number[]>(impls.map((i) => [i.name, []]));
  const cpuT = new Map<string, number[]>(impls.map((i) => [i.name, []]));
  for (let r = 0; r < warmup + reps; r++) {
    for (const impl of impls) {
      if (r >= warmup + (impl.reps ?? reps)) continue;
      impl.setup?.();
      gc?.();   // untimed: no call pays for the garbage of the one before
      const t = timeOnce(impl.fn);
      if (r >= warmup) {
        wall.get(impl.name)!.push(t.wall);
        cpuT.get(impl.name)!.push(t.cpu);
      }
    }
  }
  return new Map(impls.map((i) => [i.name, { median: median(wall.get(i.name)!), min: Math.min(...wall.get(i.name)!), cpu: median(cpuT.get(i.name)!) }]));
}

/** Per-call time in µs of fn: median and minimum over batches of `ops` calls, and the median CPU time. */
function timePerOp(fn: () => void, ops = args.ops, batches = args.batches): Timing {
  for (let i = 0; i < ops * 2; i++) fn();   // warm-up: let V8 optimise the path
  const wall: number[] = [], cpuT: number[] = [];
  for (let b = 0; b < batches; b++) {
    const t = timeOnce(() => { for (let i = 0; i < ops; i++) fn(); });
    wall.push((t.wall * 1e3) / ops);
    cpuT.push((t.cpu * 1e3) / ops);
  }
  return { median: median(wall), min: Math.min(...wall), cpu: median(cpuT) };
}

/** A seeded Float32Array of normals (mulberry32 + Box-Muller). */
function randnArray(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const u = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.sqrt(-2 * Math.log(1 - u())) * Math.cos(2 * Math.PI * u());
  return out;
}

/** Max |a - b| / max |b|. */
function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0, den = 0;
  for (let i = 0; i < b.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    num = Number.isNaN(d) ? Infinity : Math.max(num, d);
    den = Math.max(den, Math.abs(b[i]));
  }
  return num / den;
}

/** A Kiln-allocated copy of a JS array (not a view of it). */
const kilnOf = (data: Float32Array, shape: number[]): Tensor => fromTypedArray(data, shape).clone();

// ---- 1 and 2. large ops ------------------------------------------------------------------------

interface LargeRow {
  op: string;
  impl: string;
  t: Timing;
  /** bytes each call must move (GB/s), or floating-point operations (GFLOP/s) */
  bytes?: number;
  flops?: number;
  check: string;
}

/**
 * Times Kiln on its default threads, Kiln on one thread, and the JS loop, interleaved; checks Kiln's
 * result against the loop's first.
 */
function largeCase(op: string, kiln: () => Tensor, js: () => void, jsOut: Float32Array, tol: number, work: { bytes?: number; flops?: number }, jsReps = args.reps): LargeRow[] {
  js();
  const k = kiln();
  const err = relErr(k.toTypedArray() as Float32Array, jsOut);
  k.dispose();
  const check = `${err.toExponential(1)}${err <= tol ? ' ok' : ' FAIL'}`;
  log(`  ${op}: check against the JS loop ${check}`);
  const t = timeInterleaved([
    { name: `kiln (${kilnThreads} threads)`, fn: () => kiln().dispose(), setup: () => cpuThreads(kilnThreads) },
    { name: 'kiln (1 thread)', fn: () => kiln().dispose(), setup: () => cpuThreads(1) },
    { name: 'JS loop', fn: js, reps: jsReps },
  ], args.reps);
  cpuThreads(kilnThreads);
  const rows = [...t].map(([impl, tt]) => ({ op, impl, t: tt, ...work, check: impl === 'JS loop' ? 'reference' : check }));
  for (const r of rows) log(`  ${op}, ${r.impl}: ${r.t.median.toFixed(2)} ms (min ${r.t.min.toFixed(2)}, CPU ${r.t.cpu.toFixed(2)}; load ${loadNow()})`);
  return rows;
}

function elementwiseRows(): LargeRow[] {
  const n = 1 << 24;
  const aJs = randnArray(n, 1), bJs = randnArray(n, 2);
  const a = kilnOf(aJs, [n]), b = kilnOf(bJs, [n]);
  // JS writes into a preallocated output (a fresh Float32Array would add a 64 MB zero-fill);
  // Kiln's output comes from its caching allocator.
  const outJs = new Float32Array(n);
  const rows = [
    ...largeCase('add, 16M float32', () => a.add(b), () => { for (let i = 0; i < n; i++) outJs[i] = aJs[i] + bJs[i]; }, outJs, 1e-6, { bytes: 12 * n }),
    ...largeCase('sigmoid, 16M float32', () => a.sigmoid(), () => { for (let i = 0; i < n; i++) outJs[i] = 1 / (1 + Math.exp(-aJs[i])); }, outJs, 1e-6, { bytes: 8 * n }),
  ];
  a.dispose();
  b.dispose();
  return rows;
}

/** C = A B for n×n row-major matrices, ikj order: the inner loop runs along rows of B and C. */
function jsMatmul(A: Float32Array, B: Float32Array, Cm: Float32Array, n: number): void {
  Cm.fill(0);
  for (let i = 0; i < n; i++) {
    const ci = i * n;
    for (let k = 0; k < n; k++) {
      const aik = A[ci + k];
      const bk = k * n;
      for (let j = 0; j < n; j++) Cm[ci + j] += aik * B[bk + j];
    }
  }
}

function matmulRows(): LargeRow[] {
  const rows: LargeRow[] = [];
  for (const n of args.matmul1024 ? [512, 1024] : [512]) {
    const aJs = randnArray(n * n, 3), bJs = randnArray(n * n, 4);
    const a = kilnOf(aJs, [n, n]), b = kilnOf(bJs, [n, n]);
    const cJs = new Float32Array(n * n);
    // the 1024² JS loop takes seconds: fewer calls
    rows.push(...largeCase(`matmul ${n}×${n} float32`, () => a.matmul(b), () => jsMatmul(aJs, bJs, cJs, n), cJs, 1e-5, { flops: 2 * n ** 3 }, n >= 1024 ? Math.min(args.reps, 3) : args.reps));
    a.dispose();
    b.dispose();
  }
  return rows;
}

// ---- 3. per-op overhead on tiny tensors --------------------------------------------------------

interface TinyCase {
  name: string;
  /** PyTorch eager on this machine, µs (from the issue), if there is a figure */
  torchUs?: number;
  setup: () => { run: () => void; teardown: () => void };
}

const tinyCases: TinyCase[] = [
  {
    name: 'add, 4 elements, no grad (result disposed)',
    torchUs: 1.0,
    setup() {
      const a = kilnOf(new Float32Array([1, 2, 3, 4]), [4]), b = kilnOf(new Float32Array([5, 6, 7, 8]), [4]);
      return { run: () => a.add(b).dispose(), teardown: () => { a.dispose(); b.dispose(); } };
    },
  },
  {
    name: 'mul, 4 elements, recording gradients (result disposed)',
    torchUs: 1.8,
    setup() {
      const a = kilnOf(new Float32Array([1, 2, 3, 4]), [4]).requiresGrad_(), b = kilnOf(new Float32Array([5, 6, 7, 8]), [4]).requiresGrad_();
      return { run: () => a.mul(b).dispose(), teardown: () => { a.dispose(); b.dispose(); } };
    },
  },
  {
    name: 'forward + backward: sigmoid(x·w + 1).sum(), 4 elements (4 ops + backward)',
    setup() {
      const x = kilnOf(new Float32Array([1, 2, 3, 4]), [4]).requiresGrad_(), w = kilnOf(new Float32Array([0.5, -1, 2, 0.1]), [4]).requiresGrad_();
      return {
        run() {
          const h = x.mul(w), z = h.add(1), s = z.sigmoid(), loss = s.sum();
          loss.backward();
          for (const t of [h, z, s, loss]) t.dispose();
          x.grad!.dispose();
          w.grad!.dispose();
          x.grad = null;
          w.grad = null;
        },
        teardown: () => { x.dispose(); w.dispose(); },
      };
    },
  },
  {
    // the profiler's cost when on (its cost when off is the one check the other rows pay); a new
    // profile every 10,000 calls keeps its event lists short
    name: 'add, 4 elements, no grad, while a profile records (result disposed)',
    setup() {
      const a = kilnOf(new Float32Array([1, 2, 3, 4]), [4]), b = kilnOf(new Float32Array([5, 6, 7, 8]), [4]);
      let prof = new Profiler().start(), n = 0;
      return {
        run: () => {
          a.add(b).dispose();
          if (++n % 10_000 === 0) {
            prof.stop();
            prof = new Profiler().start();
          }
        },
        teardown: () => { prof.stop(); a.dispose(); b.dispose(); },
      };
    },
  },
  // last: the tensors it leaves to the GC are freed by finalizers that run only when the event
  // loop turns, and would weigh on the cases after it
  {
    name: 'add, 4 elements, no grad (result left to the GC)',
    torchUs: 1.0,
    setup() {
      const a = kilnOf(new Float32Array([1, 2, 3, 4]), [4]), b = kilnOf(new Float32Array([5, 6, 7, 8]), [4]);
      return { run: () => { a.add(b); }, teardown: () => { a.dispose(); b.dispose(); } };
    },
  },
];

const loopCases: Record<string, number> = { add: 0, 'mul-grad': 1, 'fwd-bwd': 2, 'add-gc': 3 };

interface TinyRow {
  name: string;
  torchUs?: number;
  us: Timing;
}

/** Lets the event loop turn: N-API finalizers of collected buffers run then, not inside a synchronous loop. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 50));

async function tinyRows(): Promise<TinyRow[]> {
  const rows: TinyRow[] = [];
  for (const c of tinyCases) {
    await settle();
    const { run, teardown } = c.setup();
    const us = timePerOp(run);
    teardown();
    log(`  ${c.name}: ${us.median.toFixed(2)} µs (min ${us.min.toFixed(2)}, CPU ${us.cpu.toFixed(2)}; load ${loadNow()})`);
    rows.push({ name: c.name, torchUs: c.torchUs, us });
  }
  return rows;
}

// ---- 4. stages of one tiny op ----------------------------------------------------------------

/** The raw CPU addon (the same module the tensor core loaded; loadAddon re-hands it the same argument buffer). */
interface CpuAddonRaw extends KernelAddon {
  alloc(nbytes: number): ArrayBuffer;
  release(buf: ArrayBuffer): void;
  address(buf: ArrayBuffer): number;
  numThreads(n?: number): number;
}

interface StageRow {
  stage: string;
  what: string;
  us: Timing;
}

/**
 * Each stage of `a.mul(b)` on 4-element float32 tensors that require grad, timed alone (they sum to
 * roughly the whole op; the whole op is timed too). Uses only exported API: the allocation and
 * launch are split by calling the addon's functions directly.
 */
function stageRows(): StageRow[] {
  const addon = loadAddon<CpuAddonRaw>('kiln_cpu.node', 'cpu');
  const backend = backendFor(cpu);
  const mulId = backend.kernelId('mul');
  const mulSchema = allOps().find((o) => o.name === 'mul')!;
  const a = kilnOf(new Float32Array([1, 2, 3, 4]), [4]).requiresGrad_(), b = kilnOf(new Float32Array([5, 6, 7, 8]), [4]).requiresGrad_();
  const out = emptyOn([4], 'float32', cpu);
  const rows: StageRow[] = [];
  const stage = (name: string, what: string, fn: () => void) => {
    const us = timePerOp(fn);
    rows.push({ stage: name, what, us });
    log(`  ${name}: ${us.median.toFixed(3)} µs (min ${us.min.toFixed(3)}, CPU ${us.cpu.toFixed(3)})`);
  };
  let sink = 0;
  stage('whole op', 'a.mul(b).dispose(), a and b require grad', () => a.mul(b).dispose());
  stage('whole op, no grad', 'same on tensors that do not require grad', () => out.mul(out).dispose());
  stage('argument checks', 'commonDevice + broadcastShapes + promoteTypes + 2 sameShape (runBinary before allocating)', () => {
    commonDevice('mul', ['input', 'other'], [a, b]);
    const shape = broadcastShapes('mul', a.shape, b.shape);
    sink += promoteTypes(a.dtype, b.dtype).length;
    if (sameShape(a.shape, shape) && sameShape(b.shape, shape)) sink++;
  });
  stage('allocate + free output', 'emptyOn([4]) + dispose(): native alloc/address/release + CpuStorage + Tensor objects', () => emptyOn([4], 'float32', cpu).dispose());
  stage('  native alloc + release', 'addon.alloc(16) (external ArrayBuffer) + addon.release (detach)', () => addon.release(addon.alloc(16)));
  stage('  native address', 'addon.address(buffer), made once per storage', () => { sink += addon.address(out.storage.buffer!); });
  stage('launchKernel', "launchKernel('mul', [a, b], [out]): backend + kernel-id lookup, encodeCall, native launch", () => launchKernel('mul', [a, b], [out]));
  stage('  native launch only', 'backend.launch(id) of the call already in the argument buffer (decode + 4-element loop)', () => backend.launch(mulId));
  stage('  N-API call floor', 'addon.numThreads(): one N-API call doing nothing', () => { sink += addon.numThreads(); });
  stage('needsRecording', 'grad mode on, scan the inputs for requiresGrad', () => { if (needsRecording([a, b])) sink++; });
  stage('recordOp', "recordOp(mul, [a, b], [out]): new OpNode (edges, saved a and b) and out's gradFn", () => { recordOp(mulSchema, [a, b], [out]); });
  out.gradFn = null;
  out.dispose();
  a.dispose();
  b.dispose();
  if (sink === -1) log(sink);
  return rows;
}

// ---- report ----------------------------------------------------------------------------------

/** Kiln's thread count for the default rows: --threads, or the addon's default (one per core). */
let kilnThreads = 0;

async function main(): Promise<void> {
  kilnThreads = args.threads > 0 ? cpuThreads(args.threads) : cpuThreads();
  if (args.loop) {
    const c = tinyCases[loopCases[args.loop] ?? -1];
    if (!c) throw new Error(`--loop: one of ${Object.keys(loopCases).join(', ')}`);
    const { run, teardown } = c.setup();
    const end = performance.now() + args.seconds * 1e3;
    let n = 0;
    while (performance.now() < end) {
      for (let i = 0; i < 1000; i++) run();
      n += 1000;
    }
    teardown();
    log(`${c.name}: ${n} calls, ${((args.seconds * 1e6) / n).toFixed(2)} µs per call`);
    return;
  }
  const header = `CPU: ${cpus()[0]?.model ?? '?'}, ${cpus().length} cores (Kiln: ${kilnThreads} threads by default); Node ${process.version}`;
  log(header);
  const load0 = loadavg();
  log(`load average at start: ${load0.map((l) => l.toFixed(2)).join(' ')}`);
  if (args.large) log('large elementwise ops:');
  const large = args.large ? elementwiseRows() : [];
  if (args.large) log('matrix products:');
  const mm = args.large ? matmulRows() : [];
  log('tiny ops:');
  const tiny = await tinyRows();
  let stages: StageRow[] = [];
  if (args.stages) {
    await settle();
    log('stages of a 4-element mul recording gradients:');
    stages = stageRows();
  }
  const load1 = loadavg();

  const rate = (r: LargeRow) => r.bytes ? `${(r.bytes / (r.t.min * 1e-3) / 1e9).toFixed(1)} GB/s` : `${(r.flops! / (r.t.min * 1e-3) / 1e9).toFixed(1)} GFLOP/s`;
  const kilnMin = new Map([...large, ...mm].filter((r) => r.impl.startsWith(`kiln (${kilnThreads}`)).map((r) => [r.op, r.t.min]));
  const md = [
    header,
    `Load average (1 min) ${load0[0].toFixed(2)} at start, ${load1[0].toFixed(2)} at end. The machine is shared: wall-clock minima are the least`,
    'disturbed runs; CPU time (user + system of the process, all its threads) does not count time spent waiting for a core, but it',
    "does count libgomp's idle worker spinning for a few ms after each parallel region (OMP_WAIT_POLICY=passive turns that off).",
    '',
    `Large ops: ms per call over ${args.reps} interleaved rounds (the 1024² JS loop: ${Math.min(args.reps, 3)}). The JS loops write into a preallocated Float32Array;`,
    "Kiln's result comes from its caching allocator. Rate: from the minimum wall time.",
    '',
    '| op | impl | wall median ms | wall min ms | CPU ms (median) | rate | × Kiln (min) | check (max rel. err. vs JS) |',
    '|---|---|---:|---:|---:|---:|---:|---|',
    ...[...large, ...mm].map((r) => `| ${r.op} | ${r.impl} | ${r.t.median.toFixed(2)} | ${r.t.min.toFixed(2)} | ${r.t.cpu.toFixed(2)} | ${rate(r)} | ${(r.t.min / kilnMin.get(r.op)!).toFixed(1)} | ${r.check} |`),
    '',
    `Tiny ops: µs per call, over ${args.batches} batches of ${args.ops} calls. PyTorch eager: the issue's figures for this machine.`,
    '',
    '| case | wall median µs | wall min µs | CPU µs (median) | PyTorch eager µs | Kiln / PyTorch (wall min) |',
    '|---|---:|---:|---:|---:|---:|',
    ...tiny.map((r) => `| ${r.name} | ${r.us.median.toFixed(2)} | ${r.us.min.toFixed(2)} | ${r.us.cpu.toFixed(2)} | ${r.torchUs?.toFixed(1) ?? '-'} | ${r.torchUs ? (r.us.min / r.torchUs).toFixed(1) : '-'} |`),
    ...(stages.length
      ? [
        '',
        'Where the time of a 4-element mul recording gradients goes (each stage timed alone, µs per call):',
        '',
        '| stage | what | wall median µs | wall min µs | CPU µs (median) |',
        '|---|---|---:|---:|---:|',
        ...stages.map((s) => `| ${s.stage.startsWith('  ') ? `↳ ${s.stage.trim()}` : s.stage} | ${s.what} | ${s.us.median.toFixed(3)} | ${s.us.min.toFixed(3)} | ${s.us.cpu.toFixed(3)} |`),
      ]
      : []),
  ].join('\n');
  log(`\n${md}`);
  if (args.out) writeFileSync(args.out, `${md}\n`);
}

await main();
