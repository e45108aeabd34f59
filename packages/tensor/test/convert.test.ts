// Conversions (ops/convert.ts): to(dtype) for every pair of dtypes, the rounding of the half types
// (exact bit patterns), to(device), clone, copy_, and reading values back (toArray, item,
// toTypedArray, data). References: JS float64 arithmetic and an independent round-to-nearest-even
// written below; on CUDA each result is also compared with the CPU's.
import { expect, it } from 'vitest';
import { DTYPES, DTypeError, type DType, DeviceError, ShapeError, type Tensor, ValueError, arange, tensor, zeros } from '@kiln/tensor';
import { expectError, forEachDevice, randomValues } from '@kiln/tensor/testing';

/** x rounded to nearest, ties to even, in a binary float with `man` fraction bits (IEEE semantics). */
function roundFloat(x: number, man: number, emin: number, emax: number): number {
  if (!Number.isFinite(x) || x === 0) return x;
  const a = Math.abs(x);
  let e = Math.max(Math.floor(Math.log2(a)), emin);
  if (e > emin && 2 ** e > a) e--;
  if (2 ** (e + 1) <= a) e++;
  const ulp = 2 ** (e - man);
  const q = a / ulp, f = Math.floor(q), r = q - f;                    // exact: ulp is a power of 2
  const rounded = (r > 0.5 || (r === 0.5 && f % 2 !== 0) ? f + 1 : f) * ulp;
  return Math.sign(x) * (rounded > (2 - 2 ** -man) * 2 ** emax ? Infinity : rounded);
}

/** The value a JS number takes in a dtype, as PyTorch converts (floats truncate toward zero into ints). */
function inDType(v: number, d: DType): number | boolean {
  switch (d) {
    case 'bool': return v !== 0;
    case 'int32': case 'int64': return Math.trunc(v) + 0;              // + 0 turns -0 into 0
    case 'float32': return Math.fround(v);
    case 'float16': return roundFloat(v, 10, -14, 15);
    case 'bfloat16': return roundFloat(v, 7, -126, 127);
    default: return v;
  }
}

/** The 16-bit words of a half-type tensor (read on the host). */
function bits16(t: Tensor): number[] {
  const c = t.to('cpu').contiguous();
  return Array.from(new Uint16Array(c.storage.buffer!, c.offset * 2, c.numel));
}

const RAW: Record<'bool' | 'int' | 'float', number[]> = {
  bool: [1, 0, 1],
  int: [0, 1, -2, 3, 100, -7, 2049],                                    // 2049: a tie in float16 and bfloat16
  float: [0, 1.5, -2.75, 3, 100.5, -0.5, 0.1, 2049, -1e-3],
};
const kindOf = (d: DType) => (d === 'bool' ? 'bool' : d.startsWith('int') ? 'int' : 'float');

forEachDevice('to(dtype)', (dev) => {
  it.each(DTYPES.map((d) => [d]))('from %s to every dtype', (from) => {
    const src = tensor(RAW[kindOf(from)].map((v) => inDType(v, from)), { dtype: from, device: dev });
    const srcValues = (src.toArray() as (number | boolean)[]).map(Number);
    for (const to of DTYPES) {
      const r = src.to(to);
      expect([r.dtype, r.shape, r.device.type], `${from}->${to}`).toEqual([to, src.shape, dev]);
      expect(r.toArray(), `${from}->${to}`).toEqual(srcValues.map((v) => inDType(v, to)));
      if (to === from) expect(r).toBe(src);                            // nothing to do: the same tensor
      else expect(r.storage).not.toBe(src.storage);
      if (dev === 'cuda') expect(r.toArray(), `${from}->${to} cuda vs cpu`).toEqual(src.cpu().to(to).toArray());
    }
  });

  it('float -> int truncates toward zero; int64 -> int32 wraps; int -> float rounds to nearest even', () => {
    expect(tensor([2.7, -2.7, 0.5, -0.5, 1e9, -1e9, 2147483647], { dtype: 'float64', device: dev }).to('int32').toArray())
      .toEqual([2, -2, 0, 0, 1e9, -1e9, 2147483647]);
    expect(tensor([-3.9, 16777216], { dtype: 'float32', device: dev }).to('int64').toArray()).toEqual([-3, 16777216]);
    expect(tensor([2.5, -2.5], { dtype: 'float16', device: dev }).to('int32').toArray()).toEqual([2, -2]);
    expect(tensor([2 ** 32 + 5, -(2 ** 31) - 1, 2 ** 31], { device: dev }).to('int32').toArray()).toEqual([5, 2147483647, -2147483648]);
    expect(tensor([16777217, 16777219], { dtype: 'int32', device: dev }).to('float32').toArray()).toEqual([16777216, 16777220]);
    const big = tensor([2n ** 53n + 1n, 2n ** 53n + 3n], { device: dev });
    expect(big.to('float64').toArray()).toEqual([2 ** 53, 2 ** 53 + 4]);
    expect(tensor([0, -0, 0.5, NaN, -Infinity], { dtype: 'float32', device: dev }).to('bool').toArray()).toEqual([false, false, true, true, true]);
  });

  // [input, float16 bits, bfloat16 bits]; every input is exact in float32, so float64 and float32
  // sources round once, to nearest with ties to even
  const HALF: [number, number, number][] = [
    [1, 0x3c00, 0x3f80],
    [1 + 2 ** -11, 0x3c00, 0x3f80],              // float16 tie -> even (1)
    [1 + 3 * 2 ** -11, 0x3c02, 0x3f80],          // float16 tie -> even (1 + 2^-9)
    [1 + 2 ** -11 + 2 ** -20, 0x3c01, 0x3f80],   // just above the tie
    [1 + 2 ** -8, 0x3c04, 0x3f80],               // bfloat16 tie -> even (1)
    [1 + 3 * 2 ** -8, 0x3c0c, 0x3f82],           // bfloat16 tie -> even (1 + 2^-6)
    [1 + 2 ** -8 + 2 ** -20, 0x3c04, 0x3f81],
    [65504, 0x7bff, 0x4780],                     // float16 max; bfloat16 rounds up to 65536
    [65519, 0x7bff, 0x4780],                     // below float16's overflow threshold
    [65520, 0x7c00, 0x4780],                     // the tie with 2^16 rounds to even: inf
    [-65520, 0xfc00, 0xc780],
    [1e6, 0x7c00, 0x4974],
    [2 ** -14, 0x0400, 0x3880],                  // float16 min normal
    [2 ** -24, 0x0001, 0x3380],                  // float16 min subnormal
    [2 ** -25, 0x0000, 0x3300],                  // tie between 0 and 2^-24 -> 0
    [3 * 2 ** -25, 0x0002, 0x33c0],              // tie -> even (2 * 2^-24)
    [-0, 0x8000, 0x8000],
    [-2, 0xc000, 0xc000],
    [Math.fround(0.1), 0x2e66, 0x3dcd],
    [3.4028234663852886e38, 0x7c00, 0x7f80],     // float32 max: bfloat16 rounds to inf
    [Infinity, 0x7c00, 0x7f80],
    [-Infinity, 0xfc00, 0xff80],
  ];

  it.each(['float64', 'float32'] as const)('rounds %s to float16 and bfloat16 to the expected bits', (from) => {
    const src = tensor(HALF.map((h) => h[0]), { dtype: from, device: dev });
    const hex = (xs: number[]) => xs.map((b) => b.toString(16).padStart(4, '0'));
    expect(hex(bits16(src.to('float16'))), 'float16').toEqual(hex(HALF.map((h) => h[1])));
    expect(hex(bits16(src.to('bfloat16'))), 'bfloat16').toEqual(hex(HALF.map((h) => h[2])));
    // the independent rounding agrees with the hand-written bits (both read back exactly as float32)
    expect(src.to('float16').toArray()).toEqual(HALF.map((h) => inDType(h[0], 'float16')));
    expect(src.to('bfloat16').toArray()).toEqual(HALF.map((h) => inDType(h[0], 'bfloat16')));
    const nan = tensor([NaN], { dtype: from, device: dev });
    expect([nan.to('float16').item(), nan.to('bfloat16').item()]).toEqual([NaN, NaN]);
  });
});

forEachDevice('to(device), clone, contiguous', (dev) => {
  it('to(device) both ways keeps values and dtype of every dtype, also from a strided view', () => {
    for (const dtype of DTYPES) {
      const host = arange(12, undefined, 1, { dtype: dtype === 'bool' ? 'int32' : dtype }).to(dtype).reshape(3, 4);
      const view = host.t().slice(0, 1, 4, 2);                          // [2, 3], non-contiguous
      const there = view.to(dev);
      expect([there.device.type, there.dtype, there.shape], dtype).toEqual([dev, dtype, [2, 3]]);
      expect(there.toArray(), dtype).toEqual(view.toArray());
      const back = there.to('cpu');
      expect(back.toArray(), dtype).toEqual(view.toArray());
      if (dev === 'cuda') expect([there.storage === view.storage, back.storage === there.storage]).toEqual([false, false]);
    }
    const x = zeros([2], { device: dev });
    expect(x.to(dev)).toBe(x);                                           // nothing changes: the same tensor
    const c = x.to({ device: dev, copy: true });
    expect([c === x, c.storage === x.storage]).toEqual([false, false]);
    const both = tensor([1.5, -2.5], { dtype: 'float64' }).to({ device: dev, dtype: 'int32' });
    expect([both.device.type, both.dtype, both.toArray()]).toEqual([dev, 'int32', [1, -2]]);
  });

  it('a target that is neither a dtype nor a device is an error naming to', () => {
    const x = zeros([2], { device: dev });
    expectError(() => x.to('float'), DTypeError, { op: 'to', argument: 'target', got: '"float"' });
    expectError(() => x.to('uint8'), DTypeError, { op: 'to', argument: 'target', expected: "a dtype (float32, float64, int32, int64, bool, float16, bfloat16) or a device ('cpu', 'cuda', 'cuda:N')" });
    expectError(() => x.to('cuda:x'), DeviceError, { op: 'to', argument: 'device', expected: "'cpu', 'cuda' or 'cuda:N'", got: '"cuda:x"' });
    expectError(() => x.to({ device: 'gpu' }), DeviceError, { op: 'to', argument: 'device', got: '"gpu"' });
  });

  it('clone() has its own storage; contiguous() copies only when needed', () => {
    const x = tensor([[1, 2], [3, 4]], { dtype: 'float32', device: dev });
    const c = x.clone();
    expect([c.storage === x.storage, c.toArray()]).toEqual([false, [[1, 2], [3, 4]]]);
    c.fill_(0);
    expect(x.toArray()).toEqual([[1, 2], [3, 4]]);
    const tc = x.t().clone();
    expect([tc.isContiguous, tc.strides, tc.toArray()]).toEqual([true, [2, 1], [[1, 3], [2, 4]]]);
    expect(x.contiguous()).toBe(x);
    expect(x.t().contiguous().storage).not.toBe(x.storage);
  });
});

forEachDevice('copy_', (dev) => {
  it('broadcasts the source, converts its dtype and bumps the version', () => {
    const dst = zeros([2, 3], { device: dev });
    const v = dst.version;
    expect(dst.copy_(tensor([1, 2, 3], { device: dev }))).toBe(dst);
    expect([dst.dtype, dst.toArray(), dst.version]).toEqual(['float32', [[1, 2, 3], [1, 2, 3]], v + 1]);
    dst.copy_(tensor(7.5, { dtype: 'float64', device: dev }));
    expect(dst.toArray()).toEqual([[7.5, 7.5, 7.5], [7.5, 7.5, 7.5]]);
    const ints = zeros([3], { dtype: 'int32', device: dev }).copy_(tensor([1.9, -1.9, 2.5], { dtype: 'float64', device: dev }));
    expect(ints.toArray()).toEqual([1, -1, 2]);
  });

  it('writes into non-contiguous destinations', () => {
    const base = zeros([3, 4], { device: dev });
    base.t().copy_(arange(12, undefined, 1, { device: dev }).reshape(4, 3));   // base[j][i] = 3i + j
    expect(base.toArray()).toEqual([[0, 3, 6, 9], [1, 4, 7, 10], [2, 5, 8, 11]]);
    const b2 = zeros([2, 4], { dtype: 'int64', device: dev });
    b2.slice(1, 0, 4, 2).copy_(tensor([[5], [6]], { device: dev }));
    expect(b2.toArray()).toEqual([[5, 0, 5, 0], [6, 0, 6, 0]]);
  });

  it('copies across devices', () => {
    const onDev = zeros([3], { device: dev }).copy_(tensor([1, 2, 3], { dtype: 'float64' }));
    expect(onDev.toArray()).toEqual([1, 2, 3]);
    const onCpu = zeros([2, 3], { dtype: 'int32' }).copy_(tensor([4, 5, 6], { dtype: 'float32', device: dev }));
    expect(onCpu.toArray()).toEqual([[4, 5, 6], [4, 5, 6]]);
  });

  it('rejects a source that does not broadcast to the destination, naming copy_ and src', () => {
    expectError(() => zeros([2, 3], { device: dev }).copy_(zeros([4], { device: dev })), ShapeError, { op: 'copy_', argument: 'src', expected: 'a shape broadcastable to [2, 3]', got: '[4]' });
    expectError(() => zeros([3], { device: dev }).copy_(zeros([2, 3], { device: dev })), ShapeError, { op: 'copy_', argument: 'src', expected: 'a shape broadcastable to [3]', got: '[2, 3]' });
  });

  it('refuses a destination whose elements share memory (a stride-0 view), as PyTorch; the base is unchanged', () => {
    const base = () => tensor([[1, 2, 3]], { dtype: 'float32', device: dev });
    // [the destination made from a [1, 3] base, the dim named in the error]
    const views: [string, (b: Tensor) => Tensor, number][] = [
      ['expand(4, 3)', (b) => b.expand(4, 3), 0],
      ['expand(2, 4, 3)', (b) => b.expand(2, 4, 3), 0],
      ['select(0, 0).unsqueeze(1).expand(3, 2)', (b) => b.select(0, 0).unsqueeze(1).expand(3, 2), 1],
    ];
    for (const [name, make] of views) {
      const b = base();
      const dst = make(b);
      const src = zeros(dst.shape, { device: dev });
      expectError(() => dst.copy_(src), ValueError, { op: 'copy_', argument: 'self' });
      expect([b.toArray(), b.version], name).toEqual([[[1, 2, 3]], 0]);
    }
    // a stride-0 dimension of size 1, or a 0-d destination, has distinct elements: allowed
    const b = base();
    b.expand(1, 3).copy_(tensor([7, 8, 9], { dtype: 'float32', device: dev }));
    expect(b.toArray()).toEqual([[7, 8, 9]]);
    expect(b.select(0, 0).select(0, 1).copy_(tensor(5, { dtype: 'float32', device: dev })).toArray()).toBe(5);
  });
});

forEachDevice('reading values', (dev) => {
  it('toArray nests by shape; a 0-d tensor gives a plain value', () => {
    expect(arange(6, undefined, 1, { device: dev }).reshape(1, 2, 3).toArray()).toEqual([[[0, 1, 2], [3, 4, 5]]]);
    expect(tensor(2.5, { device: dev }).toArray()).toBe(2.5);
    expect(zeros([2, 0], { device: dev }).toArray()).toEqual([[], []]);
  });

  it('item reads a one-element tensor of any shape; other sizes are a ValueError naming item', () => {
    const four: number = tensor([[4]], { device: dev }).item();          // a number, no cast
    expect(four).toBe(4);
    const yes: boolean = tensor([true], { device: dev }).item<'bool'>();  // a bool tensor's, said so
    expect(yes).toBe(true);
    expectError(() => tensor([1, 2], { device: dev }).item(), ValueError, { op: 'item', expected: 'a tensor with one element', got: '2 elements (shape [2])' });
    expectError(() => zeros([0], { device: dev }).item(), ValueError, { op: 'item', expected: 'a tensor with one element', got: '0 elements (shape [0])' });
  });

  it('toTypedArray and data() return a contiguous host copy in the storage array type', async () => {
    const types: Record<DType, string> = {
      float32: 'Float32Array', float64: 'Float64Array', int32: 'Int32Array', int64: 'BigInt64Array', bool: 'Uint8Array',
      float16: 'Float32Array', bfloat16: 'Float32Array',
    };
    for (const dtype of DTYPES) {
      const t = arange(6, undefined, 1, { device: dev }).to(dtype).reshape(2, 3).t();    // [3, 2], strided
      const want = [0, 3, 1, 4, 2, 5].map((v) => Number(inDType(v, dtype)));
      const a = t.toTypedArray(), b = await t.data();
      expect([a.constructor.name, b.constructor.name], dtype).toEqual([types[dtype], types[dtype]]);
      expect(Array.from(a as ArrayLike<number | bigint>, Number), dtype).toEqual(want);
      expect(Array.from(b as ArrayLike<number | bigint>, Number), dtype).toEqual(want);
    }
    const x = tensor([1, 2], { dtype: 'float32', device: dev });
    (x.toTypedArray() as Float32Array)[0] = 99;                          // a copy: the tensor is unchanged
    expect(x.toArray()).toEqual([1, 2]);
  });
});

// Floating -> integer conversion is defined the same on every device (native/include/kiln/dtype.h,
// saturate_to_int): truncate toward zero, saturate at the integer type's min / max (infinities
// included), NaN -> 0. PyTorch leaves these cases to the platform (x86 gives INT_MIN for all of them,
// CUDA saturates); Kiln chooses the saturating rule so that both devices agree.
const I32_MAX = 2147483647, I32_MIN = -2147483648;
const I64_MAX = 2n ** 63n - 1n, I64_MIN = -(2n ** 63n);

/** The saturating rule, written independently with BigInt: trunc, clamp to [min, max], NaN -> 0. */
function saturate(v: number, bits: 32 | 64): bigint {
  const max = 2n ** BigInt(bits - 1) - 1n, min = -(2n ** BigInt(bits - 1));
  if (Number.isNaN(v)) return 0n;
  if (v === Infinity) return max;
  if (v === -Infinity) return min;
  const t = BigInt(Math.trunc(v));
  return t > max ? max : t < min ? min : t;
}

const int64s = (t: Tensor): bigint[] => Array.from(t.toTypedArray() as BigInt64Array);

forEachDevice('float -> int: truncation and saturation', (dev) => {
  it.each(['float32', 'float64', 'float16', 'bfloat16'] as const)('%s: NaN -> 0, +inf -> max, -inf -> min, truncation toward zero', (from) => {
    const src = tensor([NaN, Infinity, -Infinity, 2.9, -2.9, -0.5, 0], { dtype: from, device: dev });
    expect(src.to('int32').toArray()).toEqual([0, I32_MAX, I32_MIN, 2, -2, 0, 0]);
    expect(int64s(src.to('int64'))).toEqual([0n, I64_MAX, I64_MIN, 2n, -2n, 0n, 0n]);
  });

  it('values beyond the range give the min / max; values that truncate into the range do not', () => {
    const f64 = tensor([3e9, -3e9, 1e30, -1e30, 2147483647.9, -2147483648.9, 2147483648, -2147483649], { dtype: 'float64', device: dev });
    expect(f64.to('int32').toArray()).toEqual([I32_MAX, I32_MIN, I32_MAX, I32_MIN, I32_MAX, I32_MIN, I32_MAX, I32_MIN]);
    expect(int64s(f64.to('int64'))).toEqual([3000000000n, -3000000000n, I64_MAX, I64_MIN, 2147483647n, -2147483648n, 2147483648n, -2147483649n]);
    // 2^63 (the double nearest to INT64_MAX) is above the range; -2^63 is INT64_MIN exactly;
    // 2^63 - 1024 is the largest double below 2^63
    const edge = tensor([2 ** 63, -(2 ** 63), 2 ** 63 - 1024, -1e300], { dtype: 'float64', device: dev });
    expect(int64s(edge.to('int64'))).toEqual([I64_MAX, I64_MIN, 2n ** 63n - 1024n, I64_MIN]);
    const f32 = tensor([3e9, -3e9, 2 ** 31, -(2 ** 31), 2 ** 63, 3e38], { dtype: 'float32', device: dev });
    expect(f32.to('int32').toArray()).toEqual([I32_MAX, I32_MIN, I32_MAX, I32_MIN, I32_MAX, I32_MAX]);
    expect(int64s(f32.to('int64'))).toEqual([3000000000n, -3000000000n, 2n ** 31n, -(2n ** 31n), I64_MAX, I64_MAX]);
    expect(tensor([65504, -65504], { dtype: 'float16', device: dev }).to('int32').toArray()).toEqual([65504, -65504]);
    expect(tensor([1e38, -1e38], { dtype: 'bfloat16', device: dev }).to('int32').toArray()).toEqual([I32_MAX, I32_MIN]);
  });

  it('copy_ of floats into an int view converts the same way', () => {
    const dst = zeros([2, 3], { dtype: 'int32', device: dev });
    dst.t().copy_(tensor([[NaN, -Infinity], [5e9, -7.9], [Infinity, 0.5]], { dtype: 'float64', device: dev }));
    expect(dst.toArray()).toEqual([[0, I32_MAX, I32_MAX], [I32_MIN, -7, 0]]);
  });

  it('agrees with the rule on random values of every magnitude, NaN and infinities included', () => {
    const rng = randomValues(7, 4000, 0, 1);
    const vals = rng.map((u, i) => {
      if (i % 50 === 0) return NaN;
      if (i % 50 === 1) return Infinity;
      if (i % 50 === 2) return -Infinity;
      const mag = 10 ** (-2 + 24 * rng[(i * 7) % rng.length]);          // 1e-2 .. 1e22
      return (u < 0.5 ? -1 : 1) * mag;
    });
    for (const dtype of ['float32', 'float64'] as const) {
      const src = tensor(vals, { dtype, device: dev });
      const exact = dtype === 'float32' ? vals.map(Math.fround) : vals;
      const i32 = src.to('int32'), i64 = src.to('int64');
      expect(i32.toArray(), `${dtype} -> int32`).toEqual(exact.map((v) => Number(saturate(v, 32))));
      expect(int64s(i64), `${dtype} -> int64`).toEqual(exact.map((v) => saturate(v, 64)));
      if (dev === 'cuda') {
        const cpu = src.cpu();
        expect(i32.toArray(), `${dtype} -> int32 cuda vs cpu`).toEqual(cpu.to('int32').toArray());
        expect(int64s(i64), `${dtype} -> int64 cuda vs cpu`).toEqual(int64s(cpu.to('int64')));
      }
    }
  });
});

forEachDevice('float64 -> float16 / bfloat16 rounds via float32', (dev) => {
  // As PyTorch (c10::Half and c10::BFloat16 convert from float only): 1 + 2^-11 + 2^-40 becomes the
  // float32 1 + 2^-11, a float16 tie, which rounds to even: 1.0 (0x3c00), where rounding the double
  // directly would give 1 + 2^-10 (0x3c01). Likewise 1 + 2^-8 + 2^-40 -> bfloat16 1.0 (0x3f80, not 0x3f81).
  it('rounds twice, as PyTorch does', () => {
    const src = tensor([1 + 2 ** -11 + 2 ** -40, 1 + 2 ** -8 + 2 ** -40], { dtype: 'float64', device: dev });
    expect(bits16(src.to('float16'))).toEqual([0x3c00, 0x3c04]);
    expect(bits16(src.to('bfloat16'))).toEqual([0x3f80, 0x3f80]);
  });
});
