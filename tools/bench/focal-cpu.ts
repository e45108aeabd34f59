/**
 * Sigmoid focal loss forward + backward on the CPU: Kiln through its public API, side by side, in
 * the same run and on the same inputs, with TF.js (pure-JS CPU backend and WebAssembly backend, the
 * loss written in tf ops and differentiated by tf.valueAndGrad) and a plain JS loop (forward and
 * analytic gradient in one pass over Float32Arrays). Reduction 'mean', gamma 2, alpha 0.25, C = 80,
 * float32 logits randn * 3, ~10% foreground rows (the background first: 0 background, 1..C class t - 1).
 *
 * How to run (from the repository root; KILN_NATIVE_DIR only when the addon is not in native/build):
 *   KILN_NATIVE_DIR=$PWD/native/build/Release \
 *   node --expose-gc --conditions=@kiln/source --import tsx tools/bench/focal-cpu.ts [--out docs/focal-cpu.md]
 * (--expose-gc lets the script collect garbage before each timed step, untimed, so that no
 * implementation pays for another's garbage; without it the script runs but says so.)
 * Options: --sizes 20000,200000  --reps 9  --warmup 1  --budget 60 (seconds per implementation and size:
 *          past it, a slow one stops after 3 timed steps)
 *          --impls kiln,kiln-1t,kiln-view,kiln-noread,kiln-loop,tfjs-cpu,tfjs-wasm,js-loop
 *          --threads N (Kiln's CPU threads for 'kiln'; default: the addon's default, one per core)
 * 'kiln-1t' is Kiln on one thread: the fair match for the single-threaded rows, and steadier than
 * the multi-threaded row on a loaded machine. 'kiln-view' reads the gradient through toNdarray()
 * (a view of Kiln's memory, no copy), as TF.js's CPU backend hands out its own array. 'kiln-noread'
 * does not read the gradient at all (only the loss): the op's own time, forward + gradient +
 * backward, as a training step that hands x.grad to an optimizer would see it. 'kiln-loop' times
 * 10 such steps back to back after 5 untimed ones and gives the time per step: the op warm, as in a
 * training loop.
 *
 * Each step includes reading the loss and the gradient back into JS (Kiln: loss.item() and
 * x.grad.toTypedArray(), a copy into a new Float32Array, except 'kiln-view' and 'kiln-noread'; TF.js: dataSync(), which hands back the CPU
 * backend's own array and copies out of the WebAssembly heap; the JS loop writes a new
 * Float32Array). Every implementation is checked against a float64 JS reference before it is
 * timed (loss rel. err. <= 1e-4; gradient max |err| / max |ref| <= 1e-4);
 * a failing one is still timed and its row says which check failed (the checked step also warms
 * it up). The steps of all implementations are interleaved (one step of each per round) so that the
 * load of a shared machine falls on all of them alike; the table gives the wall-clock median and
 * minimum and the median CPU time of the process (which does not count waiting for a core).
 *
 * TF.js notes. In Node the WebAssembly backend runs single-threaded (tfjs-backend-wasm turns its
 * threads off when IS_NODE) with SIMD when WebAssembly SIMD validates (Node 20: yes). Its tf.sum
 * over 1.6M float32 values is off by ~1e-3 relative (one tf.sum over [20000, 80] fails the loss
 * check with 1.2e-3), so the loss sums each row first and then the rows; its float32 tf.oneHot
 * writes integer bit patterns, so the one-hot targets are built by comparing the labels with a
 * range. gamma = 2 is written as tf.square (what a user would write).
 */
import { createRequire } from 'node:module';
import { writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { cpuThreads, fromTypedArray, toNdarray } from '@kiln/tensor';
import { testRng } from '@kiln/tensor/testing';
import '@kiln/autograd';
import { sigmoidFocalLoss } from '@kiln/losses';
import { parseOptions } from './cli-options.js';

// tfjs-core's Node bundle has no gradients: they are registered by register_all_gradients (what the
// @tensorflow/tfjs union package does), an ES module with extensionless imports that Node's ESM loader
// cannot resolve, so it is loaded through require (tsx transpiles it). The registries are global
// (globalThis._tfGlobals), so the Node bundle's engine finds them.
createRequire(import.meta.url)('@tensorflow/tfjs-core/dist/register_all_gradients.js');

const C = 80;
const GAMMA = 2;
const ALPHA = 0.25;
const TOL = 1e-4;

const args = parseOptions(process.argv.slice(2), {
  sizes: { type: 'numbers', default: '20000,200000' },
  reps: { type: 'number', default: '9' },
  warmup: { type: 'number', default: '1' },
  budget: { type: 'number', default: '60' },
  impls: { type: 'strings', default: 'kiln,kiln-1t,kiln-view,kiln-noread,kiln-loop,tfjs-cpu,tfjs-wasm,js-loop' },
  threads: { type: 'number', default: '0' },
  out: { type: 'string', default: '' },
});

const log = (...a: unknown[]) => console.log(...a);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

// ---- inputs --------------------------------------------------------------------------------

interface Inputs {
  n: number;
  /** [N, C] logits, randn * 3 */
  x: Float32Array;
  /** [N] labels, the background first: 0 background, 1..C class t - 1 */
  labels: Int32Array;
}

function makeInputs(n: number, seed: number): Inputs {
  const u = testRng(seed);
  const x = new Float32Array(n * C);
  for (let i = 0; i < x.length; i += 2) {
    // Box-Muller: two normals from two uniforms
    const r = Math.sqrt(-2 * Math.log(1 - u())), th = 2 * Math.PI * u();
    x[i] = 3 * r * Math.cos(th);
    if (i + 1 < x.length) x[i + 1] = 3 * r * Math.sin(th);
  }
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) labels[i] = u() < 0.1 ? 1 + Math.floor(u() * C) : 0;
  return { n, x, labels };
}

// ---- the float64 reference ---------------------------------------------------------------------
//
// Written independently of the implementations: the loss of one element in torchvision's form,
// BCEWithLogits(x, t) (1 - p_t)^gamma alpha_t, and its derivative by central differences (each
// element's loss depends on its own logit only). With h = 1e-4 max(1, |x|) the difference quotient's
// error (about h^2 |l'''| / 6 + 1e-16 |l| / h) is far below the 1e-4 tolerance.

function elementLoss(x: number, t: number): number {
  const p = 1 / (1 + Math.exp(-x));
  const ce = Math.max(x, 0) - x * t + Math.log1p(Math.exp(-Math.abs(x)));
  const pt = p * t + (1 - p) * (1 - t);
  const at = ALPHA * t + (1 - ALPHA) * (1 - t);
  return at * ce * (1 - pt) ** GAMMA;
}

function referenceFloat64(inp: Inputs): { loss: number; grad: Float64Array } {
  const { x, labels, n } = inp;
  const scale = 1 / (n * C);
  const grad = new Float64Array(x.length);
  let total = 0;
  for (let r = 0; r < n; r++) {
    let rowSum = 0;
    for (let c = 0; c < C; c++) {
      const i = r * C + c;
      const t = labels[r] === c + 1 ? 1 : 0;
      const v = x[i];
      rowSum += elementLoss(v, t);
      const h = 1e-4 * Math.max(1, Math.abs(v));
      grad[i] = ((elementLoss(v + h, t) - elementLoss(v - h, t)) / (2 * h)) * scale;
    }
    total += rowSum;
  }
  return { loss: total * scale, grad };
}

// ---- the plain JS implementation ---------------------------------------------------------------
//
// For p = sigmoid(x), a positive element (t = 1) costs l = -alpha (1 - p)^g log p and a negative
// one l = -(1 - alpha) p^g log(1 - p). With dp/dx = p (1 - p), d log p/dx = 1 - p and
// d log(1 - p)/dx = -p:
//   t = 1: dl/dx = alpha (1 - p)^g (g p log p - (1 - p))
//   t = 0: dl/dx = (1 - alpha) p^g (p - g (1 - p) log(1 - p))
// The logs are taken stably: log p = min(x, 0) - log1p(e^-|x|), log(1 - p) = -max(x, 0) - log1p(e^-|x|).
// The mean divides by N * C (every row is valid here), and so does the gradient.

/** Forward and analytic gradient in one pass: returns the mean loss, writes dloss/dx into grad. */
function focalLoop(inp: Inputs, grad: Float32Array): number {
  const { x, labels, n } = inp;
  const scale = 1 / (n * C);
  let total = 0;
  for (let r = 0; r < n; r++) {
    const cls = labels[r] - 1;   // -1 for background rows: no positive class
    const base = r * C;
    let rowSum = 0;
    for (let c = 0; c < C; c++) {
      const v = x[base + c];
      const e = Math.exp(-Math.abs(v));
      const l1p = Math.log1p(e);
      const p = v >= 0 ? 1 / (1 + e) : e / (1 + e);
      let l: number, g: number;
      if (c === cls) {
        const logp = Math.min(v, 0) - l1p;
        const q = 1 - p;
        const w = ALPHA * q * q;   // gamma = 2
        l = -w * logp;
        g = w * (GAMMA * p * logp - q);
      } else {
        const log1mp = -Math.max(v, 0) - l1p;
        const w = (1 - ALPHA) * p * p;
        l = -w * log1mp;
        g = w * (p - GAMMA * (1 - p) * log1mp);
      }
      rowSum += l;
      grad[base + c] = g * scale;
    }
    total += rowSum;
  }
  return total * scale;
}

// ---- implementations -------------------------------------------------------------------------

interface Result {
  loss: number;
  grad: ArrayLike<number>;
}

interface Impl {
  name: string;
  /** Runs before this implementation's step (TF.js selects its backend here, untimed). */
  select?: () => Promise<void>;
  /** One forward + backward step, reading loss and gradient back into JS. */
  step: () => Result;
  /** Steps that one call of step() runs (the table divides its times by it; default 1). */
  stepsPerCall?: number;
  /** Runs untimed right before each timed step(), after the garbage collection ('kiln-loop': warm-up steps). */
  prepare?: () => void;
  dispose: () => void;
}

/**
 * Kiln on `threads` CPU threads (set before each step, untimed). The gradient is read back with
 * toTypedArray() (a copy into a new Float32Array), viewed in place with toNdarray() (`read: 'view'`),
 * or not read (`read: 'none'`: the checked step reads it on demand, after the step's clock).
 */
function kilnImpl(inp: Inputs, name: string, threads: number, read: 'copy' | 'view' | 'none', stepsPerCall = 1, warmSteps = 0): Impl {
  // Kiln-allocated copies of the inputs (not views of the JS arrays), as a training step would have
  const x = fromTypedArray(inp.x, [inp.n, C]).clone().requiresGrad_();
  const labels = fromTypedArray(inp.labels, [inp.n]).clone();
  const steps = (k: number) => {
    let value = 0;
    for (let i = 0; i < k; i++) {
      x.grad?.dispose();
      x.grad = null;
      const loss = sigmoidFocalLoss(x, labels, { gamma: GAMMA, alpha: ALPHA, reduction: 'mean' });
      loss.backward();
      value = loss.item();
      loss.dispose();
    }
    return value;
  };
  return {
    name,
    select() {
      cpuThreads(threads);
      return Promise.resolve();
    },
    stepsPerCall,
    prepare: warmSteps > 0 ? () => void steps(warmSteps) : undefined,
    step() {
      const value = steps(stepsPerCall);
      if (read === 'none') {
        const g = x.grad!;   // valid until the next step disposes it; only check() reads it
        return { loss: value, get grad() { return g.toTypedArray() as Float32Array; } };
      }
      const grad = read === 'copy' ? (x.grad!.toTypedArray() as Float32Array) : (toNdarray(x.grad!).data as Float32Array);
      return { loss: value, grad };
    },
    dispose() {
      x.grad?.dispose();
      x.dispose();
      labels.dispose();
    },
  };
}

let wasmPathsSet = false;

async function useBackend(name: 'cpu' | 'wasm'): Promise<void> {
  if (name === 'wasm' && !wasmPathsSet) {
    // the .wasm files ship in the package's dist/ folder
    setWasmPaths(join(dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + '/');
    wasmPathsSet = true;
  }
  if (tf.getBackend() !== name && !(await tf.setBackend(name))) throw new Error(`TF.js backend '${name}' failed to initialise`);
}

/** The loss in tf ops: torchvision's sigmoid_focal_loss with one-hot targets, summed per row then over rows. */
function tfFocalLoss(x: tf.Tensor2D, t: tf.Tensor2D, n: number): tf.Scalar {
  const p = tf.sigmoid(x);
  const logp = tf.logSigmoid(x);
  // log(1 - p) = logSigmoid(-x) = logSigmoid(x) - x. (tf.logSigmoid of an intermediate tensor such as
  // tf.neg(x) breaks tf.grad in TF.js 4.22: its custom gradient reads its input after the forward
  // scope disposed it.)
  const log1mp = tf.sub(logp, x);
  const oneMinusT = tf.sub(1, t);
  const ce = tf.neg(tf.add(tf.mul(t, logp), tf.mul(oneMinusT, log1mp)));
  const pt = tf.add(tf.mul(p, t), tf.mul(tf.sub(1, p), oneMinusT));
  const mod = tf.square(tf.sub(1, pt));   // (1 - p_t)^gamma, gamma = 2
  const alphaT = tf.add(tf.mul(ALPHA, t), tf.mul(1 - ALPHA, oneMinusT));
  const l = tf.mul(tf.mul(alphaT, ce), mod);
  return tf.div(tf.sum(tf.sum(l, 1)), n * C);
}

function tfImpl(inp: Inputs, backend: 'cpu' | 'wasm'): Impl {
  let x: tf.Tensor2D | null = null;
  let onehot: tf.Tensor2D | null = null;
  const lossAndGrad = tf.valueAndGrad((xx: tf.Tensor) => tfFocalLoss(xx as tf.Tensor2D, onehot!, inp.n));
  return {
    name: `tfjs-${backend}`,
    async select() {
      await useBackend(backend);
      if (x === null) {
        // made while this backend is active, so the tensors live on it
        x = tf.tensor2d(inp.x, [inp.n, C], 'float32');
        // one-hot by comparison with 1..C (the background first; background rows match nothing)
        onehot = tf.tidy(() => tf.cast(tf.equal(tf.expandDims(tf.tensor1d(inp.labels, 'int32'), 1), tf.range(1, C + 1, 1, 'int32')), 'float32')) as tf.Tensor2D;
      }
    },
    step() {
      const { value, grad } = tf.tidy(() => lossAndGrad(x!));
      const loss = value.dataSync()[0];
      const g = grad.dataSync() as Float32Array;
      value.dispose();
      grad.dispose();
      return { loss, grad: g };
    },
    dispose() {
      x?.dispose();
      onehot?.dispose();
    },
  };
}

function jsLoopImpl(inp: Inputs): Impl {
  return {
    name: 'js-loop',
    step() {
      const grad = new Float32Array(inp.x.length);
      return { loss: focalLoop(inp, grad), grad };
    },
    dispose() {},
  };
}

// ---- check and time --------------------------------------------------------------------------

/**
 * With --expose-gc, a full collection before each timed step (untimed): otherwise the step after a
 * garbage-heavy implementation (TF.js's intermediates, the JS loop's gradient arrays) pays for its
 * collection.
 */
const gc = (globalThis as { gc?: () => void }).gc;
function collectGarbage(): void {
  gc?.();
}

function check(r: Result, ref: { loss: number; grad: Float64Array }): { text: string; ok: boolean } {
  const lossErr = Math.abs(r.loss - ref.loss) / Math.abs(ref.loss);
  const grad = r.grad;   // once: 'kiln-noread' reads it through a getter
  let num = 0, den = 0;
  for (let i = 0; i < ref.grad.length; i++) {
    const d = Math.abs(grad[i] - ref.grad[i]);
    if (Number.isNaN(d)) num = Infinity;
    else if (d > num) num = d;
    den = Math.max(den, Math.abs(ref.grad[i]));
  }
  const gradErr = num / den;
  const fails = [lossErr <= TOL ? '' : 'loss', gradErr <= TOL ? '' : 'grad'].filter(Boolean);
  const text = `${lossErr.toExponential(1)} / ${gradErr.toExponential(1)}` + (fails.length ? ` FAIL (${fails.join(', ')} > ${TOL})` : ' ok');
  return { text, ok: fails.length === 0 };
}

interface Row {
  impl: string;
  n: number;
  reps: number;
  medianMs: number;
  minMs: number;
  /** median CPU time of the process (user + system, all threads) */
  cpuMs: number;
  check: string;
}

/**
 * Steps per timed call of 'kiln-loop', after LOOP_WARM untimed ones: the op as a training loop runs
 * it, one step right after the other. The other rows start each step cold: a full collection (whose
 * sweeping V8 finishes on a helper thread, on the second core, while the step runs), another
 * implementation's step, the pool's workers asleep, x out of the caches.
 */
const LOOP_STEPS = 10;
const LOOP_WARM = 5;

/** Kiln's thread count for the 'kiln' rows: --threads, or the addon's default. */
let kilnThreads = 0;

function makeImpl(name: string, inp: Inputs): Impl {
  switch (name) {
    case 'kiln': return kilnImpl(inp, 'kiln', kilnThreads, 'copy');
    case 'kiln-1t': return kilnImpl(inp, 'kiln (1 thread)', 1, 'copy');
    case 'kiln-view': return kilnImpl(inp, 'kiln (grad viewed, not copied)', kilnThreads, 'view');
    case 'kiln-noread': return kilnImpl(inp, 'kiln (grad not read back)', kilnThreads, 'none');
    case 'kiln-loop': return kilnImpl(inp, `kiln (${LOOP_STEPS} steps back to back after ${LOOP_WARM} untimed, per step, grad not read back)`, kilnThreads, 'none', LOOP_STEPS, LOOP_WARM);
    case 'tfjs-cpu': return tfImpl(inp, 'cpu');
    case 'tfjs-wasm': return tfImpl(inp, 'wasm');
    case 'js-loop': return jsLoopImpl(inp);
    default: throw new Error(`unknown --impls entry '${name}' (kiln, kiln-1t, kiln-view, kiln-noread, kiln-loop, tfjs-cpu, tfjs-wasm, js-loop)`);
  }
}

async function benchSize(n: number): Promise<Row[]> {
  const inp = makeInputs(n, 1234 + n);
  const ref = referenceFloat64(inp);
  const impls = args.impls.map((name) => makeImpl(name, inp));
  const checks = new Map<string, string>();
  for (const impl of impls) {
    await impl.select?.();
    const c = check(impl.step(), ref);
    checks.set(impl.name, c.text);
    log(`  N=${n} ${impl.name}: check (loss / grad rel. err.) ${c.text}`);
  }
  const times = new Map<string, number[]>(impls.map((i) => [i.name, []]));
  const cpuTimes = new Map<string, number[]>(impls.map((i) => [i.name, []]));
  const spent = new Map<string, number>(impls.map((i) => [i.name, 0]));
  for (let round = 0; round < args.warmup + args.reps; round++) {
    for (const impl of impls) {
      // a slow implementation stops after 3 timed steps once it has used its time budget
      const done = times.get(impl.name)!.length;
      if (done >= 3 && spent.get(impl.name)! > args.budget * 1e3) continue;
      await impl.select?.();
      collectGarbage();
      impl.prepare?.();
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      impl.step();
      const ms = performance.now() - t0;
      const c = process.cpuUsage(c0);
      spent.set(impl.name, spent.get(impl.name)! + ms);
      if (round >= args.warmup) {
        const k = impl.stepsPerCall ?? 1;
        times.get(impl.name)!.push(ms / k);
        cpuTimes.get(impl.name)!.push((c.user + c.system) / 1e3 / k);
      }
    }
  }
  for (const impl of impls) {
    await impl.select?.();
    impl.dispose();
  }
  return impls.map((impl) => {
    const t = times.get(impl.name)!;
    const cpuMs = median(cpuTimes.get(impl.name)!);
    log(`  N=${n} ${impl.name}: median ${median(t).toFixed(2)} ms, min ${Math.min(...t).toFixed(2)} ms, CPU ${cpuMs.toFixed(2)} ms`);
    return { impl: impl.name, n, reps: t.length, medianMs: median(t), minMs: Math.min(...t), cpuMs, check: checks.get(impl.name)! };
  });
}

async function main(): Promise<void> {
  kilnThreads = args.threads > 0 ? args.threads : cpuThreads();
  tf.enableProdMode();   // no "install tfjs-node" notice; debug checks are off either way
  await useBackend('cpu');
  const load0 = loadavg();
  if (!gc) log('note: run node with --expose-gc so that each step does not pay for the garbage of the step before');
  log(`CPU: ${cpus()[0]?.model ?? '?'} × ${cpus().length}; Kiln threads ${kilnThreads}; Node ${process.version}; TF.js ${tf.version_core}; load ${load0.map((l) => l.toFixed(2)).join(' ')}`);
  const rows: Row[] = [];
  for (const n of args.sizes) rows.push(...(await benchSize(n)));
  const load1 = loadavg();

  const kiln = new Map(rows.filter((r) => r.impl === 'kiln').map((r) => [r.n, r]));
  const ratio = (x: number, k: number | undefined) => (k ? (x / k).toFixed(1) : '-');
  const table = [
    '| impl | N | steps | median ms | min ms | CPU ms (median) | × Kiln (median) | × Kiln (min) | check: loss / grad rel. err. |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---|',
    ...rows.map((r) => {
      const k = kiln.get(r.n);
      return `| ${r.impl} | ${r.n} | ${r.reps} | ${r.medianMs.toFixed(2)} | ${r.minMs.toFixed(2)} | ${r.cpuMs.toFixed(2)} | ${ratio(r.medianMs, k?.medianMs)} | ${ratio(r.minMs, k?.minMs)} | ${r.check} |`;
    }),
  ];
  const md = [
    `CPU: ${cpus()[0]?.model ?? '?'}, ${cpus().length} cores (Kiln: ${kilnThreads} threads); Node ${process.version}; TF.js ${tf.version_core} (wasm: SIMD, 1 thread in Node).`,
    `Sigmoid focal loss forward + backward + read-back, reduction 'mean', gamma 2, alpha 0.25, C = ${C}, float32;`,
    `wall-clock median and min over up to ${args.reps} interleaved steps after ${args.warmup} warm-up (${args.budget} s budget per row); CPU ms: user + system time of the process`,
    `(all threads: Kiln's multi-threaded row counts both cores);`,
    `load average ${load0[0].toFixed(2)} at start, ${load1[0].toFixed(2)} at end (a shared machine: compare minima); ${gc ? 'garbage collected before each step (untimed)' : 'NO garbage collection between steps (run with --expose-gc)'}.`,
    '',
    ...table,
  ].join('\n');
  log(`\n${md}`);
  if (args.out) writeFileSync(args.out, `${md}\n`);
}

await main();
