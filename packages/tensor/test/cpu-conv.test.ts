/**
 * The CPU's convolution kernels (native/cpu/conv.cc: products over operands packed from the image,
 * conv_gemm.h, and direct kernels for one input channel per group, conv_direct.h) on the paths they
 * choose between: a window over a padded image, a 1x1 window read as a plain matrix (contiguous and
 * strided image), depthwise with few outputs per group (direct) and with many (GEMM), enough input
 * channels for the input gradient to split them into blocks. Every pass against the float64
 * reference, with every micro-kernel set this processor runs and on 1, 2 and 3 threads: the result
 * must not depend on the thread count (each element is summed in one fixed order). The op-level
 * suite on every device is nn-ops.test.ts.
 */
import { afterAll, describe, expect, it } from 'vitest';
import {
  type DType, type Tensor, conv2d, conv2dBackwardInput, conv2dBackwardWeight, cpuThreads, loadAddon, tensor, type KernelAddon,
} from '@kiln/tensor';
import { expectClose, randomValues, toNumbers } from '@kiln/tensor/testing';
import { type Win, refConv2d, refConv2dBackward } from './conv-reference.js';

interface CpuTestHooks extends KernelAddon {
  capIsa(isa: string): string;
}
const addon = loadAddon<CpuTestHooks>('kiln_cpu.node', 'cpu');
const ISAS = ['baseline', 'avx2', 'avx512'] as const;
const supported = ISAS.filter((isa) => addon.capIsa(isa) === isa);
addon.capIsa('avx512');   // back to the best this processor has
const defaultThreads = cpuThreads();
afterAll(() => {
  addon.capIsa('avx512');
  cpuThreads(defaultThreads);
});

const numel = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);
const valuesOf = (t: Tensor): number[] => toNumbers(t.toTypedArray());
const rand = (seed: number, shape: number[], dtype: DType) => tensor(randomValues(seed, numel(shape)), { dtype }).reshape(shape);
/** A non-contiguous NCHW image: an NHWC buffer permuted, every other column. */
const stridedImage = (seed: number, [n, c, h, w]: number[], dtype: DType) =>
  rand(seed, [n, h, 2 * w, c], dtype).permute(0, 3, 1, 2).slice(3, 0, 2 * w, 2);

interface Case { name: string; x: number[]; w: number[]; win: Win; groups: number; strided?: boolean }
const win = (k: number, s = 1, p = 0, d = 1): Win => ({ k: [k, k], s: [s, s], p: [p, p], d: [d, d] });
const CASES: Case[] = [
  { name: '3x3, padding 1', x: [2, 5, 9, 11], w: [7, 5, 3, 3], win: win(3, 1, 1), groups: 1 },
  { name: '3x3 stride 2, dilation 2, groups 2, strided image', x: [3, 4, 13, 12], w: [6, 2, 3, 3], win: win(3, 2, 2, 2), groups: 2, strided: true },
  { name: '1x1 (the image as a matrix)', x: [2, 9, 6, 7], w: [5, 9, 1, 1], win: win(1), groups: 1 },
  { name: '1x1 on a strided image', x: [2, 6, 5, 4], w: [3, 6, 1, 1], win: win(1), groups: 1, strided: true },
  { name: '1x1 stride 2', x: [1, 4, 7, 7], w: [6, 4, 1, 1], win: win(1, 2), groups: 1 },
  { name: 'depthwise 3x3 (direct)', x: [2, 6, 10, 9], w: [6, 1, 3, 3], win: win(3, 1, 1), groups: 6 },
  { name: 'depthwise x2, stride 2, strided image (direct)', x: [2, 4, 11, 10], w: [8, 1, 3, 3], win: win(3, 2, 1), groups: 4, strided: true },
  { name: 'depthwise x9 (GEMM)', x: [1, 2, 6, 6], w: [18, 1, 3, 3], win: win(3, 1, 1), groups: 2 },
  { name: '40 input channels (input gradient in channel blocks)', x: [1, 40, 8, 8], w: [12, 40, 3, 3], win: win(3, 1, 1), groups: 1 },
];
const TOL: Record<string, { rtol: number; atol: number }> = {
  float64: { rtol: 1e-12, atol: 1e-12 }, float32: { rtol: 1e-4, atol: 1e-4 }, float16: { rtol: 1e-2, atol: 2e-2 },
};

describe('CPU convolution kernels', () => {
  for (const isa of supported) {
    for (const dtype of ['float64', 'float32', 'float16'] as DType[]) {
      for (const c of CASES) {
        it(`${isa}, ${dtype}: ${c.name}: forward and both gradients match the reference on 1, 2 and 3 threads`, () => {
          addon.capIsa(isa);
          const x = c.strided ? stridedImage(1, c.x, dtype) : rand(1, c.x, dtype);
          const w = rand(2, c.w, dtype), b = rand(3, [c.w[0]], dtype);
          const opts = { stride: c.win.s, padding: c.win.p, dilation: c.win.d, groups: c.groups };
          const ref = refConv2d(valuesOf(x), c.x, valuesOf(w), c.w, valuesOf(b), c.win, c.groups);
          const g = rand(4, ref.shape, dtype);
          const back = refConv2dBackward(valuesOf(x), c.x, valuesOf(w), c.w, valuesOf(g), c.win, c.groups);
          const tol = TOL[dtype];
          let first: number[][] | null = null;
          for (const threads of [1, 2, 3]) {
            cpuThreads(threads);
            const y = conv2d(x, w, b, opts), gx = conv2dBackwardInput(g, w, c.x, opts), gw = conv2dBackwardWeight(g, x, c.w, opts);
            expect(y.shape).toEqual(ref.shape);
            expectClose(y, ref.data, { ...tol, what: `forward on ${threads} threads` });
            expectClose(gx, back.gx, { ...tol, what: `input gradient on ${threads} threads` });
            expectClose(gw, back.gw, { ...tol, what: `weight gradient on ${threads} threads` });
            const results = [valuesOf(y), valuesOf(gx), valuesOf(gw)];
            first ??= results;
            expect(results).toEqual(first);
            for (const t of [y, gx, gw]) t.dispose();
          }
          addon.capIsa('avx512');
          cpuThreads(defaultThreads);
        });
      }
    }
  }
});
