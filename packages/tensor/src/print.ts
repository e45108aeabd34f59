/**
 * Printing tensors the way PyTorch does (torch/_tensor_str.py), with JavaScript spellings:
 *
 * ```
 * tensor([[ 1.0000, -2.5000],
 *         [ 3.0000,  4.0000]], dtype=float64, device='cuda:0', requiresGrad=true)
 * ```
 *
 * - floats: 4 decimals, or `1.` style when every value is an integer, or scientific notation
 *   (`1.0000e-05`) when the nonzero magnitudes span more than 1000x, exceed 1e8, or (non-integers)
 *   go below 1e-4; rounding is Python's (round half to even on the exact binary value);
 * - integers as they are (int64 exactly, beyond 2^53 too), bools as `true`/`false`; every element
 *   is right-aligned to the widest;
 * - more than `threshold` (1000) elements are summarised to the first and last `edgeitems` (3)
 *   of each dimension with `...`;
 * - the dtype is shown unless it is float32, int64 or bool (as PyTorch, whose defaults those are),
 *   the device unless it is the CPU, then `gradFn=<Name>` or `requiresGrad=true`.
 *
 * `toString()` and Node's `util.inspect` / `console.log` use it. Printing reads the values back
 * (on CUDA: waits for the device), only the summarised part of a large tensor.
 */
import { defaultFloat } from './dtype.js';
import { ValueError } from './errors.js';
import { toTypedArray } from './ops/convert.js';
import { cat } from './ops/join.js';
import { fmtShape } from './shape.js';
import { Tensor } from './tensor.js';

/** How tensors print: see {@link setPrintOptions}. */
export interface PrintOptions {
  /** digits after the decimal point of floats (4) */
  precision: number;
  /** element count above which a tensor is summarised (1000) */
  threshold: number;
  /** items shown at each end of a summarised dimension (3) */
  edgeitems: number;
  /** characters per line (80) */
  linewidth: number;
  /** force (true) or forbid (false) scientific notation; null: decide from the values */
  sciMode: boolean | null;
}

const defaults: PrintOptions = { precision: 4, threshold: 1000, edgeitems: 3, linewidth: 80, sciMode: null };
const printOptions: PrintOptions = { ...defaults };

/** Changes how tensors print (torch.set_printoptions); `setPrintOptions()` restores the defaults. */
export function setPrintOptions(options?: Partial<PrintOptions>): void {
  if (options === undefined) {
    Object.assign(printOptions, defaults);
    return;
  }
  for (const [k, min] of [['precision', 0], ['threshold', 0], ['edgeitems', 1], ['linewidth', 1]] as const) {
    const v = options[k];
    if (v !== undefined && (!Number.isInteger(v) || v < min) && !(k === 'threshold' && v === Infinity)) {
      throw new ValueError('setPrintOptions', k, `an integer >= ${min}`, String(v));
    }
  }
  if (options.precision !== undefined && options.precision > 20) throw new ValueError('setPrintOptions', 'precision', 'at most 20 digits', String(options.precision));
  Object.assign(printOptions, options);
}

/** The current print options (a copy). */
export function getPrintOptions(): PrintOptions {
  return { ...printOptions };
}

// ---- number formatting as Python's format() ------------------------------------------------

function nonFinite(x: number): string | null {
  if (Number.isNaN(x)) return 'nan';
  if (x === Infinity) return 'inf';
  if (x === -Infinity) return '-inf';
  return null;
}

/** The last decimal digit of a number string is even (the '.' is skipped). */
function endsEven(s: string): boolean {
  const digits = s.replace('.', '');
  return Number(digits[digits.length - 1]) % 2 === 0;
}

/**
 * Python's f'{x:.{p}f}'. JavaScript's toFixed rounds the exact binary value correctly except on
 * exact ties, which it rounds up where Python rounds to even. A tie needs x to have exactly p + 1
 * decimals ending in 5, and then x * 2^(p+1) is an integer (x = q / 2^(p+1)): only then is the
 * exact toFixed(p + 1) consulted.
 */
export function formatFixed(x: number, p: number): string {
  const nf = nonFinite(x);
  if (nf !== null) return nf;
  const neg = x < 0 || Object.is(x, -0);
  const a = Math.abs(x);
  let s = a.toFixed(p);
  if (a < 1e21 && Number.isInteger(a * 2 ** (p + 1))) {
    const longer = a.toFixed(p + 1); // exact here
    if (longer.endsWith('5')) {
      let down = longer.slice(0, -1);
      if (down.endsWith('.')) down = down.slice(0, -1);
      if (endsEven(down)) s = down;
    }
  }
  return (neg ? '-' : '') + s;
}

/** Python's '{:.{p}e}': as toExponential, with ties to even and a two-digit exponent. */
export function formatExp(x: number, p: number): string {
  const nf = nonFinite(x);
  if (nf !== null) return nf;
  const neg = x < 0 || Object.is(x, -0);
  const a = Math.abs(x);
  let s = a.toExponential(p);
  const longer = a.toExponential(p + 1);
  const [mant, expPart] = longer.split('e') as [string, string];
  if (mant.endsWith('5') && isExactExp(a, p + 1 - Number(expPart))) {
    let down = mant.slice(0, -1);
    if (down.endsWith('.')) down = down.slice(0, -1);
    if (endsEven(down)) s = `${down}e${expPart}`;
  }
  const [m, e] = s.split('e') as [string, string];
  const sign = e.startsWith('-') ? '-' : '+';
  const digits = e.replace(/^[+-]/, '');
  return `${neg ? '-' : ''}${m}e${sign}${digits.padStart(2, '0')}`;
}

/** a has at most k decimals (k may be negative: a multiple of 10^-k), i.e. toExponential(p+1) is exact. */
function isExactExp(a: number, k: number): boolean {
  if (k >= 0) return Number.isInteger(a * 2 ** k);
  return Number.isInteger(a) && BigInt(a) % 10n ** BigInt(-k) === 0n;
}

// ---- PyTorch's _Formatter ---------------------------------------------------------------------

type Value = number | bigint | boolean;

class Formatter {
  private intMode = true;
  private sciMode = false;
  private maxWidth = 1;

  constructor(
    private readonly floating: boolean,
    values: readonly Value[],
    private readonly opts: PrintOptions,
  ) {
    const p = opts.precision;
    if (!floating) {
      for (const v of values) this.maxWidth = Math.max(this.maxWidth, String(v).length);
      return;
    }
    const finite = (values as number[]).filter((v) => Number.isFinite(v) && v !== 0);
    if (finite.length > 0) {
      let min = Infinity, max = 0;
      for (const v of finite) {
        const a = Math.abs(v);
        if (a < min) min = a;
        if (a > max) max = a;
      }
      this.intMode = finite.every(Number.isInteger);
      if (this.intMode) {
        if (max / min > 1000 || max > 1e8) {
          this.sciMode = true;
          for (const v of finite) this.maxWidth = Math.max(this.maxWidth, formatExp(v, p).length);
        } else {
          for (const v of finite) this.maxWidth = Math.max(this.maxWidth, formatFixed(v, 0).length + 1);
        }
      } else if (max / min > 1000 || max > 1e8 || min < 1e-4) {
        this.sciMode = true;
        for (const v of finite) this.maxWidth = Math.max(this.maxWidth, formatExp(v, p).length);
      } else {
        for (const v of finite) this.maxWidth = Math.max(this.maxWidth, formatFixed(v, p).length);
      }
    }
    if (opts.sciMode !== null) this.sciMode = opts.sciMode;
  }

  get width(): number {
    return this.maxWidth;
  }

  format(v: Value): string {
    let s: string;
    if (!this.floating) s = String(v);
    else {
      const x = v as number;
      if (this.sciMode) s = formatExp(x, this.opts.precision);
      else if (this.intMode) s = formatFixed(x, 0) + (Number.isFinite(x) ? '.' : '');
      else s = formatFixed(x, this.opts.precision);
    }
    return s.padStart(this.maxWidth);
  }
}

// ---- layout -------------------------------------------------------------------------------------

/** A strided view that autograd does not see (printing must not record ops). */
function rawNarrow(t: Tensor, dim: number, start: number, length: number): Tensor {
  const shape = [...t.shape];
  shape[dim] = length;
  return new Tensor(t.storage, shape, t.strides, t.offset + start * t.strides[dim], t.dtype);
}

/** PyTorch's get_summarized_data: each dim longer than 2 * edge cut to its first and last edge items. */
function summarizedData(t: Tensor, edge: number): Tensor {
  let cur = t;
  for (let d = 0; d < t.ndim; d++) {
    const n = cur.shape[d];
    if (n <= 2 * edge) continue;
    const head = rawNarrow(cur, d, 0, edge), tail = rawNarrow(cur, d, n - edge, edge);
    const next = cat([head, tail], d);
    head.dispose();
    tail.dispose();
    if (cur !== t) cur.dispose();
    cur = next;
  }
  return cur;
}

function hostValues(t: Tensor): Value[] {
  const a = toTypedArray(t);
  if (t.dtype === 'bool') return Array.from(a as Uint8Array, (v) => v !== 0);
  if (t.dtype === 'int64') return Array.from(a as BigInt64Array);
  return Array.from(a as Float32Array);
}

/**
 * _tensor_str_with_formatter over the (summarised) values: `shape` is the printed data's,
 * `cut[d]` says dim d was summarised (its 2 * edge items get a '...' in the middle).
 */
function formatNested(values: readonly Value[], shape: readonly number[], cut: readonly boolean[], f: Formatter, o: PrintOptions): string {
  const strides: number[] = [];
  let acc = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    strides[d] = acc;
    acc *= shape[d];
  }
  const positions = (d: number): (number | null)[] => {
    const n = shape[d];
    const all = Array.from({ length: n }, (_, i) => i);
    if (!cut[d]) return all;
    const e = n / 2;
    return [...all.slice(0, e), null, ...all.slice(e)];
  };
  const rec = (d: number, base: number, indent: number): string => {
    if (d === shape.length) return f.format(values[base]);
    const ps = positions(d);
    if (d === shape.length - 1) {
      const items = ps.map((i) => (i === null ? ' ...' : f.format(values[base + i * strides[d]])));
      const perLine = Math.max(1, Math.floor((o.linewidth - indent) / (f.width + 2)));
      const lines: string[] = [];
      for (let i = 0; i < items.length; i += perLine) lines.push(items.slice(i, i + perLine).join(', '));
      return `[${lines.join(`,\n${' '.repeat(indent + 1)}`)}]`;
    }
    const slices = ps.map((i) => (i === null ? '...' : rec(d + 1, base + i * strides[d], indent + 1)));
    const remaining = shape.length - d;
    return `[${slices.join(`,${'\n'.repeat(remaining - 1)}${' '.repeat(indent + 1)}`)}]`;
  };
  return rec(0, 0, 7);
}

function tensorBody(t: Tensor, o: PrintOptions): string {
  const summarize = t.numel > o.threshold;
  const data = summarize ? summarizedData(t, o.edgeitems) : t;
  try {
    const values = hostValues(data);
    const cut = t.shape.map((n) => summarize && n > 2 * o.edgeitems);
    const f = new Formatter(t.dtype !== 'bool' && t.dtype !== 'int32' && t.dtype !== 'int64', values, o);
    return formatNested(values, data.shape, cut, f, o);
  } finally {
    if (data !== t) data.dispose();
  }
}

/** _add_suffixes: ', suffix' on the last line while it fits, else on a new indented line. */
function addSuffixes(body: string, suffixes: readonly string[], indent: number, linewidth: number): string {
  const parts = [body];
  let lastLine = body.length - body.lastIndexOf('\n') + 1;
  for (const s of suffixes) {
    if (lastLine + s.length + 2 > linewidth) {
      parts.push(`,\n${' '.repeat(indent)}${s}`);
      lastLine = indent + s.length;
    } else {
      parts.push(`, ${s}`);
      lastLine += s.length + 2;
    }
  }
  parts.push(')');
  return parts.join('');
}

/** The printed form of a tensor (what toString() and console.log show). */
export function formatTensor(t: Tensor): string {
  if (t.isDisposed) return `tensor(<disposed>, shape=${fmtShape(t.shape)}, dtype=${t.dtype})`;
  const o = printOptions;
  const prefix = 'tensor(';
  const suffixes: string[] = [];
  if (t.device.type !== 'cpu') suffixes.push(`device='${t.device}'`);
  let body: string;
  if (t.numel === 0) {
    body = '[]';
    if (t.ndim !== 1) suffixes.push(`size=${fmtShape(t.shape)}`);
    // no values to tell an integer tensor by: any dtype but the default float is shown
    if (t.dtype !== defaultFloat) suffixes.push(`dtype=${t.dtype}`);
  } else {
    if (t.dtype !== defaultFloat && t.dtype !== 'int64' && t.dtype !== 'bool') suffixes.push(`dtype=${t.dtype}`);
    body = tensorBody(t, o);
  }
  if (t.gradFn !== null) suffixes.push(`gradFn=<${t.gradFn.name}>`);
  else if (t.requiresGrad) suffixes.push('requiresGrad=true');
  return addSuffixes(prefix + body, suffixes, prefix.length, o.linewidth);
}

declare module './tensor.js' {
  interface Tensor {
    /** PyTorch-style text of the tensor's values (see print.ts). */
    toString(): string;
  }
}

Tensor.prototype.toString = function (this: Tensor) { return formatTensor(this); };
(Tensor.prototype as unknown as Record<symbol, unknown>)[Symbol.for('nodejs.util.inspect.custom')] = function (this: Tensor) {
  return formatTensor(this);
};
