import { describe, expect, it } from 'vitest';
import {
  type DType, type Tensor, DTypeError, Generator, ValueError,
  defaultGenerator, manualSeed, rand, randint, randLike, randn, randnLike,
} from '@kiln/tensor';
import { cudaAvailable, expectClose, forEachDevice, toNumbers, expectError } from '@kiln/tensor/testing';

// ---- a plain-TS Philox4x32-10, the oracle for the kernels -------------------------------------

const M0 = 0xd2511f53n, M1 = 0xcd9e8d57n, W0 = 0x9e3779b9n, W1 = 0xbb67ae85n, MASK = 0xffffffffn;

function philox(ctr: readonly number[], key: readonly number[]): number[] {
  let [c0, c1, c2, c3] = ctr.map(BigInt) as [bigint, bigint, bigint, bigint];
  let [k0, k1] = key.map(BigInt) as [bigint, bigint];
  for (let r = 0; r < 10; r++) {
    if (r > 0) {
      k0 = (k0 + W0) & MASK;
      k1 = (k1 + W1) & MASK;
    }
    const p0 = M0 * c0, p1 = M1 * c2;
    [c0, c1, c2, c3] = [((p1 >> 32n) ^ c1 ^ k0) & MASK, p1 & MASK, ((p0 >> 32n) ^ c3 ^ k1) & MASK, p0 & MASK];
  }
  return [c0, c1, c2, c3].map(Number);
}

/** The words of call `call` of an op with (seed, offset), as native/include/kiln/math/philox.h. */
function words(seed: bigint, offset: number, call: number): number[] {
  const lo32 = (x: bigint): number => Number(x & MASK);
  return philox([call % 2 ** 32, Math.floor(call / 2 ** 32), offset % 2 ** 32, Math.floor(offset / 2 ** 32)], [lo32(seed), lo32(seed >> 32n)]);
}

const read = (t: Tensor): number[] => toNumbers(t.toTypedArray());

function stats(v: readonly number[]): { mean: number; std: number } {
  let s = 0;
  for (const x of v) s += x;
  const mean = s / v.length;
  let q = 0;
  for (const x of v) q += (x - mean) ** 2;
  return { mean, std: Math.sqrt(q / (v.length - 1)) };
}

describe('the Philox reference', () => {
  it('matches the Random123 known-answer vectors', () => {
    const hex = (w: number[]): string[] => w.map((x) => x.toString(16).padStart(8, '0'));
    expect(hex(philox([0, 0, 0, 0], [0, 0]))).toEqual(['6627e8d5', 'e169c58d', 'bc57ac4c', '9b00dbd8']);
    expect(hex(philox([0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff], [0xffffffff, 0xffffffff]))).toEqual(['408f276d', '41c83b0e', 'a20bc7c6', '6d5451fd']);
    expect(hex(philox([0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0]))).toEqual(['d16cfe09', '94fdcceb', '5001e420', '24126ea1']);
  });
});

const N = 100_000;

forEachDevice('random', (dev) => {
  it('rand: element i is the reference value of (seed, offset, i), for float32 and float64', () => {
    const seed = 0x1234_5678_9abcn;
    const f32 = read(rand([9], { seed, device: dev }));
    expect(f32).toEqual(Array.from({ length: 9 }, (_, i) => (words(seed, 0, Math.floor(i / 4))[i % 4] >>> 8) * 2 ** -24));
    const f64 = read(rand([5], { seed, dtype: 'float64', device: dev }));
    const u53 = (hi: number, lo: number): number => Number(((BigInt(hi) << 32n) | BigInt(lo)) >> 11n) * 2 ** -53;
    expect(f64).toEqual(Array.from({ length: 5 }, (_, i) => {
      const w = words(seed, 0, Math.floor(i / 2));
      return u53(w[(i % 2) * 2], w[(i % 2) * 2 + 1]);
    }));
    // the generator's offset is the counter's upper half: the second op of a generator uses offset 1
    const g = new Generator(seed);
    rand([3], { generator: g, device: dev });
    expect(read(rand([4], { generator: g, device: dev }))).toEqual(words(seed, 1, 0).map((w) => (w >>> 8) * 2 ** -24));
    // the seed 0 key with counter 0 is the first known-answer vector
    expect(read(rand([1], { seed: 0, device: dev }))).toEqual([(0x6627e8d5 >>> 8) * 2 ** -24]);
  });

  it('randint: the low word of each 64-bit pair, modulo the range', () => {
    const w = words(7n, 0, 0);
    expect(read(randint(0, 2 ** 32, [2], { seed: 7, device: dev }))).toEqual([w[1], w[3]]);
    expect(read(randint(-5, 6, [2], { seed: 7, device: dev }))).toEqual([w[0], w[2]].map((hi, k) => Number(((BigInt(hi) << 32n) | BigInt(w[k * 2 + 1])) % 11n) - 5));
  });

  it('rand: uniform on [0, 1) for every float dtype (mean, std, histogram)', () => {
    for (const dtype of ['float32', 'float64', 'float16', 'bfloat16'] as DType[]) {
      const v = read(rand([N], { seed: 11, dtype, device: dev }));
      let lo = Infinity, hi = -Infinity;
      // 16 bins: aligned with every dtype's grid of values (bfloat16's are multiples of 1/256)
      const bins = new Array<number>(16).fill(0);
      for (const x of v) {
        lo = Math.min(lo, x);
        hi = Math.max(hi, x);
        bins[Math.floor(x * 16)]++;
      }
      expect(lo, dtype).toBeGreaterThanOrEqual(0);
      expect(hi, dtype).toBeLessThan(1);
      const { mean, std } = stats(v);
      // 5 standard errors: sd(mean) = 0.2887 / sqrt(N)
      expect(Math.abs(mean - 0.5), `${dtype} mean`).toBeLessThan(0.005);
      // bfloat16 keeps 8 bits: its values are multiples of 1/256, whose std is sqrt((1 - 256^-2) / 12)
      expect(Math.abs(std - Math.sqrt(1 / 12)), `${dtype} std`).toBeLessThan(0.003);
      const chi2 = bins.reduce((a, b) => a + (b - N / 16) ** 2 / (N / 16), 0);
      expect(chi2, `${dtype} chi-square, 15 dof`).toBeLessThan(50); // P(chi2 > 50) < 2e-5
    }
  });

  it('randn: standard normal for every float dtype', () => {
    for (const dtype of ['float32', 'float64', 'float16', 'bfloat16'] as DType[]) {
      const v = read(randn([N], { seed: 12, dtype, device: dev }));
      const { mean, std } = stats(v);
      expect(Math.abs(mean), `${dtype} mean`).toBeLessThan(0.016);
      expect(Math.abs(std - 1), `${dtype} std`).toBeLessThan(dtype === 'bfloat16' ? 0.015 : 0.011);
      const within1 = v.filter((x) => Math.abs(x) <= 1).length / N;
      expect(Math.abs(within1 - 0.6827), `${dtype} P(|z| <= 1)`).toBeLessThan(dtype === 'bfloat16' ? 0.012 : 0.0075);
      const within2 = v.filter((x) => Math.abs(x) <= 2).length / N;
      expect(Math.abs(within2 - 0.9545), `${dtype} P(|z| <= 2)`).toBeLessThan(0.005);
      expect(v.every(Number.isFinite)).toBe(true);
    }
  });

  it('randint stays in [low, high) and covers it, for several dtypes', () => {
    for (const dtype of ['int64', 'int32', 'float32', 'float16'] as DType[]) {
      const v = read(randint(-3, 4, [20_000], { seed: 13, dtype, device: dev }));
      const counts = new Map<number, number>();
      for (const x of v) counts.set(x, (counts.get(x) ?? 0) + 1);
      expect([...counts.keys()].sort((a, b) => a - b), dtype).toEqual([-3, -2, -1, 0, 1, 2, 3]);
      for (const c of counts.values()) expect(Math.abs(c - 20_000 / 7)).toBeLessThan(300);
    }
    const b = read(randint(0, 2, [1000], { seed: 1, dtype: 'bool', device: dev }));
    expect(new Set(b)).toEqual(new Set([0, 1]));
    const big = read(randint(2 ** 40, 2 ** 40 + 3, [100], { seed: 2, device: dev }));
    expect(big.every((x) => x >= 2 ** 40 && x < 2 ** 40 + 3)).toBe(true);
  });

  it('is reproducible: seeds, generators, manualSeed, states', () => {
    const a = read(randn([50], { seed: 99, device: dev }));
    expect(read(randn([50], { seed: 99, device: dev }))).toEqual(a);
    expect(read(randn([50], { seed: 98, device: dev }))).not.toEqual(a);
    // element i does not depend on the shape or the element count
    expect(read(randn([2, 3], { seed: 99, device: dev }))).toEqual(a.slice(0, 6));
    const g1 = new Generator(5), g2 = new Generator(5);
    const x1 = read(rand([20], { generator: g1, device: dev })), y1 = read(rand([20], { generator: g1, device: dev }));
    expect(x1).not.toEqual(y1);
    expect(read(rand([20], { generator: g2, device: dev }))).toEqual(x1);
    const state = g2.getState();
    const y2 = read(rand([20], { generator: g2, device: dev }));
    expect(y2).toEqual(y1);
    g2.setState(state);
    expect(read(rand([20], { generator: g2, device: dev }))).toEqual(y1);
    expect(g2.manualSeed(5).offset).toBe(0);
    expect(read(rand([20], { generator: g2, device: dev }))).toEqual(x1);
    manualSeed(123);
    const d1 = read(rand([10], { device: dev }));
    const before = defaultGenerator.offset;
    rand([10], { seed: 1, device: dev }); // a one-off seed leaves the default generator alone
    expect(defaultGenerator.offset).toBe(before);
    manualSeed(123);
    expect(read(rand([10], { device: dev }))).toEqual(d1);
    // large and negative seeds wrap modulo 2^64, as in PyTorch
    expect(read(rand([4], { seed: -1, device: dev }))).toEqual(read(rand([4], { seed: 2n ** 64n - 1n, device: dev })));
    expect(new Generator(-1).initialSeed()).toBe(2n ** 64n - 1n);
  });

  it('has the options of the other factories', () => {
    const x = rand([2, 3], { dtype: 'float64', requiresGrad: true, device: dev });
    expect(x.requiresGrad).toBe(true);
    expect(x.device.type).toBe(dev);
    const r = randLike(x);
    expect([r.shape, r.dtype, r.device]).toEqual([[2, 3], 'float64', x.device]);
    expect(randnLike(x, { dtype: 'float16' }).dtype).toBe('float16');
    expect(rand([0, 3], { device: dev }).shape).toEqual([0, 3]);
    expect(typeof randn([], { device: dev }).item()).toBe('number');
  });

  it('rejects bad arguments', () => {
    expectError(() => rand([2], { dtype: 'int32', device: dev }), DTypeError, { op: 'rand', argument: 'dtype', expected: 'a floating dtype', got: 'int32' });
    expectError(() => randn([2], { dtype: 'bool', device: dev }), DTypeError, { op: 'randn', argument: 'dtype', expected: 'a floating dtype', got: 'bool' });
    expectError(() => rand([-1], { device: dev }), ValueError, { op: 'rand', argument: 'shape', expected: 'a shape of non-negative integers', got: '[-1]' });
    expectError(() => rand([2], { seed: 1.5, device: dev }), ValueError, { op: 'rand', argument: 'seed', expected: 'an integer seed (a safe integer number, or a bigint)', got: '1.5' });
    expectError(() => rand([2], { seed: 1, generator: new Generator(), device: dev }), ValueError, { op: 'rand', argument: 'options', expected: 'either seed or generator, not both', got: 'both' });
    expectError(() => randint(3, 3, [2], { device: dev }), ValueError, { op: 'randint', argument: 'high', expected: 'a value > low (3)', got: '3' });
    expectError(() => randint(0.5, 3, [2], { device: dev }), ValueError, { op: 'randint', argument: 'low', expected: 'an integer within ±(2^53 - 1)', got: '0.5' });
    expectError(() => randint(0, 3000, [2], { dtype: 'float16', device: dev }), ValueError, { op: 'randint', argument: 'high', expected: 'bounds with [low, high - 1] inside [-2048, 2048] for dtype float16', got: '[0, 2999]' });
    expectError(() => randint(0, 3, [2], { dtype: 'bool', device: dev }), ValueError, { op: 'randint', argument: 'high', expected: 'bounds with [low, high - 1] inside [0, 1] for dtype bool', got: '[0, 2]' });
    expectError(() => randint(0, 2 ** 31 + 1, [2], { dtype: 'int32', device: dev }), ValueError, { op: 'randint', argument: 'high', got: '[0, 2147483648]' });
    expectError(() => new Generator(2 ** 64), ValueError, { op: 'Generator', argument: 'seed', expected: 'an integer seed (a safe integer number, or a bigint)', got: '18446744073709552000' });
  });
});

it('gives the same values on the CPU and on CUDA for the same seed', () => {
  if (!cudaAvailable()) return;
  for (const dtype of ['float32', 'float64', 'float16', 'bfloat16'] as DType[]) {
    expect(read(rand([1001], { seed: 5, dtype, device: 'cuda' })), dtype).toEqual(read(rand([1001], { seed: 5, dtype })));
    // normal values go through log/sin/cos, whose device and host versions may differ in the last bit
    expectClose(randn([1001], { seed: 5, dtype, device: 'cuda' }).cpu(), randn([1001], { seed: 5, dtype }), { rtol: 1e-6, atol: 1e-7, what: dtype });
  }
  for (const dtype of ['int64', 'int32', 'float32', 'bool'] as DType[]) {
    const [lo, hi] = dtype === 'bool' ? [0, 2] : [-1000, 1000];
    expect(read(randint(lo, hi, [999], { seed: 6, dtype, device: 'cuda' }))).toEqual(read(randint(lo, hi, [999], { seed: 6, dtype })));
  }
  // generators advance alike on both devices
  const g = new Generator(8), h = new Generator(8);
  rand([3], { generator: g, device: 'cuda' });
  rand([3], { generator: h });
  expect(read(rand([7], { generator: g, device: 'cuda' }))).toEqual(read(rand([7], { generator: h })));
});
