/**
 * Shared pieces of the elementwise suites (elementwise-unary / -binary / -inplace, type-promotion):
 * seeded inputs of any dtype, rounding a float64 reference to a dtype, per-dtype comparisons,
 * non-contiguous views with their index maps written out in JS, a broadcasting reference, and the
 * CUDA-against-CPU describe.
 */
import { describe, expect } from 'vitest';
import { type DType, type Tensor, tensor } from '@kiln/tensor';
import { devicesUnderTest, testRng, toNumbers } from '@kiln/tensor/testing';

export type Dev = 'cpu' | 'cuda';
export const FLOATS: readonly DType[] = ['float64', 'float32', 'float16', 'bfloat16'];
export const INTS: readonly DType[] = ['int32', 'int64'];
export const NUMERIC: readonly DType[] = [...FLOATS, ...INTS];
export const ALL: readonly DType[] = [...NUMERIC, 'bool'];
/** Sizes that cross vector widths and CUDA block sizes (256 threads, 4 elements a thread). */
export const SIZES: readonly (readonly number[])[] = [[], [0], [1], [3], [255], [256], [257], [4099], [65537]];

export const numel = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);
export const values = (t: Tensor): number[] => toNumbers(t.toTypedArray());
export const isFloat = (d: DType): boolean => (FLOATS as readonly string[]).includes(d);

/** n seeded values of `dtype` in [lo, hi): integers rounded, bools true with probability 1/2. */
export function randomOf(seed: number, n: number, dtype: DType, lo = -1, hi = 1): number[] {
  const r = testRng(seed);
  return Array.from({ length: n }, () => {
    const u = r();
    if (dtype === 'bool') return u < 0.5 ? 0 : 1;
    return isFloat(dtype) ? lo + (hi - lo) * u : Math.floor(lo + (hi - lo + 1) * u);
  });
}

/** A tensor of `shape` and `dtype` from JS numbers (bools from 0/1). */
export function make(vals: readonly number[], shape: readonly number[], dtype: DType, dev: Dev): Tensor {
  const data = dtype === 'bool' ? vals.map((v) => v !== 0) : [...vals];
  return tensor(data, { dtype, device: dev }).reshape([...shape]);
}

// ---- rounding a float64 reference to a dtype (round to nearest, ties to even) ----------------

const f64 = new Float64Array(1);
const u64 = new BigUint64Array(f64.buffer);

/** Rounds x to a binary format with `mant` fraction bits, exponent range [emin, emax]. */
function roundToFormat(x: number, mant: number, emin: number, emax: number): number {
  if (!Number.isFinite(x) || x === 0) return x;
  const a = Math.abs(x);
  f64[0] = a;
  const e = Math.max(Number((u64[0] >> 52n) & 0x7ffn) - 1023, emin);
  const q = 2 ** (e - mant);                          // the spacing of the format at |x|
  let m = a / q;                                        // exact: scaling by a power of two
  const fl = Math.floor(m), rem = m - fl;
  m = rem > 0.5 || (rem === 0.5 && fl % 2 === 1) ? fl + 1 : fl;
  const r = m * q;
  const max = (2 - 2 ** -mant) * 2 ** emax;
  return Math.sign(x) * (r > max ? Infinity : r);
}

/** x as stored in `dtype` (float64: itself; ints: as is). */
export function roundTo(dtype: DType, x: number): number {
  switch (dtype) {
    case 'float32': return Math.fround(x);
    case 'float16': return roundToFormat(x, 10, -14, 15);
    case 'bfloat16': return roundToFormat(x, 7, -126, 127);
    default: return x;
  }
}

/** The distance between x and the next representable magnitude of a half type (its ulp). */
function ulpOf(dtype: 'float16' | 'bfloat16', x: number): number {
  const [mant, emin] = dtype === 'float16' ? [10, -14] : [7, -126];
  const e = x === 0 ? emin : Math.max(Math.floor(Math.log2(Math.abs(x))), emin);
  return 2 ** (e - mant);
}

/** Tolerances of a float dtype against a float64 reference rounded to it. */
export const TOL: Record<string, { rtol: number; atol: number; ulps: number }> = {
  float64: { rtol: 1e-12, atol: 1e-300, ulps: 0 },
  float32: { rtol: 1e-6, atol: 2 ** -126, ulps: 0 },
  // the kernels compute halves in float32 and round once: at most one ulp from the rounded
  // reference, two allowed
  float16: { rtol: 0, atol: 0, ulps: 2 },
  bfloat16: { rtol: 0, atol: 0, ulps: 2 },
};

/**
 * Checks `actual` (a tensor of dtype `dtype`) against float64 reference values: exact for integer
 * and bool dtypes, within TOL for floats after rounding the reference to the dtype. NaN must match
 * NaN and infinities must match exactly. `rtolScale` widens the float tolerance for an op.
 */
export function expectValues(actual: Tensor, ref: readonly number[], dtype: DType, what: string, rtolScale = 1): void {
  expect(actual.dtype, `${what}: dtype`).toBe(dtype);
  const got = values(actual);
  expect(got.length, `${what}: element count`).toBe(ref.length);
  const tol = TOL[dtype];
  for (let i = 0; i < got.length; i++) {
    const g = got[i], r = roundTo(dtype, ref[i]);
    let ok: boolean;
    if (Number.isNaN(r) || Number.isNaN(g)) ok = Number.isNaN(r) && Number.isNaN(g);
    else if (!Number.isFinite(r) || !Number.isFinite(g) || !tol) ok = g === r;
    else if (tol.ulps > 0) ok = Math.abs(g - r) <= tol.ulps * rtolScale * ulpOf(dtype as 'float16', r);
    else ok = Math.abs(g - r) <= tol.atol + tol.rtol * rtolScale * Math.abs(r);
    if (!ok) expect.fail(`${what}: element ${i} is ${g}, expected ${r} (float64 reference ${ref[i]})`);
  }
}

/** Exact equality of two tensors' values (NaN equal to NaN), for CUDA against CPU on int/bool. */
export function expectSameValues(a: Tensor, b: Tensor, what: string): void {
  expect(a.dtype, what).toBe(b.dtype);
  expect(a.shape, what).toEqual(b.shape);
  expect(values(a).map((v) => (Number.isNaN(v) ? 'NaN' : v)), what).toEqual(values(b).map((v) => (Number.isNaN(v) ? 'NaN' : v)));
}

/** A CUDA result against the CPU's: exact for int/bool, within the dtype's tolerance for floats. */
export function expectCudaMatchesCpu(cudaOut: Tensor, cpuOut: Tensor, what: string, rtolScale = 1): void {
  expect(cudaOut.device.type, what).toBe('cuda');
  expect(cudaOut.shape, what).toEqual(cpuOut.shape);
  if (isFloat(cpuOut.dtype)) expectValues(cudaOut, values(cpuOut), cpuOut.dtype, `${what} (cuda vs cpu)`, 2 * rtolScale);
  else expectSameValues(cudaOut, cpuOut, `${what} (cuda vs cpu)`);
}

/** describe() for CUDA-against-CPU checks, or a skipped block saying why where CUDA is absent. */
export function describeCudaVsCpu(title: string, body: () => void): void {
  const cuda = devicesUnderTest().find((d) => d.name === 'cuda')!;
  if (cuda.available) describe(`${title} [cuda vs cpu]`, body);
  else describe.skip(`${title} [cuda vs cpu] (skipped: ${cuda.reason})`, body);
}

// ---- non-contiguous views, each with its index map written out in JS ------------------------

/** A view of a [4, 6] base: how to make it, its shape, and which base element each of its elements is. */
export interface ViewCase {
  name: string;
  shape: number[];
  make: (base: Tensor) => Tensor;
  /** base flat index of the view's element at multi-index idx */
  at: (idx: number[]) => number;
}

export const BASE_SHAPE = [4, 6];
export const VIEWS: readonly ViewCase[] = [
  { name: 'transpose', shape: [6, 4], make: (b) => b.transpose(0, 1), at: ([i, j]) => j * 6 + i },
  { name: 'slice with step 2', shape: [4, 3], make: (b) => b.slice(1, 1, 6, 2), at: ([i, j]) => i * 6 + 1 + 2 * j },
  { name: 'narrow', shape: [4, 3], make: (b) => b.narrow(1, 2, 3), at: ([i, j]) => i * 6 + 2 + j },
  { name: 'select a column', shape: [4], make: (b) => b.select(1, 3), at: ([i]) => i * 6 + 3 },
  { name: 'permute (3-d)', shape: [4, 2, 3], make: (b) => b.reshape([2, 3, 4]).permute(2, 0, 1), at: ([i, j, k]) => j * 12 + k * 4 + i },
  { name: 'expand (stride 0)', shape: [3, 6], make: (b) => b.narrow(0, 1, 1).expand([3, 6]), at: ([, j]) => 6 + j },
  { name: 'expand a column (stride 0)', shape: [4, 5], make: (b) => b.narrow(1, 0, 1).expand([4, 5]), at: ([i]) => i * 6 },
];

/** Multi-indices of a shape in row-major order. */
export function indices(shape: readonly number[]): number[][] {
  const out: number[][] = [];
  const n = numel(shape);
  for (let f = 0; f < n; f++) {
    const idx = new Array<number>(shape.length);
    let rem = f;
    for (let d = shape.length - 1; d >= 0; d--) { idx[d] = rem % shape[d]; rem = Math.floor(rem / shape[d]); }
    out.push(idx);
  }
  return out;
}

/** The values a view holds, from the base's JS values and the view's index map. */
export const viewValues = (v: ViewCase, base: readonly number[]): number[] => indices(v.shape).map((idx) => base[v.at(idx)]);

/** f applied to a and b broadcast together (NumPy rules), in JS: the reference of a binary op. */
export function broadcastRef(a: readonly number[], as: readonly number[], b: readonly number[], bs: readonly number[], f: (x: number, y: number) => number): { shape: number[]; data: number[] } {
  const nd = Math.max(as.length, bs.length);
  const pad = (s: readonly number[]) => [...new Array<number>(nd - s.length).fill(1), ...s];
  const pa = pad(as), pb = pad(bs);
  const shape = pa.map((x, i) => (x === 1 ? pb[i] : x));
  const flat = (s: number[], idx: number[]) => idx.reduce((acc, k, d) => acc * s[d] + (s[d] === 1 ? 0 : k), 0);
  return { shape, data: indices(shape).map((idx) => f(a[flat(pa, idx)], b[flat(pb, idx)])) };
}
