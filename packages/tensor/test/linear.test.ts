// linear (y = x Wᵀ + b, PyTorch's F.linear) against a float64 reference written here, on every
// device, and on CUDA through cuBLASLt (the bias in its epilogue) and through Kiln's kernel.
import { afterEach, expect, it } from 'vitest';
import {
  type DType, type Tensor, DTypeError, ShapeError, linear, memoryStats, setFloat32MatmulPrecision, tensor, zeros,
} from '@kiln/tensor';
import { expectClose, expectError, forEachDensePath, forEachDevice, randomValues, recordOps, toNumbers, settleMemoryBeforeEach } from '@kiln/tensor/testing';

settleMemoryBeforeEach();

const numel = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);
const valuesOf = (t: Tensor): number[] => toNumbers(t.toTypedArray());

/** y[r, n] = Σ_k x[r, k] w[n, k] + b[n], rows r over x's leading dims (row-major values). */
function refLinear(x: readonly number[], xShape: readonly number[], w: readonly number[], n: number, b: readonly number[] | null): { values: number[]; shape: number[] } {
  const k = xShape[xShape.length - 1];
  const rows = numel(xShape.slice(0, -1));
  const out: number[] = [];
  for (let r = 0; r < rows; r++)
    for (let j = 0; j < n; j++) {
      let s = b ? b[j] : 0;
      for (let i = 0; i < k; i++) s += x[r * k + i] * w[j * k + i];
      out.push(s);
    }
  return { values: out, shape: [...xShape.slice(0, -1), n] };
}

const tolerance: Record<string, { rtol: number; atol: number }> = {
  float32: { rtol: 1e-5, atol: 1e-5 }, float64: { rtol: 1e-12, atol: 1e-12 },
  float16: { rtol: 2e-3, atol: 2e-3 }, bfloat16: { rtol: 1.6e-2, atol: 1.6e-2 },
};

forEachDensePath('linear', 'matmul', (dev, path) => {
  afterEach(() => setFloat32MatmulPrecision('highest'));
  const rand = (seed: number, shape: number[], dtype: DType = 'float64') => tensor(randomValues(seed, numel(shape)), { dtype, device: dev }).reshape(shape);
  const check = (x: Tensor, w: Tensor, b: Tensor | null, what: string, tol = tolerance.float64) => {
    const y = linear(x, w, b);
    const e = refLinear(valuesOf(x), x.shape, valuesOf(w), w.shape[0], b ? valuesOf(b) : null);
    expect(y.shape, what).toEqual(e.shape);
    expect(y.dtype).toBe(x.dtype);
    expectClose(y, e.values, { ...tol, what });
  };

  it('matches the reference for 1-D, 2-D and batched inputs, with and without bias', () => {
    check(rand(1, [7]), rand(2, [5, 7]), rand(3, [5]), '1-D input');
    check(rand(4, [6, 7]), rand(5, [5, 7]), rand(6, [5]), '2-D input');
    check(rand(7, [2, 3, 4, 7]), rand(8, [5, 7]), rand(9, [5]), '4-D input');
    check(rand(10, [6, 7]), rand(11, [5, 7]), null, 'no bias');
    check(rand(12, [65, 130]), rand(13, [33, 130]), rand(14, [33]), 'odd sizes');
  });

  it('reads non-contiguous input, weight and bias', () => {
    check(rand(20, [3, 7, 6]).transpose(0, 1), rand(21, [5, 6]), rand(22, [5]), 'transposed batch (not foldable into rows)');
    check(rand(23, [6, 9]).t(), rand(24, [5, 6]), rand(25, [5]), 'transposed input');
    check(rand(26, [8, 7]), rand(27, [7, 5]).t(), rand(28, [5]), 'transposed weight');
    check(rand(29, [8, 7]), rand(30, [5, 7]), rand(31, [10]).slice(0, 0, 10, 2), 'strided bias (no epilogue)');
    check(rand(32, [1, 7]).expand(4, 7), rand(33, [5, 7]), rand(34, [5]), 'expanded input');
  });

  it('K = 0 gives the bias; empty batches give empty results', () => {
    const b = rand(40, [3]);
    const y = linear(zeros([4, 0], { dtype: 'float64', device: dev }), zeros([3, 0], { dtype: 'float64', device: dev }), b);
    expect(y.shape).toEqual([4, 3]);
    expectClose(y, [...valuesOf(b), ...valuesOf(b), ...valuesOf(b), ...valuesOf(b)], { rtol: 0, atol: 0 });
    expect(linear(zeros([0, 5], { dtype: 'float64', device: dev }), rand(41, [3, 5]), b).shape).toEqual([0, 3]);
    expect(linear(rand(42, [2, 5]), zeros([0, 5], { dtype: 'float64', device: dev }), null).shape).toEqual([2, 0]);
  });

  for (const dtype of ['float32', 'float16', 'bfloat16'] as const) {
    it(`${dtype}: computed in float32, rounded to ${dtype}`, () => {
      check(rand(50, [2, 33, 300], dtype), rand(51, [40, 300], dtype), rand(52, [40], dtype), `${dtype} batched`, tolerance[dtype]);
      if (dev === 'cuda') {
        const x = rand(53, [64, 96], dtype), w = rand(54, [48, 96], dtype), b = rand(55, [48], dtype);
        expectClose(linear(x, w, b), linear(x.to('cpu'), w.to('cpu'), b.to('cpu')), { ...tolerance[dtype], what: `${dtype} CUDA vs CPU` });
      }
    });
  }

  it('TF32 (precision high) stays within its tolerance', () => {
    const x = rand(60, [64, 256], 'float32'), w = rand(61, [32, 256], 'float32'), b = rand(62, [32], 'float32');
    const exact = refLinear(valuesOf(x), x.shape, valuesOf(w), 32, valuesOf(b)).values;
    setFloat32MatmulPrecision('high');
    // each term's inputs rounded to a 10-bit mantissa: |error| <= 2^-10 Σ|x||w| <= 2^-10 K
    expectClose(linear(x, w, b), exact, { rtol: 0, atol: 2 ** -10 * 256 });
    setFloat32MatmulPrecision('highest');
    expectClose(linear(x, w, b), exact, { rtol: 1e-5, atol: 1e-4, what: `float32 on ${path}` });
  });

  it('leaves nothing allocated but its result', () => {
    const x = rand(70, [4, 32, 64], 'float32'), w = rand(71, [48, 64], 'float32'), b = rand(72, [48], 'float32');
    linear(x, w, b).dispose();
    const before = memoryStats(dev).allocated;
    const y = linear(x, w, b);
    y.dispose();
    expect(memoryStats(dev).allocated).toBe(before);
  });
});

forEachDevice('linear: arguments and recording', (dev) => {
  const rand = (seed: number, shape: number[], dtype: DType = 'float32') => tensor(randomValues(seed, numel(shape)), { dtype, device: dev }).reshape(shape);

  it('errors name the op and the argument', () => {
    const x = rand(1, [3, 4]);
    expectError(() => linear(x, rand(2, [5, 3])), ShapeError, 'linear', "'weight'", '[outFeatures, 4]', '[5, 3]');
    expectError(() => linear(x, rand(3, [5, 4]), rand(4, [4])), ShapeError, 'linear', "'bias'", '[5]', '[4]');
    expectError(() => linear(x, rand(5, [4])), ShapeError, "'weight'");
    expectError(() => linear(tensor(1, { dtype: 'float32', device: dev }), rand(6, [2, 1])), ShapeError, "'input'", '0-d');
    expectError(() => linear(x, rand(7, [5, 4], 'float64')), DTypeError, 'linear', "'weight'", 'float32', 'float64');
    expectError(() => linear(x, rand(8, [5, 4]), rand(9, [5], 'float16')), DTypeError, "'bias'");
    expectError(() => linear(x.to('int32'), rand(10, [5, 4]).to('int32')), DTypeError, "'input'", 'int32');
  });

  it("records one 'linear' op with its three inputs", () => {
    const x = rand(11, [2, 4]), w = rand(12, [3, 4]).requiresGrad_(), b = rand(13, [3]).requiresGrad_();
    const records = recordOps(() => linear(x, w, b));
    expect(records.map((r) => r.op)).toEqual(['linear']);
    expect(records[0].inputs).toEqual([x, w, b]);
  });
});
