/**
 * The CPU GEMM behind 'bmm' (native/cpu/gemm.h): every micro-kernel set this processor runs
 * (baseline SSE, AVX2 + FMA, AVX-512), against the float64 reference, on shapes that cross each
 * set's tiles and cache blocks (mr x nr tiles, mc rows, kc depth, nc columns), with operands in
 * every layout the packers handle, with C written directly and through the compute-type block (a
 * strided C, half types), and on 1, 2 and 3 threads (the result must not depend on the count).
 * The op-level suite (every device, every rank combination) is matmul.test.ts.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { type DType, type Tensor, cpuInfo, cpuThreads, empty, launchKernel, loadAddon, matmul, tensor, type KernelAddon } from '@kiln/tensor';
import { expectClose, randomValues, toNumbers } from '@kiln/tensor/testing';
import { numel, refMatmul } from './matmul-reference.js';

interface CpuTestHooks extends KernelAddon {
  capIsa(isa: string): string;
}
const addon = loadAddon<CpuTestHooks>('kiln_cpu.node', 'cpu');
const ISAS = ['baseline', 'avx2', 'avx512'] as const;
const supported = new Set(ISAS.filter((isa) => addon.capIsa(isa) === isa));
addon.capIsa('avx512');   // back to the best this processor has
const defaultThreads = cpuThreads();
afterAll(() => {
  addon.capIsa('avx512');
  cpuThreads(defaultThreads);
});

const valuesOf = (t: Tensor): number[] => toNumbers(t.toTypedArray());
const rand = (seed: number, shape: number[], dtype: DType = 'float64') =>
  tensor(randomValues(seed, numel(shape)), { dtype }).reshape(shape);
const TOL: Record<string, { rtol: number; atol: number }> = {
  float64: { rtol: 1e-12, atol: 1e-12 },
  float32: { rtol: 2e-5, atol: 2e-5 },
  float16: { rtol: 4e-3, atol: 4e-3 },
  bfloat16: { rtol: 2e-2, atol: 2e-2 },
};

/** [M, K, N]: below, at and past one tile, an A block (mc <= 144), a k block (kc = 256), a B panel (nc <= 2048). */
const SHAPES: [number, number, number][] = [
  [1, 1, 1], [5, 3, 2], [6, 16, 16], [7, 17, 33], [12, 8, 32], [13, 257, 31], [73, 20, 9], [150, 300, 70], [290, 40, 65], [3, 20, 2100],
];

/** a [M, K] and b [K, N] in four layouts: contiguous, A transposed, B transposed, both sliced with steps. */
function layouts(M: number, K: number, N: number, dtype: DType, seed: number): [string, Tensor, Tensor][] {
  return [
    ['contiguous', rand(seed, [M, K], dtype), rand(seed + 1, [K, N], dtype)],
    ['A transposed', rand(seed + 2, [K, M], dtype).t(), rand(seed + 3, [K, N], dtype)],
    ['B transposed', rand(seed + 4, [M, K], dtype), rand(seed + 5, [N, K], dtype).t()],
    ['both sliced', rand(seed + 6, [M, 2 * K], dtype).slice(1, 0, 2 * K, 2), rand(seed + 7, [2 * K, N + 1], dtype).slice(0, 1, 2 * K, 2).slice(1, 1)],
  ];
}

describe('CPU GEMM', () => {
  it(`runs on ${cpuInfo().isa} here (${cpuInfo().gemm})`, () => {
    expect(supported.has('baseline')).toBe(true);
    expect(supported.has(cpuInfo().isa)).toBe(true);
  });

  for (const isa of ISAS) {
    const skip = !supported.has(isa);
    describe(`${isa} micro-kernels${skip ? ' (skipped: this processor does not support them)' : ''}`, () => {
      it.skipIf(skip)('float32 and float64 against float64, every layout, across tiles and blocks', () => {
        expect(addon.capIsa(isa)).toBe(isa);
        let seed = 1;
        for (const dtype of ['float64', 'float32'] as const) {
          for (const [M, K, N] of SHAPES) {
            for (const [layout, a, b] of layouts(M, K, N, dtype, (seed += 10))) {
              const e = refMatmul(valuesOf(a), a.shape, valuesOf(b), b.shape);
              expectClose(matmul(a, b), e.values, { ...TOL[dtype], what: `${isa} ${dtype} ${M}x${K}x${N} ${layout}` });
            }
          }
        }
      });

      it.skipIf(skip)('float16 and bfloat16 are packed into float32 and rounded once', () => {
        expect(addon.capIsa(isa)).toBe(isa);
        for (const dtype of ['float16', 'bfloat16'] as const) {
          for (const [M, K, N] of [[7, 300, 33], [150, 20, 17]] as const) {
            const a = rand(M + K, [M, K], dtype), b = rand(N + K, [K, N], dtype);
            expectClose(matmul(a, b), refMatmul(valuesOf(a), a.shape, valuesOf(b), b.shape).values, { ...TOL[dtype], what: `${isa} ${dtype} ${M}x${K}x${N}` });
          }
        }
      });

      it.skipIf(skip)('writes a strided C (transposed, float32 and float64) through the compute-type block, K = 0 included', () => {
        expect(addon.capIsa(isa)).toBe(isa);
        for (const dtype of ['float32', 'float64'] as const) {
          for (const [M, K, N] of [[13, 257, 31], [150, 40, 70], [5, 0, 7]] as const) {
            const a = rand(3, [M, K], dtype), b = rand(4, [K, N], dtype);
            const c = empty([N, M], { dtype }).fill_(7).t();   // C's rows have stride 1, columns stride M
            launchKernel('bmm', [a.unsqueeze(0), b.unsqueeze(0)], [c.unsqueeze(0)]);
            expectClose(c, refMatmul(valuesOf(a), a.shape, valuesOf(b), b.shape).values, { ...TOL[dtype], what: `${isa} ${dtype} strided C ${M}x${K}x${N}` });
          }
        }
      });

      it.skipIf(skip)('gives the same bits on 1, 2 and 3 threads, split by rows or by columns, batched and broadcast', () => {
        expect(addon.capIsa(isa)).toBe(isa);
        const cases: [string, Tensor, Tensor][] = [
          ['split by rows (M > N)', rand(1, [300, 200], 'float32'), rand(2, [200, 70], 'float32')],
          ['split by columns (N > M)', rand(3, [70, 200], 'float32'), rand(4, [200, 300], 'float32')],
          ['batched', rand(5, [5, 64, 64], 'float32'), rand(6, [5, 64, 48], 'float32')],
          ['broadcast batch', rand(7, [1, 90, 80]).expand(3, 90, 80), rand(8, [3, 80, 100])],
        ];
        for (const [what, a, b] of cases) {
          const e = refMatmul(valuesOf(a), a.shape, valuesOf(b), b.shape).values;
          const results = [1, 2, 3].map((t) => {
            cpuThreads(t);
            return valuesOf(matmul(a, b));
          });
          expectClose(results[0], e, { ...TOL[a.dtype], what: `${isa} ${what}` });
          expect(results[1], `${isa} ${what}: 2 threads`).toEqual(results[0]);
          expect(results[2], `${isa} ${what}: 3 threads`).toEqual(results[0]);
        }
        cpuThreads(defaultThreads);
      });
    });
  }
});
