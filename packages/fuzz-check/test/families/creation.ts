/** Creation: zeros, ones, full, empty, arange, linspace, eye with any shapes, values and dtypes. */
import fc from 'fast-check';
import { type DType, arange, dtypeInfo, empty, eye, full, linspace, ones, tensor, zeros } from '@kiln/tensor';
import { family } from '../support/family.js';
import { attempt, expectRefused, expectShape, expectValues, flat } from '../support/outcome.js';
import { isIntIn, numelOf, someDType, someNumber, someShape, someValue } from '../support/values.js';

/**
 * Valid calls that would make more elements than this are not run: their values could not be
 * checked cheaply, and on a shared machine a valid 16 GB tensor is a real allocation. (Invalid
 * ones always run: they must fail before allocating anything.)
 */
const MAX_TEST_NUMEL = 4096;

/** A shape the reference accepts: an array of at most 12 safe non-negative integers. */
const validShape = (s: unknown): s is number[] => Array.isArray(s) && s.length <= 12 && s.every((v) => isIntIn(v, 0, Number.MAX_SAFE_INTEGER));
const isDType = (d: unknown): d is DType => typeof d === 'string' && d in dtypeInfo;

/** The value a dtype stores for v (the half types are compared at their own precision by a tolerance). */
function stored(v: number | boolean, dtype: DType): number | null {
  const x = Number(v);
  if (typeof v === 'boolean') return x;
  if (dtype === 'bool') return x === 0 || x === 1 ? x : null;
  if (dtype === 'int32') return Number.isInteger(x) && x >= -(2 ** 31) && x < 2 ** 31 ? x : null;
  if (dtype === 'int64') return Number.isInteger(x) && x >= -(2 ** 63) && x < 2 ** 63 ? x : null;
  if (dtype === 'float32') return Math.fround(x);
  return x;
}

export const creation = family({
  title: 'creation: zeros, ones, full, empty, arange, linspace, eye, tensor',
  arbitrary: fc.record({
    op: fc.constantFrom('zeros', 'ones', 'full', 'empty', 'arange', 'linspace', 'eye', 'tensor'),
    shape: someShape,
    value: someValue,
    a: someNumber,
    b: someNumber,
    c: someNumber,
    dtype: fc.option(someDType, { nil: undefined }),
  }),
  check({ op, shape, value, a, b, c, dtype }) {
    const opts = dtype === undefined ? undefined : { dtype: dtype as DType };
    const dt = (dtype ?? 'float32') as DType;
    const dtypeOk = dtype === undefined || isDType(dtype);
    const bigEnough = (s: number[]) => numelOf(s) <= MAX_TEST_NUMEL;
    if (op === 'zeros' || op === 'ones' || op === 'empty' || op === 'full') {
      const v = op === 'zeros' ? 0 : op === 'ones' ? 1 : value;
      if (validShape(shape) && !bigEnough(shape)) return;
      const o = attempt(op, () => (op === 'full' ? full(shape as number[], v as number, opts) : op === 'zeros' ? zeros(shape as number[], opts) : op === 'ones' ? ones(shape as number[], opts) : empty(shape as number[], opts)));
      const fullDt = (typeof v === 'boolean' && dtype === undefined ? 'bool' : dt);
      const valueOk = op === 'empty' || ((typeof v === 'number' || typeof v === 'boolean') && stored(v, fullDt) !== null);
      if (!validShape(shape) || !dtypeOk || !valueOk) return expectRefused(op, o);
      if (!o.ok) throw new Error(`${op}(${JSON.stringify(shape)}): refused a valid call: ${(o.error as Error).message}`);
      const t = o.value;
      expectShape(op, t.shape, shape);
      if (op !== 'empty') expectValues(op, flat(t), Array(numelOf(shape)).fill(stored(v as number, fullDt)), fullDt === 'float16' || fullDt === 'bfloat16' ? 1e-2 : 0);
      t.dispose();
      return;
    }
    if (op === 'arange') {
      const step = c === 0 ? 1 : c;
      const finite = [a, b, step].every(Number.isFinite);
      const n = finite ? Math.max(0, Math.ceil((b - a) / step)) : NaN;
      if (finite && n > MAX_TEST_NUMEL && Number.isSafeInteger(n)) return;
      const o = attempt(op, () => arange(a, b, step, opts));
      const wrongSign = (step > 0 && b < a) || (step < 0 && b > a);
      if (!finite || !dtypeOk || wrongSign || !Number.isSafeInteger(n)) return expectRefused(op, o);
      if (!o.ok) return;   // a count too large for memory, or ends an integer dtype cannot hold
      const t = o.value;
      const expected = Array.from({ length: t.numel }, (_, i) => a + i * step);
      expectShape(op, t.shape, [n]);
      if (t.dtype === 'float64') expectValues(op, flat(t), expected, 1e-12);
      t.dispose();
      return;
    }
    if (op === 'linspace') {
      const steps = Math.abs(c) <= 64 ? Math.abs(c) : c;
      if (isIntIn(steps, MAX_TEST_NUMEL + 1, 2 ** 53)) return;
      const o = attempt(op, () => linspace(a, b, steps, { dtype: 'float64' }));
      if (!Number.isFinite(a) || !Number.isFinite(b) || !isIntIn(steps, 0, 2 ** 53) || (steps > 1 && !Number.isFinite((b - a) / (steps - 1)))) return expectRefused(op, o);
      if (!o.ok) return;
      const t = o.value;
      expectShape(op, t.shape, [steps]);
      const v = flat(t);
      if (steps > 0 && v[0] !== a) throw new Error(`linspace: first value ${v[0]}, expected ${a}`);
      if (steps > 1 && v[steps - 1] !== b) throw new Error(`linspace: last value ${v[steps - 1]}, expected ${b}`);
      t.dispose();
      return;
    }
    if (op === 'eye') {
      const m = b === 0 ? a : b;
      if (isIntIn(a, 0, 2 ** 53) && isIntIn(m, 0, 2 ** 53) && a * m > MAX_TEST_NUMEL) return;
      const o = attempt(op, () => eye(a, b === 0 ? undefined : b, opts));
      if (!isIntIn(a, 0, 2 ** 53) || !isIntIn(m, 0, 2 ** 53) || !dtypeOk) return expectRefused(op, o);
      if (!o.ok) return;
      const t = o.value;
      expectShape(op, t.shape, [a, m]);
      if (a * m <= MAX_TEST_NUMEL) expectValues(op, flat(t), Array.from({ length: a * m }, (_, k) => (Math.floor(k / m) === k % m ? 1 : 0)));
      t.dispose();
      return;
    }
    // tensor(): nested arrays of any values
    const data = Array.isArray(shape) ? shape : [shape];
    const o = attempt(op, () => tensor(data as number[], opts));
    if (o.ok) o.value.dispose();
  },
});
