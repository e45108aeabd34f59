// Creating tensors: tensor() from JS data, the factories (empty/zeros/ones/full, *Like, scalarTensor),
// arange, linspace and eye, on every device. References are JS float64 arithmetic, rounded with
// Math.fround where the dtype is float32; on CUDA the same call on the CPU must agree as well.
import { describe, expect, it } from 'vitest';
import {
  AutogradError, type DType, DTypeError, ShapeError, type Tensor, ValueError, arange, empty, emptyLike, eye, fromTypedArray,
  full, fullLike, linspace, memoryStats, ones, onesLike, randn, scalarTensor, tensor, zeros, zerosLike,
} from '@kiln/tensor';
import { expectClose, expectError, forEachDevice, settleMemoryBeforeEach } from '@kiln/tensor/testing';

settleMemoryBeforeEach();

type Dev = 'cpu' | 'cuda';

/** On CUDA, the same creation call on the CPU gives the same shape, dtype and values (within rtol). */
function agreesWithCpu(dev: Dev, make: (d: Dev) => Tensor, rtol = 0): void {
  if (dev === 'cpu') return;
  const g = make('cuda'), c = make('cpu');
  expect([g.shape, g.dtype]).toEqual([c.shape, c.dtype]);
  expectClose(g, c, { rtol, atol: 0, what: 'cuda vs cpu' });
}

const f32 = (xs: number[]) => xs.map(Math.fround);

forEachDevice('tensor()', (dev) => {
  it('infers dtypes as torch.tensor: integers -> int64, any fraction -> float32, booleans -> bool, [] -> float32', () => {
    const cases: [unknown, DType, number[]][] = [
      [[1, 2, 3], 'int64', [3]],
      [[[1, 2.5]], 'float32', [1, 2]],
      [[true, false], 'bool', [2]],
      [[], 'float32', [0]],
      [[[]], 'float32', [1, 0]],
      [7, 'int64', []],
      [0.5, 'float32', []],
      [[1n, 2n], 'int64', [2]],
      // mixing bool with integers gives int64, with a fraction float32 (torch.tensor)
      [[true, 2], 'int64', [2]],
      [[[false], [3n]], 'int64', [2, 1]],
      [[true, 2.5], 'float32', [2]],
      [[false, NaN], 'float32', [2]],
    ];
    for (const [data, dtype, shape] of cases) {
      const t = tensor(data as number[], { device: dev });
      expect([t.dtype, t.shape, t.device.type], JSON.stringify(data, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v))).toEqual([dtype, shape, dev]);
    }
    expect(tensor([[1, 2], [3, 4]], { device: dev }).toArray()).toEqual([[1, 2], [3, 4]]);
    expect(tensor([true, false], { device: dev }).toArray()).toEqual([true, false]);
    expect(tensor([true, 2, false, -3], { device: dev }).toArray()).toEqual([1, 2, 0, -3]);
    expect(tensor([true, 2.5], { device: dev }).toArray()).toEqual([1, 2.5]);
    expect(tensor(0.5, { device: dev }).item()).toBe(0.5);
  });

  it('stores values in an explicit dtype (rounded to float32, checked for int32)', () => {
    const xs = [0.1, -2.5, 1e10, 1 / 3];
    expect(tensor(xs, { dtype: 'float32', device: dev }).toArray()).toEqual(f32(xs));
    expect(tensor(xs, { dtype: 'float64', device: dev }).toArray()).toEqual(xs);
    expect(tensor([-2147483648, 2147483647], { dtype: 'int32', device: dev }).toArray()).toEqual([-2147483648, 2147483647]);
    expect(tensor([0, 2, -0.5], { dtype: 'bool', device: dev }).toArray()).toEqual([false, true, true]);
    expectError(() => tensor([2 ** 31], { dtype: 'int32', device: dev }), ValueError, { op: 'tensor', argument: 'data', got: '2147483648' });
    expectError(() => tensor([1.5], { dtype: 'int64', device: dev }), ValueError, { op: 'tensor', argument: 'data', expected: 'an integer for an int64 tensor', got: '1.5' });
    expectError(() => tensor([1], { dtype: 'int8' as DType, device: dev }), DTypeError, { op: 'tensor', argument: 'dtype', expected: 'one of float32, float64, int32, int64, bool, float16, bfloat16', got: 'int8' });
  });

  it('takes bigints for int64 exactly beyond 2^53 and refuses values outside int64', () => {
    const big = [2n ** 62n + 1n, -(2n ** 63n), 2n ** 63n - 1n];
    const t = tensor(big, { device: dev });
    expect(Array.from(t.toTypedArray() as BigInt64Array)).toEqual(big);
    // a JS number above 2^63 (or a bigint) would wrap in a BigInt64Array: refused as torch.tensor does
    expectError(() => tensor([2n ** 63n], { device: dev }), ValueError, { op: 'tensor', argument: 'data', expected: 'int64 values in [-2^63, 2^63 - 1]', got: '9223372036854775808' });
    expectError(() => tensor([-(2n ** 63n) - 1n], { device: dev }), ValueError, { op: 'tensor', argument: 'data', expected: 'int64 values in [-2^63, 2^63 - 1]', got: '-9223372036854775809' });
    expectError(() => tensor([1e19], { device: dev }), ValueError, { op: 'tensor', argument: 'data', got: '10000000000000000000' });
  });

  it('rejects ragged and non-numeric data with a typed error naming tensor and data', () => {
    for (const bad of [[[1, 2], [3]], [1, [2]], [[1], 2], [[], [1]], [[[1, 2]], [[3]]]]) {
      expectError(() => tensor(bad as number[], { device: dev }), ShapeError, { op: 'tensor', argument: 'data', got: 'a ragged array' });
    }
    expectError(() => tensor(['a'] as unknown as number[], { device: dev }), ValueError, { op: 'tensor', argument: 'data', expected: 'numbers, booleans or bigints', got: 'string' });
    expectError(() => tensor([null] as unknown as number[], { device: dev }), ValueError, { op: 'tensor', argument: 'data', expected: 'numbers, booleans or bigints', got: 'object' });
  });

  it('copies a typed array (a later write to the array does not show)', () => {
    const a = new Float64Array([1, 2, 3]);
    const t = tensor(a, { device: dev });
    a[0] = 100;
    expect([t.dtype, t.toArray()]).toEqual(['float64', [1, 2, 3]]);
    expect(tensor(new Int32Array([4, -5]), { device: dev }).dtype).toBe('int32');
    expect(tensor(new Float32Array([0.5]), { dtype: 'float64', device: dev }).toArray()).toEqual([0.5]);
    expect(tensor(new Uint8Array([0, 1]), { dtype: 'bool', device: dev }).toArray()).toEqual([false, true]);
    expectError(() => tensor(new Uint8Array([1]), { device: dev }), DTypeError, { op: 'tensor', argument: 'data', got: 'Uint8Array' });
  });

  it('requiresGrad makes a leaf for float dtypes; other dtypes raise and free what they allocated', () => {
    const w = tensor([1.5, 2], { requiresGrad: true, device: dev });
    expect([w.requiresGrad, w.isLeaf]).toEqual([true, true]);
    expect(zeros([2], { dtype: 'float64', requiresGrad: true, device: dev }).requiresGrad).toBe(true);
    const before = memoryStats(dev).allocated;
    expectError(() => zeros([1000], { dtype: 'int64', requiresGrad: true, device: dev }), AutogradError, { op: 'requiresGrad', expected: 'a floating-point tensor', got: 'int64' });
    expectError(() => tensor([true], { requiresGrad: true, device: dev }), AutogradError, { op: 'requiresGrad', expected: 'a floating-point tensor', got: 'bool' });
    // a truthy non-boolean ('no') made a leaf that requires grad, or was stored as the flag
    expectError(() => zeros([2], { requiresGrad: 'no' as unknown as boolean, device: dev }), ValueError, { op: 'requiresGrad', argument: 'requiresGrad', expected: 'true or false', got: '"no"' });
    expectError(() => randn([2], { requiresGrad: 'no' as unknown as boolean, device: dev }), ValueError, { op: 'randn', argument: 'requiresGrad', expected: 'true or false', got: '"no"' });
    expect(memoryStats(dev).allocated).toBe(before);                   // refused before allocating, or freed
    const flag = zeros([2], { device: dev });
    expectError(() => { flag.requiresGrad = 1 as unknown as boolean; }, ValueError, { op: 'requiresGrad', got: '1' });
    expect(flag.requiresGrad).toBe(false);
  });
});

describe('fromTypedArray', () => {
  it('shares memory with the typed array both ways (torch.from_numpy), with a shape', () => {
    const a = new Float32Array([0, 1, 2, 3, 4, 5]);
    const t = fromTypedArray(a, [2, 3]);
    expect([t.dtype, t.shape, t.strides, t.device.type]).toEqual(['float32', [2, 3], [3, 1], 'cpu']);
    a[4] = 40;
    expect(t.toArray()).toEqual([[0, 1, 2], [3, 40, 5]]);
    t.select(0, 0).fill_(-1);
    expect(Array.from(a)).toEqual([-1, -1, -1, 3, 40, 5]);
  });

  it('respects a subarray offset and keeps each dtype', () => {
    const whole = new Int32Array([9, 9, 1, 2, 3]);
    const t = fromTypedArray(whole.subarray(2));
    expect([t.dtype, t.toArray()]).toEqual(['int32', [1, 2, 3]]);
    t.fill_(7);
    expect(Array.from(whole)).toEqual([9, 9, 7, 7, 7]);
    expect(fromTypedArray(new Float64Array(2)).dtype).toBe('float64');
    expect(Array.from(fromTypedArray(new BigInt64Array([2n ** 60n])).toTypedArray() as BigInt64Array)).toEqual([2n ** 60n]);
  });

  it('reads a Uint16Array as float16 or bfloat16 and a Uint8Array as bool when given the dtype', () => {
    const bits = new Uint16Array([0x3c00, 0xc000, 0x3800]);                   // float16 1, -2, 0.5
    const h = fromTypedArray(bits, [3], 'float16');
    expect([h.dtype, h.toArray()]).toEqual(['float16', [1, -2, 0.5]]);
    h.fill_(2);
    expect(Array.from(bits)).toEqual([0x4000, 0x4000, 0x4000]);              // shared, not copied
    expect(fromTypedArray(new Uint16Array([0x3f80, 0x4040]), [2], 'bfloat16').toArray()).toEqual([1, 3]);
    expect(fromTypedArray(new Uint8Array([1, 0, 1]), undefined, 'bool').toArray()).toEqual([true, false, true]);
    expect(fromTypedArray(new Float64Array([1.5]), [1], 'float64').toArray()).toEqual([1.5]);
    expectError(() => fromTypedArray(new Float32Array(2), [2], 'float16'), DTypeError, 'fromTypedArray', "'data'", 'Uint16Array', 'Float32Array');
    expectError(() => fromTypedArray(new Float32Array(2), [2], 'float64'), DTypeError, 'fromTypedArray', "'data'", 'Float64Array');
    expectError(() => fromTypedArray(new Float32Array(2), [2], 'half' as DType), DTypeError, 'fromTypedArray', "'dtype'");
  });

  it('views a SharedArrayBuffer in place, at an offset (memory shared with worker threads)', () => {
    const shared = new SharedArrayBuffer(24);
    const t = fromTypedArray(new Float32Array(shared, 8, 3));
    t.copy_(tensor([1.5, 2.5, -3], { dtype: 'float32' }));
    expect(Array.from(new Float32Array(shared))).toEqual([0, 0, 1.5, 2.5, -3, 0]);
    new Float32Array(shared)[3] = 7;
    expect(t.toArray()).toEqual([1.5, 7, -3]);
    expect(t.mul(2).toArray()).toEqual([3, 14, -6]);
  });

  it('rejects a wrong element count, bad shapes and other array types', () => {
    expectError(() => fromTypedArray(new Float32Array(6), [4, 2]), ShapeError, { op: 'fromTypedArray', argument: 'shape', expected: 'a shape with 6 elements', got: '[4, 2]' });
    expectError(() => fromTypedArray(new Float32Array(6), [-2, -3]), ValueError, { op: 'fromTypedArray', argument: 'shape', expected: 'a shape of non-negative integers', got: '[-2, -3]' });
    expectError(() => fromTypedArray(new Uint8Array(2) as unknown as Float32Array), DTypeError, { op: 'fromTypedArray', argument: 'data', expected: 'a Float32Array, Float64Array, Int32Array or BigInt64Array (or a Uint16Array or Uint8Array with a dtype)', got: 'a Uint8Array' });
  });
});

forEachDevice('factories', (dev) => {
  it('empty/zeros/ones/full: shape, dtype (float32 unless given, bool for a boolean fill), device, values', () => {
    const e = empty([2, 3], { dtype: 'int32', device: dev });
    expect([e.shape, e.strides, e.dtype, e.device.type, e.isContiguous]).toEqual([[2, 3], [3, 1], 'int32', dev, true]);
    expect(zeros([2, 2], { device: dev }).toArray()).toEqual([[0, 0], [0, 0]]);
    expect(zeros([2], { device: dev }).dtype).toBe('float32');
    expect(ones([3], { dtype: 'int64', device: dev }).toArray()).toEqual([1, 1, 1]);
    expect(full([2], 2.5, { dtype: 'float64', device: dev }).toArray()).toEqual([2.5, 2.5]);
    expect(full([2], 0.1, { device: dev }).toArray()).toEqual(f32([0.1, 0.1]));
    expect(full([2], -7, { dtype: 'int32', device: dev }).toArray()).toEqual([-7, -7]);
    const b = full([2], true, { device: dev });
    expect([b.dtype, b.toArray()]).toEqual(['bool', [true, true]]);
    expect(full([1], 1.5, { dtype: 'float16', device: dev }).toArray()).toEqual([1.5]);
    const z = zeros([0, 4], { device: dev });
    expect([z.shape, z.numel, z.toArray()]).toEqual([[0, 4], 0, []]);
  });

  it('*Like copy shape, dtype and device; options override them', () => {
    const src = tensor([[1, 2, 3]], { dtype: 'int32', device: dev });
    for (const [t, v] of [[zerosLike(src), 0], [onesLike(src), 1], [fullLike(src, 5), 5]] as const) {
      expect([t.shape, t.dtype, t.device.type, t.toArray()]).toEqual([[1, 3], 'int32', dev, [[v, v, v]]]);
    }
    const e = emptyLike(src, { dtype: 'float64' });
    expect([e.shape, e.dtype, e.device.type]).toEqual([[1, 3], 'float64', dev]);
    expect(onesLike(src, { dtype: 'bool' }).toArray()).toEqual([[true, true, true]]);
  });

  it('scalarTensor is 0-d', () => {
    const s = scalarTensor(3, { device: dev });
    expect([s.shape, s.ndim, s.numel, s.dtype, s.item()]).toEqual([[], 0, 1, 'float32', 3]);
    expect(scalarTensor(false, { device: dev }).item()).toBe(false);
  });

  it('bad shapes and dtypes raise typed errors naming the factory and the argument', () => {
    const calls: [string, (s: number[]) => unknown][] = [
      ['empty', (s) => empty(s, { device: dev })], ['zeros', (s) => zeros(s, { device: dev })],
      ['ones', (s) => ones(s, { device: dev })], ['full', (s) => full(s, 1, { device: dev })],
    ];
    for (const [op, f] of calls) {
      for (const s of [[-1], [2, 1.5], [NaN], [Infinity]]) expectError(() => f(s), ValueError, { op, argument: 'shape' });
    }
    expectError(() => zeros([2], { dtype: 'float8' as DType, device: dev }), DTypeError, { op: 'zeros', argument: 'dtype', expected: 'one of float32, float64, int32, int64, bool, float16, bfloat16', got: 'float8' });
  });
});

forEachDevice('arange', (dev) => {
  // [args, dtype, values start + i*step for i < ceil((end - start) / step)]
  const cases: [[number, number?, number?], DType, number[]][] = [
    [[5], 'int64', [0, 1, 2, 3, 4]],
    [[2, 7], 'int64', [2, 3, 4, 5, 6]],
    [[0, 10, 3], 'int64', [0, 3, 6, 9]],
    [[10, 0, -3], 'int64', [10, 7, 4, 1]],
    [[-3, 3, 2], 'int64', [-3, -1, 1]],
    [[0, 1, 0.25], 'float32', [0, 0.25, 0.5, 0.75]],
    [[1, 0, -0.3], 'float32', f32([1, 1 - 0.3, 1 - 2 * 0.3, 1 - 3 * 0.3])],     // ceil(3.33) = 4 values
    [[0, 0.3, 0.1], 'float32', f32([0, 0.1, 0.2])],                            // 0.3/0.1 = 2.9999999999999996 -> 3
    [[0.5, 3], 'float32', [0.5, 1.5, 2.5]],
    [[0, 0], 'int64', []],
  ];
  it.each(cases)('arange(%j) -> %s values', (args, dtype, values) => {
    const t = arange(args[0], args[1], args[2], { device: dev });
    expect([t.dtype, t.shape, t.device.type]).toEqual([dtype, [values.length], dev]);
    // the kernel computes start + i*step in double; CUDA may fuse it into an FMA (1 ulp)
    expectClose(t.toTypedArray(), values, { rtol: dev === 'cpu' ? 0 : 1.2e-7, atol: 0 });
    agreesWithCpu(dev, (d) => arange(args[0], args[1], args[2], { device: d }), 1.2e-7);
  });

  it('takes a dtype, including float64 and the half types', () => {
    const n = 37;
    const t = arange(0, 3.7, 0.1, { dtype: 'float64', device: dev });
    expect(t.shape).toEqual([n]);
    expectClose(t.toTypedArray(), Array.from({ length: n }, (_, i) => i * 0.1), { rtol: dev === 'cpu' ? 0 : 4.5e-16, atol: 0 });
    expect(arange(0, 4, 1, { dtype: 'float16', device: dev }).toArray()).toEqual([0, 1, 2, 3]);
    expect(arange(3, undefined, 1, { dtype: 'int32', device: dev }).toArray()).toEqual([0, 1, 2]);
  });

  it('rejects a zero or non-finite step and non-finite bounds, naming the argument', () => {
    expectError(() => arange(0, 5, 0, { device: dev }), ValueError, { op: 'arange', argument: 'step', expected: 'a nonzero step', got: '0' });
    expectError(() => arange(0, 5, NaN, { device: dev }), ValueError, { op: 'arange', argument: 'step', expected: 'a finite number', got: 'NaN' });
    expectError(() => arange(0, Infinity, 1, { device: dev }), ValueError, { op: 'arange', argument: 'end', expected: 'a finite number', got: 'Infinity' });
    expectError(() => arange(NaN, 5, 1, { device: dev }), ValueError, { op: 'arange', argument: 'start', expected: 'a finite number', got: 'NaN' });
  });

  it('a step whose sign disagrees with end - start is a ValueError (PyTorch: "upper bound and larger bound inconsistent with step sign"); start = end is empty', () => {
    const refused: [number, number | undefined, number][] = [[5, 2, 1], [0, -1, 1], [-3, undefined, 1], [2, 5, -1], [0, 0.5, -0.25], [1, 0, 0.5]];
    for (const [a, e, st] of refused) {
      expectError(() => arange(a, e, st, { device: dev }), ValueError, { op: 'arange', argument: 'step', got: String(st), message: /inconsistent with step sign/ });
    }
    for (const [a, e, st] of [[2, 2, 1], [2, 2, -1], [-1.5, -1.5, 0.5]] as const) {
      const t = arange(a, e, st, { device: dev });
      expect([t.shape, t.dtype], `arange(${a}, ${e}, ${st})`).toEqual([[0], Number.isInteger(a) && Number.isInteger(st) ? 'int64' : 'float32']);
    }
  });

  it('an integer dtype must hold the first and last values (no silent saturation); the last one, not end, counts', () => {
    expectError(() => arange(0, 4e9, 1e9, { dtype: 'int32', device: dev }), ValueError, { op: 'arange', argument: 'end', got: '3000000000' });
    expect(arange(0, 3e9, 1e9, { dtype: 'int32', device: dev }).toArray()).toEqual([0, 1e9, 2e9]);
    expectError(() => arange(-3e9, 0, 1e9, { dtype: 'int32', device: dev }), ValueError, { op: 'arange', argument: 'start', got: '-3000000000' });
    // end is exclusive: 2^31 itself is never stored
    expect(arange(2 ** 31 - 2, 2 ** 31, 1, { dtype: 'int32', device: dev }).toArray()).toEqual([2 ** 31 - 2, 2 ** 31 - 1]);
    // fractional values are truncated when stored: [0.5, 1.5, 2.5] -> [0, 1, 2]
    expect(arange(0.5, 3, 1, { dtype: 'int32', device: dev }).toArray()).toEqual([0, 1, 2]);
  });
});

forEachDevice('linspace', (dev) => {
  // PyTorch's formula: the first half counts up from start, the second half down from end
  const ref = (a: number, b: number, n: number): number[] => {
    const step = n > 1 ? (b - a) / (n - 1) : 0;
    return Array.from({ length: n }, (_, i) => (i < Math.floor(n / 2) ? a + i * step : b - (n - 1 - i) * step));
  };

  it('has exact endpoints in float64 (49 * (1/49) is not 1 in double)', () => {
    for (const [a, b, n] of [[0, 1, 50], [-1, 1, 4], [0.1, 0.7, 3], [1, 0, 11], [2, 2, 5]] as const) {
      const t = linspace(a, b, n, { dtype: 'float64', device: dev });
      const v = t.toTypedArray() as Float64Array;
      expect([t.shape, v[0], v[n - 1]]).toEqual([[n], a, b]);
      expectClose(v, ref(a, b, n), { rtol: dev === 'cpu' ? 0 : 4.5e-16, atol: 0 });
      agreesWithCpu(dev, (d) => linspace(a, b, n, { dtype: 'float64', device: d }), 4.5e-16);
    }
  });

  it('is float32 by default; steps = 1 gives [start]; steps = 0 is empty', () => {
    const t = linspace(0, 1, 5, { device: dev });
    expect([t.dtype, t.toArray()]).toEqual(['float32', [0, 0.25, 0.5, 0.75, 1]]);
    expectClose(linspace(-2, 3, 7, { device: dev }).toTypedArray(), f32(ref(-2, 3, 7)), { rtol: 1.2e-7, atol: 0 });
    expect(linspace(3, 7, 1, { device: dev }).toArray()).toEqual([3]);
    expect(linspace(3, 7, 0, { device: dev }).shape).toEqual([0]);
  });

  it('rejects negative or fractional steps', () => {
    expectError(() => linspace(0, 1, -1, { device: dev }), ValueError, { op: 'linspace', argument: 'steps', expected: 'an integer >= 0', got: '-1' });
    expectError(() => linspace(0, 1, 2.5, { device: dev }), ValueError, { op: 'linspace', argument: 'steps', expected: 'an integer >= 0', got: '2.5' });
  });

  it('an integer dtype must hold both ends', () => {
    expectError(() => linspace(0, 3e9, 4, { dtype: 'int32', device: dev }), ValueError, { op: 'linspace', argument: 'end', got: '3000000000' });
    expectError(() => linspace(-1e20, 0, 4, { dtype: 'int64', device: dev }), ValueError, { op: 'linspace', argument: 'start', got: '-100000000000000000000' });
    expect(linspace(0, 9, 4, { dtype: 'int32', device: dev }).toArray()).toEqual([0, 3, 6, 9]);
  });
});

forEachDevice('eye', (dev) => {
  const identity = (n: number, m: number) => Array.from({ length: n }, (_, i) => Array.from({ length: m }, (_, j) => (i === j ? 1 : 0)));
  it.each([[3, 3], [2, 4], [4, 2], [1, 1], [0, 0], [0, 3]])('eye(%i, %i)', (n, m) => {
    const t = eye(n, m, { device: dev });
    expect([t.shape, t.dtype, t.toArray()]).toEqual([[n, m], 'float32', identity(n, m)]);
  });
  it('takes a dtype and rejects bad sizes naming n or m', () => {
    expect(eye(2, undefined, { dtype: 'int32', device: dev }).toArray()).toEqual([[1, 0], [0, 1]]);
    expect(eye(2, 2, { dtype: 'bool', device: dev }).toArray()).toEqual([[true, false], [false, true]]);
    expectError(() => eye(-1, 2, { device: dev }), ValueError, { op: 'eye', argument: 'n', expected: 'a shape of non-negative integers', got: '[-1]' });
    expectError(() => eye(2, 1.5, { device: dev }), ValueError, { op: 'eye', argument: 'm', expected: 'a shape of non-negative integers', got: '[1.5]' });
  });
});
