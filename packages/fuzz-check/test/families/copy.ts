/**
 * copy_ between views of one storage (overlapping or not) and from other tensors, with
 * broadcasting: the destination must receive the source's values as they were before the call, and
 * nothing outside the destination may change.
 */
import fc from 'fast-check';
import { type Tensor, arange } from '@kiln/tensor';
import { family } from '../support/family.js';
import { attempt, expectRefused, expectValues, flat } from '../support/outcome.js';

const N = 24;

/** A 1-d view of `base`: [start, start + len * step) by step (a strided slice). */
const view = (base: Tensor, start: number, len: number, step: number): Tensor => base.slice(0, start, start + (len - 1) * step + 1, step);

export const copy = family({
  title: 'copy_: overlapping and disjoint views of one storage, broadcasting (values against a reference)',
  arbitrary: fc.record({
    dst: fc.record({ start: fc.nat(N - 1), len: fc.integer({ min: 1, max: N }), step: fc.integer({ min: 1, max: 3 }) }),
    src: fc.record({ start: fc.nat(N - 1), len: fc.integer({ min: 1, max: N }), step: fc.integer({ min: 1, max: 3 }) }),
    sameStorage: fc.boolean(),
    square: fc.boolean(),
  }),
  check({ dst, src, sameStorage, square }) {
    const fits = (v: { start: number; len: number; step: number }) => v.start + (v.len - 1) * v.step < N;
    if (!fits(dst) || !fits(src)) return;
    const base = arange(N, undefined, 1, { dtype: 'float64' });
    const other = arange(N, undefined, 1, { dtype: 'float64' }).add(100);
    const before = flat(base), otherVals = flat(other);
    if (square) {
      // a 4x4 block copied onto its own transpose: the same memory in another order
      const m = base.slice(0, 0, 16).reshape([4, 4]);
      const o = attempt('copy_', () => m.copy_(m.t()));
      if (!o.ok) throw new Error(`copy_ of a transpose onto itself was refused: ${(o.error as Error).message}`);
      const expected = [...before];
      for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) expected[i * 4 + j] = before[j * 4 + i]!;
      return expectValues('m.copy_(m.t())', flat(base), expected);
    }
    const d = view(base, dst.start, dst.len, dst.step);
    const s = view(sameStorage ? base : other, src.start, src.len, src.step);
    const o = attempt('copy_', () => d.copy_(s));
    const broadcastable = src.len === dst.len || src.len === 1;
    if (!broadcastable) return expectRefused(`copy_ of ${src.len} values into ${dst.len}`, o);
    if (!o.ok) throw new Error(`copy_ refused a valid call: ${(o.error as Error).message}`);
    const srcVals = sameStorage ? before : otherVals;
    const expected = [...before];
    for (let i = 0; i < dst.len; i++) expected[dst.start + i * dst.step] = srcVals[src.start + (src.len === 1 ? 0 : i) * src.step]!;
    expectValues(`copy_ [${dst.start}:+${dst.len}:${dst.step}] <- ${sameStorage ? 'same' : 'other'} [${src.start}:+${src.len}:${src.step}]`, flat(base), expected);
  },
});
