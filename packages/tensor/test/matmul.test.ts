import { afterEach, expect, it } from 'vitest';
import {
  type DType, type Tensor, DTypeError, ShapeError, bmm, dot, full, matmul, memoryStats, mm, setFloat32MatmulPrecision, tensor, zeros,
} from '@kiln/tensor';
import {
  expectClose, forEachDensePath, forEachDevice, randomValues, toNumbers, recordOpsInEachTest, expectError, settleMemoryBeforeEach,
} from '@kiln/tensor/testing';
import { numel, refMatmul } from './matmul-reference.js';

settleMemoryBeforeEach();

const valuesOf = (t: Tensor): number[] => toNumbers(t.toTypedArray());

// On CUDA every test runs twice: through cuBLASLt, then through Kiln's own kernel.
forEachDensePath('matmul', 'matmul', (dev, path) => {
  const make = (vals: number[], shape: number[], dtype: DType = 'float64') => tensor(vals, { dtype, device: dev }).reshape(shape);
  const rand = (seed: number, shape: number[], dtype: DType = 'float64') => make(randomValues(seed, numel(shape)), shape, dtype);

  afterEach(() => setFloat32MatmulPrecision('highest'));
  const check = (a: Tensor, b: Tensor, what: string, tol = { rtol: 1e-12, atol: 1e-12 }) => {
    const r = matmul(a, b);
    const e = refMatmul(valuesOf(a), a.shape, valuesOf(b), b.shape);
    expect(r.shape, what).toEqual(e.shape);
    expect(r.dtype).toBe(a.dtype);
    expectClose(r, e.values, { ...tol, what });
  };

  it('follows torch.matmul for every rank combination', () => {
    const shapes: [number[], number[]][] = [
      [[7], [7]],                    // dot -> 0-d
      [[3, 4], [4, 5]],              // matrices
      [[4], [4, 6]],                 // vector · matrix -> [6]
      [[6, 4], [4]],                 // matrix · vector -> [6]
      [[2, 3, 4], [4, 5]],           // batch · matrix
      [[4, 5], [2, 5, 3]],           // matrix · batch
      [[5], [2, 5, 3]],              // vector · batch -> [2, 3]
      [[2, 3, 4], [4]],              // batch · vector -> [2, 3]
      [[3, 1, 4, 5], [2, 5, 6]],     // broadcast batch dims -> [3, 2, 4, 6]
      [[2, 1, 3, 2], [1, 4, 2, 3]],
    ];
    let seed = 1;
    for (const [sa, sb] of shapes) check(rand(seed++, sa), rand(seed++, sb), `${JSON.stringify(sa)} @ ${JSON.stringify(sb)}`);
    expect(matmul(rand(1, [7]), rand(2, [7])).shape).toEqual([]);
  });

  it('is correct for sizes that are not multiples of the tiles, and across K blocks', () => {
    let seed = 100;
    for (const [M, K, N] of [[1, 1, 1], [5, 3, 2], [63, 17, 65], [64, 64, 64], [65, 257, 130], [130, 300, 7], [3, 600, 200]]) {
      check(rand(seed++, [M, K]), rand(seed++, [K, N]), `${M}x${K} @ ${K}x${N}`);
    }
  });

  it('reads non-contiguous operands: transposed, sliced with steps, expanded batches', () => {
    const a = rand(1, [9, 13]), b = rand(2, [13, 11]);
    check(a.t().contiguous().t(), b, 'a transposed twice (contiguous)');
    check(rand(3, [13, 9]).t(), b, 'a transposed');
    check(a, rand(4, [11, 13]).t(), 'b transposed');
    check(rand(5, [13, 9]).t(), rand(6, [11, 13]).t(), 'both transposed');
    check(rand(7, [18, 26]).slice(0, 0, 18, 2).slice(1, 1, 26, 2), b, 'a sliced with steps');
    check(rand(8, [4, 9, 13]).permute(1, 0, 2).slice(1, 1, 4), rand(9, [13, 5]), 'permuted batch');
    check(rand(10, [1, 6, 7]).expand(4, 6, 7), rand(11, [4, 7, 3]), 'expanded batch (stride 0)');
    check(rand(12, [6, 1]).expand(6, 5), rand(13, [5, 1]).expand(5, 4), 'expanded matrix dims');
    check(rand(14, [20]).slice(0, 1, 20, 3), rand(15, [7, 2]), 'strided vector');
  });

  it('K = 0 gives zeros; M = 0 or N = 0 give empty results', () => {
    const r = matmul(zeros([3, 0], { device: dev }), zeros([0, 4], { device: dev }));
    expect(r.shape).toEqual([3, 4]);
    expect(valuesOf(r)).toEqual(new Array(12).fill(0));
    expect(matmul(zeros([0], { device: dev }), zeros([0], { device: dev })).item()).toBe(0);
    expect(matmul(zeros([2, 0, 3], { device: dev }), zeros([3, 5], { device: dev })).shape).toEqual([2, 0, 5]);
    expect(matmul(zeros([4, 3], { device: dev }), zeros([3, 0], { device: dev })).shape).toEqual([4, 0]);
    expect(matmul(zeros([0, 4, 3], { device: dev }), zeros([3, 2], { device: dev })).shape).toEqual([0, 4, 2]);
    // a reused (dirty) output buffer must still come back as zeros
    for (let i = 0; i < 3; i++) full([3, 4], 7, { device: dev }).dispose();
    expect(valuesOf(matmul(zeros([3, 0], { device: dev }), zeros([0, 4], { device: dev })))).toEqual(new Array(12).fill(0));
  });

  it('float32 accumulates accurately; float16 / bfloat16 are computed in float32 and rounded once', () => {
    for (const [dtype, rtol, atol] of [['float32', 1e-5, 2e-5], ['float16', 2e-3, 2e-3], ['bfloat16', 1.6e-2, 1.6e-2]] as const) {
      const a = rand(21, [33, 300], dtype), b = rand(22, [300, 40], dtype);
      check(a, b, `${dtype} 33x300x40`, { rtol, atol });
      check(rand(23, [2, 5, 7], dtype), rand(24, [7], dtype), `${dtype} batch · vector`, { rtol, atol });
    }
    // each product and partial sum is exact in float32 but not in float16: a float16 accumulator
    // would stall at 2048
    const ones = full([1, 4096], 1, { dtype: 'float16', device: dev });
    expect(matmul(ones, full([4096, 1], 1, { dtype: 'float16', device: dev })).item()).toBe(4096);
  });

  it('integers multiply exactly (int32 and int64); bool is an error', () => {
    const a = make([1, 2, 3, 4, 5, 6], [2, 3], 'int32'), b = make([7, 8, 9, 10, 11, 12], [3, 2], 'int32');
    const r = matmul(a, b);
    expect(r.dtype).toBe('int32');
    expect(r.toArray()).toEqual([[58, 64], [139, 154]]);
    const big = make([3e9, 1, 2, 3e9], [2, 2], 'int64');
    expect(matmul(big, make([1, 1], [2], 'int64')).toArray()).toEqual([3e9 + 1, 3e9 + 2]);
    const ia = make(randomValues(5, 20 * 30, -50, 50).map(Math.round), [20, 30], 'int64');
    const ib = make(randomValues(6, 30 * 10, -50, 50).map(Math.round), [30, 10], 'int64');
    expect(valuesOf(matmul(ia, ib))).toEqual(refMatmul(valuesOf(ia), [20, 30], valuesOf(ib), [30, 10]).values);
    expectError(() => matmul(make([1, 0], [1, 2], 'bool'), make([1, 0], [2, 1], 'bool')), DTypeError, { op: 'matmul', argument: 'input', expected: 'a numeric tensor (bool matrices are not supported)', got: 'bool' });
  });

  it('larger batched products (spread over threads / blocks)', () => {
    check(rand(31, [4, 100, 80], 'float32'), rand(32, [4, 80, 90], 'float32'), 'batched float32', { rtol: 1e-5, atol: 1e-5 });
    check(rand(33, [130, 200]), rand(34, [200, 170]), 'float64 130x200x170');
  });

  it('mm, bmm and dot: the strict forms', () => {
    const a = rand(1, [3, 4]), b = rand(2, [4, 5]);
    expectClose(mm(a, b), matmul(a, b), { rtol: 0, atol: 0 });
    const ba = rand(3, [2, 3, 4]), bb = rand(4, [2, 4, 5]);
    expectClose(bmm(ba, bb), matmul(ba, bb), { rtol: 0, atol: 0 });
    const u = rand(5, [6]), v = rand(6, [6]);
    const d = dot(u, v);
    expect(d.shape).toEqual([]);
    expectClose(d, [valuesOf(u).reduce((s, x, i) => s + x * valuesOf(v)[i], 0)], { rtol: 1e-12 });
    expectClose(a.mm(b), mm(a, b), { rtol: 0, atol: 0 });
    expectClose(ba.bmm(bb), bmm(ba, bb), { rtol: 0, atol: 0 });
    expectClose(u.dot(v), d, { rtol: 0, atol: 0 });
    expectClose(a.matmul(b), mm(a, b), { rtol: 0, atol: 0 });
  });

  it('errors name the op and the argument', () => {
    const a = rand(1, [3, 4]);
    expectError(() => matmul(a, rand(2, [5, 2])), ShapeError, { op: 'matmul', argument: 'other', got: '5 rows' });
    expectError(() => matmul(rand(3, [2, 3, 4]), rand(4, [3, 4, 2])), ShapeError, { op: 'matmul', expected: 'shapes that broadcast together', got: '[2] and [3]' });   // batch 2 vs 3
    expectError(() => matmul(full([], 1, { device: dev, dtype: 'float64' }), a), ShapeError, { op: 'matmul', argument: 'input', expected: 'a tensor with at least 1 dimension', got: '0-d tensor' });
    expectError(() => matmul(a, full([], 1, { device: dev, dtype: 'float64' })), ShapeError, { op: 'matmul', argument: 'other', expected: 'a tensor with at least 1 dimension', got: '0-d tensor' });
    expectError(() => matmul(a, rand(5, [4, 2], 'float32')), DTypeError, { op: 'matmul', argument: 'other', expected: "a tensor of input's dtype (float64)", got: 'float32' });
    expectError(() => matmul(make([1, 0], [1, 2], 'bool'), make([1, 0], [2, 1], 'bool')), DTypeError, { op: 'matmul', argument: 'input', expected: 'a numeric tensor (bool matrices are not supported)', got: 'bool' });
    expectError(() => mm(rand(6, [2, 3, 4]), a), ShapeError, { op: 'mm', argument: 'input', expected: 'a 2-D tensor', got: '3-D tensor of shape [2, 3, 4]' });
    expectError(() => mm(a, rand(7, [4])), ShapeError, { op: 'mm', argument: 'other', expected: 'a 2-D tensor', got: '1-D tensor of shape [4]' });
    expectError(() => bmm(a, a), ShapeError, { op: 'bmm', argument: 'input', expected: 'a 3-D tensor', got: '2-D tensor of shape [3, 4]' });
    expectError(() => bmm(rand(8, [2, 3, 4]), rand(9, [3, 4, 5])), ShapeError, { op: 'bmm', argument: 'other', expected: "a batch of 2 matrices (input's)", got: '3' });
    expectError(() => bmm(rand(8, [2, 3, 4]), rand(9, [2, 5, 5])), ShapeError, { op: 'bmm', argument: 'other', got: '5 rows' });
    expectError(() => dot(rand(10, [3]), rand(11, [4])), ShapeError, { op: 'dot', argument: 'other', expected: "3 elements (input's)", got: '4' });
    expectError(() => dot(a, a), ShapeError, { op: 'dot', argument: 'input', expected: 'a 1-D tensor', got: '2-D tensor of shape [3, 4]' });
  });

  it('batch dims that do not coalesce (looped), broadcast batch operands, a batch folded into rows', () => {
    // [3, 4] batch dims with strides (30, 120): no single stride covers both
    const a = rand(40, [3, 4, 5, 6]).permute(1, 0, 2, 3);
    check(a, rand(41, [4, 3, 6, 2]), 'non-coalescing batch dims');
    check(a, rand(42, [6, 2]), 'non-coalescing batch times one matrix');
    check(rand(43, [2, 1, 5, 6]).expand(2, 3, 5, 6), rand(44, [3, 6, 4]), 'broadcast A batch');
    check(rand(45, [7, 9, 6]), rand(46, [6, 5]), 'contiguous batch times one matrix (folded into M)');
    check(rand(47, [7, 6, 9]).transpose(1, 2), rand(48, [6, 5]), 'transposed batch times one matrix (not foldable)');
  });

  for (const dtype of ['float32', 'float64', 'float16', 'bfloat16'] as const) {
    const tol = { float32: { rtol: 1e-5, atol: 1e-4 }, float64: { rtol: 1e-12, atol: 1e-12 }, float16: { rtol: 2e-3, atol: 2e-3 }, bfloat16: { rtol: 1.6e-2, atol: 1.6e-2 } }[dtype];
    if (dev === 'cuda') {
      it(`agrees with the CPU in ${dtype} on odd sizes, views and batches`, () => {
        const cases: [Tensor, Tensor][] = [
          [rand(50, [65, 257], dtype), rand(51, [257, 130], dtype)],
          [rand(52, [3, 33, 17], dtype).transpose(1, 2), rand(53, [3, 33, 9], dtype)],
          [rand(54, [1, 40, 70], dtype).expand(4, 40, 70), rand(55, [4, 9, 70], dtype).transpose(1, 2)],
          [rand(56, [30], dtype), rand(57, [5, 30, 7], dtype)],
        ];
        for (const [a, b] of cases) expectClose(matmul(a, b), matmul(a.to('cpu'), b.to('cpu')), { ...tol, what: `${dtype} ${a.shape} @ ${b.shape}` });
      });
    }
  }

  it('float32 is exact to float32 rounding at precision highest; TF32 (high) within its tolerance where cuBLASLt runs it', () => {
    const a = rand(60, [96, 512], 'float32'), b = rand(61, [512, 80], 'float32');
    const a64 = a.to({ device: 'cpu', dtype: 'float64' }), b64 = b.to({ device: 'cpu', dtype: 'float64' });
    const exact = valuesOf(matmul(a64, b64));
    // TF32 rounds each input to a 10-bit mantissa (relative error 2^-11 each), then sums in float32:
    // |error| <= 2^-10 Σ|a||b| (with room for the float32 sum)
    const bound = valuesOf(matmul(a64.abs(), b64.abs())).map((v) => v * 2 ** -9);
    const errors = (r: Tensor) => valuesOf(r).map((v, i) => Math.abs(v - exact[i]));
    const highest = errors(matmul(a, b));
    expect(Math.max(...highest)).toBeLessThan(1e-4);
    setFloat32MatmulPrecision('high');
    try {
      const high = errors(matmul(a, b));
      high.forEach((e, i) => expect(e).toBeLessThanOrEqual(bound[i]));
      // TF32 ran only where cuBLASLt did; Kiln's kernels and the CPU stay in float32
      if (path === 'cuBLASLt') expect(Math.max(...high)).toBeGreaterThan(1e-4);
      else expect(Math.max(...high)).toBeLessThan(1e-4);
    } finally {
      setFloat32MatmulPrecision('highest');
    }
  });

  it('leaves nothing allocated but its result (workspaces included)', () => {
    const a = rand(70, [8, 64, 96], 'float32'), b = rand(71, [96, 48], 'float32').t().contiguous().t();
    matmul(a, b).dispose();   // first call: descriptors, algorithm
    const before = memoryStats(dev).allocated;
    const r = matmul(a, b);
    expect(memoryStats(dev).allocated).toBeGreaterThan(before);
    r.dispose();
    expect(memoryStats(dev).allocated).toBe(before);
  });
});

forEachDevice('matmul records for autograd', (dev) => {
  const recorded = recordOpsInEachTest();

  it("records every form once as 'matmul' with the original operands", () => {
    const a = tensor(randomValues(1, 6), { device: dev }).reshape(2, 3).requiresGrad_();
    const v = tensor(randomValues(2, 3), { device: dev }).requiresGrad_();
    for (const [f, x, y] of [[matmul, a, v], [matmul, v, v], [mm, a, a.t()], [dot, v, v]] as const) {
      recorded.length = 0;
      const r = f(x, y);
      expect(recorded.map((e) => e.op)).toEqual(['matmul']);
      expect(recorded[0].inputs[0]).toBe(x);
      expect(recorded[0].inputs[1]).toBe(y);
      expect(recorded[0].outputs[0]).toBe(r);
    }
  });
});
