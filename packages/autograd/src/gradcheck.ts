/**
 * Gradient checks by central finite differences, as torch.autograd.gradcheck: the Jacobian the
 * engine computes (backward passes with one-hot output gradients, or random projections of the
 * outputs when they are large) against (f(x + eps·e_j) - f(x - eps·e_j)) / 2eps for every element j
 * of every input that requires grad. Inputs must be float64 (float32 differences are too coarse).
 *
 * ```ts
 * const x = randn([3, 4], { dtype: 'float64' }).requiresGrad_();
 * gradcheck((a) => a.sigmoid().mul(a), [x]);        // true, or throws naming input and element
 * ```
 */
import { AutogradError, DTypeError, Tensor, ValueError, checkOptionKeys, describeValue, fmtShape, isFloating, tensor, zerosLike } from '@kiln/tensor';
import { grad } from './engine.js';
import { enableGrad } from './grad-mode.js';

/** The function and the options of a check: a misspelt option (epsilon) was ignored, eps 0 divided by zero. */
function checkArguments(op: string, fn: unknown, options: GradcheckOptions): void {
  if (typeof fn !== 'function') throw new ValueError(op, 'fn', 'a function of the inputs', describeValue(fn));
  checkOptionKeys(op, options, { eps: true, atol: true, rtol: true, fullJacobianLimit: true, projections: true, seed: true });
  if (options.eps !== undefined && !(Number.isFinite(options.eps) && options.eps > 0)) throw new ValueError(op, 'eps', 'a finite number > 0', String(options.eps));
  for (const arg of ['atol', 'rtol'] as const) {
    const v = options[arg];
    if (v !== undefined && !(Number.isFinite(v) && v >= 0)) throw new ValueError(op, arg, 'a finite number >= 0', String(v));
  }
}

/** Step and tolerances of {@link gradcheck} and {@link gradgradcheck}. */
export interface GradcheckOptions {
  /** Finite-difference step (default 1e-6). */
  eps?: number;
  /** Absolute tolerance (default 1e-5). */
  atol?: number;
  /** Relative tolerance, against the numerical value (default 1e-3). */
  rtol?: number;
  /** Up to this many output elements the full Jacobian is compared; above, random projections (default 256). */
  fullJacobianLimit?: number;
  /** Number of random output projections for large outputs (default 4). */
  projections?: number;
  /** Seed of the random projections and of gradgradcheck's output gradients (default 0). */
  seed?: number;
}

/** One Jacobian entry where the engine and finite differences disagree. */
export interface GradcheckMismatch {
  /** Position of the input in the inputs array. */
  input: number;
  /** The input's element, as a flat index. */
  element: number;
  /** The input's element, as an index per dimension. */
  index: number[];
  /** Which Jacobian row: an output and its element, or a random projection of the outputs. */
  row: string;
  /** The engine's value. */
  analytical: number;
  /** The finite-difference value. */
  numerical: number;
}

/** What {@link checkGradients} returns. */
export interface GradcheckReport {
  /** True when every entry is within tolerance. */
  ok: boolean;
  /** The entries that are not. */
  mismatches: GradcheckMismatch[];
  /** Empty when ok; otherwise the first mismatches, described. */
  message: string;
}

/** A function gradcheck differentiates: tensors (and other arguments) in, one tensor or a list out. */
export type GradcheckFn = (...inputs: never[]) => Tensor | readonly Tensor[];

const toList = (r: Tensor | readonly Tensor[]): Tensor[] => (Array.isArray(r) ? [...(r as readonly Tensor[])] : [r as Tensor]);

function hostValues(t: Tensor): Float64Array {
  return Float64Array.from(t.toTypedArray() as ArrayLike<number>);
}

function unravel(flat: number, shape: readonly number[]): number[] {
  const idx = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    idx[d] = flat % shape[d];
    flat = Math.floor(flat / shape[d]);
  }
  return idx;
}

/** Storage offset of logical element `flat`. */
function offsetOf(t: Tensor, flat: number): number {
  let off = t.offset;
  unravel(flat, t.shape).forEach((i, d) => (off += i * t.strides[d]));
  return off;
}

/** Writes one element in place without recording (the finite-difference perturbation). */
function setElement(t: Tensor, flat: number, value: number): void {
  const e = new Tensor(t.storage, [], [], offsetOf(t, flat), t.dtype);
  e.fill_(value);
  e.dispose();
}

function rng(seed: number): () => number {
  let s = seed >>> 0;
  const uniform = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  // standard normal (Box-Muller)
  return () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
}

/** Checks the inputs gradcheck differentiates: float64, no overlapping elements. */
function differentiableInputs(inputs: readonly unknown[]): number[] {
  const idx: number[] = [];
  inputs.forEach((x, i) => {
    if (!(x instanceof Tensor) || !x.requiresGrad) return;
    if (x.dtype !== 'float64') throw new DTypeError('gradcheck', `inputs[${i}]`, 'a float64 tensor (finite differences need double precision; use .double())', x.dtype);
    if (x.shape.some((n, d) => n > 1 && x.strides[d] === 0)) {
      throw new AutogradError('gradcheck', `inputs[${i}]`, 'a tensor with distinct elements', 'overlapping elements (an expanded view, stride 0)');
    }
    idx.push(i);
  });
  if (idx.length === 0) throw new AutogradError({ op: 'gradcheck', argument: 'inputs', detail: 'no input requires grad' });
  return idx;
}

/** Compares analytical and numerical Jacobians; returns a report instead of throwing. */
export function checkGradients(fn: GradcheckFn, inputs: readonly unknown[], options: GradcheckOptions = {}): GradcheckReport {
  checkArguments('gradcheck', fn, options);
  const eps = options.eps ?? 1e-6, atol = options.atol ?? 1e-5, rtol = options.rtol ?? 1e-3;
  const call = (): Tensor[] => toList((fn as (...a: unknown[]) => Tensor | readonly Tensor[])(...inputs)).filter((o) => isFloating(o.dtype));
  const diff = differentiableInputs(inputs);
  const xs = diff.map((i) => inputs[i] as Tensor);

  // rows of the Jacobian to compare: one-hot output gradients, or random projections
  const outs = enableGrad(call);
  const total = outs.reduce((n, o) => n + o.numel, 0);
  const full = total <= (options.fullJacobianLimit ?? 256);
  const normal = rng(options.seed ?? 0);
  const rows: { label: string; weights: Float64Array[] }[] = [];
  if (full) {
    outs.forEach((o, k) => {
      for (let e = 0; e < o.numel; e++) {
        const weights = outs.map((p) => new Float64Array(p.numel));
        weights[k][e] = 1;
        rows.push({ label: `output ${k} element ${fmtShape(unravel(e, o.shape))}`, weights });
      }
    });
  } else {
    for (let r = 0; r < (options.projections ?? 4); r++) {
      rows.push({ label: `random projection ${r} of the outputs`, weights: outs.map((p) => Float64Array.from({ length: p.numel }, normal)) });
    }
  }

  // analytical: one backward pass per row
  const diffOuts = outs.map((o, k) => [o, k] as const).filter(([o]) => o.requiresGrad);
  const analytical = rows.map((row) => {
    if (diffOuts.length === 0) return xs.map((x) => new Float64Array(x.numel));
    const gradOutputs = diffOuts.map(([o, k]) => tensor(row.weights[k], { dtype: o.dtype, device: o.device }).reshape(o.shape));
    const gs = grad(diffOuts.map(([o]) => o), xs, gradOutputs, { retainGraph: true, allowUnused: true });
    return gs.map((g, i) => (g === null ? new Float64Array(xs[i].numel) : hostValues(g)));
  });

  // numerical: central differences, element by element
  // grad mode stays on: the function may compute gradients itself (gradgradcheck's does)
  const evaluate = (): Float64Array[] => enableGrad(() => call().map(hostValues));
  const numerical = rows.map(() => xs.map((x) => new Float64Array(x.numel)));
  xs.forEach((x, i) => {
    const original = hostValues(x);
    for (let j = 0; j < x.numel; j++) {
      setElement(x, j, original[j] + eps);
      const plus = evaluate();
      setElement(x, j, original[j] - eps);
      const minus = evaluate();
      setElement(x, j, original[j]);
      rows.forEach((row, r) => {
        let s = 0;
        row.weights.forEach((w, k) => {
          const p = plus[k], m = minus[k];
          for (let e = 0; e < w.length; e++) if (w[e] !== 0) s += w[e] * (p[e] - m[e]);
        });
        numerical[r][i][j] = s / (2 * eps);
      });
    }
  });

  const mismatches: GradcheckMismatch[] = [];
  rows.forEach((row, r) => {
    xs.forEach((x, i) => {
      const a = analytical[r][i], n = numerical[r][i];
      for (let j = 0; j < x.numel; j++) {
        const ok = Math.abs(a[j] - n[j]) <= atol + rtol * Math.abs(n[j]);
        if (!ok || Number.isNaN(a[j]) !== Number.isNaN(n[j])) {
          mismatches.push({ input: diff[i], element: j, index: unravel(j, x.shape), row: row.label, analytical: a[j], numerical: n[j] });
        }
      }
    });
  });
  const message = mismatches.length === 0 ? '' :
    `gradcheck: the analytical and numerical Jacobians differ in ${mismatches.length} entries (eps ${eps}, atol ${atol}, rtol ${rtol}):\n` +
    mismatches.slice(0, 8).map((m) =>
      `  input ${m.input} (shape ${fmtShape((inputs[m.input] as Tensor).shape)}) element ${fmtShape(m.index)}, ${m.row}: ` +
      `analytical ${m.analytical}, numerical ${m.numerical}`).join('\n');
  return { ok: mismatches.length === 0, mismatches, message };
}

/**
 * True when the gradients of fn at inputs match finite differences; otherwise throws an
 * AutogradError naming the input, element and output of the worst entries. Inputs that require
 * grad must be float64.
 *
 * @example
 * ```ts
 * const x = randn([3, 4], { dtype: 'float64' }).requiresGrad_();
 * gradcheck((a: Tensor) => a.silu(), [x]);   // true
 * ```
 */
export function gradcheck(fn: GradcheckFn, inputs: readonly unknown[], options: GradcheckOptions = {}): true {
  const r = checkGradients(fn, inputs, options);
  if (!r.ok) throw new AutogradError({ op: 'gradcheck', message: r.message });
  return true;
}

/**
 * Checks second derivatives: gradcheck of x -> grad(fn(x), x, v, createGraph) with respect to the
 * inputs and the output gradients v (random float64 unless given).
 */
export function gradgradcheck(fn: GradcheckFn, inputs: readonly unknown[], gradOutputs?: readonly Tensor[], options: GradcheckOptions = {}): true {
  checkArguments('gradgradcheck', fn, options);
  const call = (args: readonly unknown[]): Tensor[] =>
    toList((fn as (...a: unknown[]) => Tensor | readonly Tensor[])(...args)).filter((o) => isFloating(o.dtype) && o.requiresGrad);
  const diff = differentiableInputs(inputs);
  const outs = enableGrad(() => call(inputs));
  const normal = rng((options.seed ?? 0) + 1);
  const vs = gradOutputs ?? outs.map((o) =>
    tensor(Float64Array.from({ length: o.numel }, normal), { dtype: 'float64', device: o.device }).reshape(o.shape).requiresGrad_());
  if (vs.length !== outs.length) throw new AutogradError('gradgradcheck', 'gradOutputs', `one per differentiable output (${outs.length})`, `${vs.length} output gradients`);
  const n = inputs.length;
  const firstOrder = (...args: unknown[]): Tensor[] => {
    const xs = args.slice(0, n);
    const ys = call(xs);
    const wrt = diff.map((i) => xs[i] as Tensor);
    return grad(ys, wrt, args.slice(n) as Tensor[], { createGraph: true, allowUnused: true }).map((g, k) => g ?? zerosLike(wrt[k]));
  };
  return gradcheck(firstOrder, [...inputs, ...vs], options);
}
