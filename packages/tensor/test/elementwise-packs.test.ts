/**
 * The CUDA elementwise loop's paths for unit-stride operands (native/cuda/elementwise.cuh): whole
 * 16-byte packs plus a tail, the one-element loop for contiguous views whose address is not
 * pack-aligned, and copy's byte-copy path for dense operands of one dtype. The other elementwise
 * suites cover sizes and dtypes on fresh (aligned) tensors; this one covers views at unaligned
 * offsets, on every device, against the same ops on fresh copies of the same values.
 */
import { expect, it } from 'vitest';
import { type DType, type Tensor, tensor } from '@kiln/tensor';
import { forEachDevice } from '@kiln/tensor/testing';
import { randomOf, values } from './elementwise-cases.js';

// pack widths: 4 float32, 2 float64, 8 bfloat16, 2 int64, 4 int32, 16 bool; sizes around them
const SIZES = [1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 33, 1031];
const DTYPES: readonly DType[] = ['float32', 'float64', 'bfloat16', 'int64', 'int32', 'bool'];
// element offsets of a contiguous view into a larger buffer: 0 is aligned, 1 and 3 are not (for
// every dtype whose pack holds more than one element)
const OFFSETS = [0, 1, 3];

const fresh = (t: Tensor): Tensor => tensor(t.dtype === 'bool' ? values(t).map((v) => v !== 0) : values(t), { dtype: t.dtype, device: 'cpu' });

forEachDevice('elementwise packs', (dev) => {
  for (const dtype of DTYPES) {
    it(`${dtype}: x + y, x * 2, clone and a conversion of contiguous views at offsets ${OFFSETS.join(', ')}`, () => {
      for (const n of SIZES) {
        for (const off of OFFSETS) {
          const total = n + off + 2;
          const make = (seed: number) => {
            const v = randomOf(seed, total, dtype, -50, 50);
            return tensor(dtype === 'bool' ? v.map((b) => b !== 0) : v, { dtype, device: dev });
          };
          const bx = make(1000 + n), by = make(2000 + n);
          const x = bx.narrow(0, off, n), y = by.narrow(0, off, n);
          expect(x.isContiguous).toBe(true);
          const fx = fresh(x), fy = fresh(y);   // the same values, aligned, on the CPU
          const what = `${dtype} n=${n} offset=${off}`;
          // bool takes no arithmetic: logicalOr is its binary op (bool in, bool out: 16-element packs)
          const ops = (a: Tensor, b: Tensor) => [dtype === 'bool' ? a.logicalOr(b) : a.add(b), a.clone(), a.to('float64'), ...(dtype === 'bool' ? [] : [a.mul(2)])];
          const got = ops(x, y), want = ops(fx, fy);
          got.forEach((g, i) => expect(values(g), `${what} #${i}`).toEqual(values(want[i])));
          for (const t of [bx, by, fx, fy, ...got, ...want]) t.dispose();
        }
      }
    });
  }

  it('copy_ from a shifted slice of the same buffer gives the values the slice had before', () => {
    const b = tensor(Array.from({ length: 40 }, (_, i) => i), { dtype: 'float32', device: dev });
    b.narrow(0, 1, 30).copy_(b.narrow(0, 0, 30));
    expect(values(b)).toEqual([0, ...Array.from({ length: 30 }, (_, i) => i), ...Array.from({ length: 9 }, (_, i) => 31 + i)]);
    b.dispose();
  });
});
