// Dtypes: the table shared with the native code, int64 beyond 2^53 (exact through bigints, refused
// where a JS number would round), int32 overflow in add (wraps, as PyTorch), bool and half storage.
import { describe, expect, it } from 'vitest';
import { AutogradError, DTYPES, type DType, DTypeError, type Tensor, ValueError, abs, dtypeInfo, isFloating, neg, prod, sum, tensor, zeros } from '@kiln/tensor';
import { expectError, forEachDevice } from '@kiln/tensor/testing';

describe('dtype table', () => {
  it('matches native/include/kiln/dtype.h codes and the element sizes', () => {
    // [dtype, native code, bytes, floating]
    const want: [DType, number, number, boolean][] = [
      ['float32', 0, 4, true], ['float64', 1, 8, true], ['int32', 2, 4, false], ['int64', 3, 8, false],
      ['bool', 4, 1, false], ['float16', 5, 2, true], ['bfloat16', 6, 2, true],
    ];
    expect(DTYPES).toEqual(want.map((w) => w[0]));
    for (const [d, code, size, fl] of want) {
      expect([dtypeInfo[d].code, dtypeInfo[d].itemsize, isFloating(d), dtypeInfo[d].arrayType.BYTES_PER_ELEMENT], d).toEqual([code, size, fl, size]);
    }
  });

  it('only floating tensors can require grad', () => {
    for (const d of DTYPES) {
      const t = zeros([1], { dtype: d });
      if (isFloating(d)) expect(t.requiresGrad_().requiresGrad).toBe(true);
      else expectError(() => t.requiresGrad_(), AutogradError, { op: 'requiresGrad', got: d });
      t.dispose();
    }
  });

  it('an unknown dtype is a DTypeError naming the op and dtype', () => {
    expectError(() => zeros([1]).to({ dtype: 'uint8' as DType }), DTypeError, { op: 'to', argument: 'dtype', expected: 'one of float32, float64, int32, int64, bool, float16, bfloat16', got: 'uint8' });
  });
});

forEachDevice('int64 beyond 2^53', (dev) => {
  const SAFE = 2 ** 53 - 1;

  it('is exact through bigints: creation, toTypedArray, integer arithmetic', () => {
    const vals = [2n ** 53n + 1n, -(2n ** 62n) - 3n, 2n ** 63n - 1n];
    const t = tensor(vals, { device: dev });
    expect(Array.from(t.toTypedArray() as BigInt64Array)).toEqual(vals);
    const s = tensor([2n ** 62n], { device: dev }).add(tensor([1n], { device: dev }));
    expect(Array.from(s.toTypedArray() as BigInt64Array)).toEqual([2n ** 62n + 1n]);
    // a JS integer above 2^53 is exact as written (the number itself is exactly representable)
    expect(Array.from(tensor([2 ** 60], { device: dev }).toTypedArray() as BigInt64Array)).toEqual([2n ** 60n]);
  });

  it('is refused, never rounded, where values become JS numbers (toArray, item)', () => {
    const t = tensor([2n ** 53n, 1n], { device: dev });
    expectError(() => t.toArray(), ValueError, { op: 'toArray', got: '9007199254740992' });
    expectError(() => tensor([-(2n ** 53n) - 1n], { device: dev }).item(), ValueError, { op: 'item', got: '-9007199254740993' });
    expect(tensor([BigInt(SAFE), BigInt(-SAFE)], { device: dev }).toArray()).toEqual([SAFE, -SAFE]);
    expect(tensor([BigInt(-SAFE)], { device: dev }).item()).toBe(-SAFE);
  });
});

forEachDevice('int32 overflow', (dev) => {
  it('add wraps around in two\'s complement, as PyTorch (tensor and scalar operands)', () => {
    const max = 2147483647, min = -2147483648;
    const a = tensor([max, min, max], { dtype: 'int32', device: dev });
    const b = tensor([1, -1, max], { dtype: 'int32', device: dev });
    const sum = a.add(b);
    expect(sum.dtype).toBe('int32');
    // JS `| 0` is the two's-complement wrap of the exact sum
    expect(sum.toArray()).toEqual([max + 1, min - 1, max + max].map((v) => v | 0));
    expect(a.add(1).toArray()).toEqual([min, min + 1, min]);
    const inplace = tensor([max], { dtype: 'int32', device: dev });
    inplace.add_(2);
    expect(inplace.toArray()).toEqual([min + 1]);
    if (dev === 'cuda') expect(sum.toArray()).toEqual(a.cpu().add(b.cpu()).toArray());
  });
});

forEachDevice('bool and half storage', (dev) => {
  it('bool is one byte per element holding 0 or 1', () => {
    const t = tensor([0.5, 0, -2, NaN], { dtype: 'float32', device: dev }).to('bool');
    expect([t.itemsize, t.storage.nbytes >= 4]).toEqual([1, true]);
    const raw = t.toTypedArray();
    expect([raw.constructor.name, Array.from(raw as Uint8Array)]).toEqual(['Uint8Array', [1, 0, 1, 1]]);
    expect(t.toArray()).toEqual([true, false, true, true]);
    expect(tensor([true, false], { device: dev }).to('int32').toArray()).toEqual([1, 0]);
  });

  it('float16 and bfloat16 take 2 bytes and read back as float32 values', () => {
    for (const d of ['float16', 'bfloat16'] as const) {
      const t = tensor([1, -0.5, 3], { dtype: d, device: dev });
      expect([t.itemsize, t.toTypedArray().constructor.name, t.toArray()], d).toEqual([2, 'Float32Array', [1, -0.5, 3]]);
    }
  });
});

// Signed integer add / sub / mul / neg / abs and integer sum / prod wrap around in two's complement
// (native/include/kiln/math/wrapping.h: computed in the unsigned type, so defined in C++), as PyTorch
// gives in practice. References: JS `| 0` and Math.imul (int32 wrap), BigInt.asIntN(64, ...) (int64).
forEachDevice('signed integer overflow wraps', (dev) => {
  const I32_MAX = 2147483647, I32_MIN = -2147483648;
  const I64_MAX = 2n ** 63n - 1n, I64_MIN = -(2n ** 63n);
  const wrap64 = (v: bigint) => BigInt.asIntN(64, v);
  const int64s = (t: Tensor) => Array.from(t.toTypedArray() as BigInt64Array);

  it('int32 add, sub, mul, neg, abs', () => {
    const a = tensor([I32_MAX, I32_MIN, 46341, 65536, -3], { dtype: 'int32', device: dev });
    const b = tensor([1, 1, 46341, 65536, 7], { dtype: 'int32', device: dev });
    expect(a.add(b).toArray()).toEqual([I32_MIN, I32_MIN + 1, 92682, 131072, 4]);
    expect(tensor([I32_MAX], { dtype: 'int32', device: dev }).add(1).toArray()).toEqual([-2147483648]);
    expect(a.sub(b).toArray()).toEqual([I32_MAX - 1, I32_MAX, 0, 0, -10]);
    const av = a.toArray() as number[], bv = b.toArray() as number[];
    expect(a.mul(b).toArray()).toEqual(av.map((x, i) => Math.imul(x, bv[i])));
    expect(a.mul(b).toArray()).toEqual([I32_MAX, I32_MIN, -2147479015, 0, -21]);   // 46341^2 = 2^31 + 4633
    expect(neg(a).toArray()).toEqual([-I32_MAX, I32_MIN, -46341, -65536, 3]);
    expect(abs(a).toArray()).toEqual([I32_MAX, I32_MIN, 46341, 65536, 3]);
    if (dev === 'cuda') {
      const ca = a.cpu(), cb = b.cpu();
      expect([a.add(b), a.sub(b), a.mul(b), neg(a), abs(a)].map((t) => t.toArray()))
        .toEqual([ca.add(cb), ca.sub(cb), ca.mul(cb), neg(ca), abs(ca)].map((t) => t.toArray()));
    }
  });

  it('int64 add, sub, mul, neg, abs', () => {
    const av = [I64_MAX, I64_MIN, 2n ** 62n, 3037000500n, -(2n ** 32n) - 1n];
    const bv = [1n, 1n, 4n, 3037000500n, 2n ** 32n + 3n];
    const a = tensor(av, { device: dev }), b = tensor(bv, { device: dev });
    expect(a.dtype).toBe('int64');
    expect(int64s(a.add(b))).toEqual(av.map((x, i) => wrap64(x + bv[i])));
    expect(int64s(a.add(b)).slice(0, 2)).toEqual([I64_MIN, I64_MIN + 1n]);
    expect(int64s(a.sub(b))).toEqual(av.map((x, i) => wrap64(x - bv[i])));
    expect(int64s(a.sub(b))[1]).toBe(I64_MAX);
    expect(int64s(a.mul(b))).toEqual(av.map((x, i) => wrap64(x * bv[i])));
    // 2^62 * 4 = 2^64 -> 0; 3037000500^2 = 9223372037000250000 = 2^63 + 145474192 -> -2^63 + 145474192
    expect(int64s(a.mul(b)).slice(1, 4)).toEqual([I64_MIN, 0n, I64_MIN + 145474192n]);
    expect(int64s(neg(a))).toEqual([-I64_MAX, I64_MIN, -(2n ** 62n), -3037000500n, 2n ** 32n + 1n]);
    expect(int64s(abs(a))).toEqual([I64_MAX, I64_MIN, 2n ** 62n, 3037000500n, 2n ** 32n + 1n]);
    if (dev === 'cuda') {
      const ca = a.cpu(), cb = b.cpu();
      expect([a.add(b), a.sub(b), a.mul(b), neg(a), abs(a)].map(int64s))
        .toEqual([ca.add(cb), ca.sub(cb), ca.mul(cb), neg(ca), abs(ca)].map(int64s));
    }
  });

  it('integer sum and prod accumulate in int64 and wrap there', () => {
    // int32 inputs: the int64 accumulator holds the exact result
    expect(int64s(sum(tensor([I32_MAX, I32_MAX, 2], { dtype: 'int32', device: dev })))).toEqual([2n ** 32n]);
    expect(int64s(prod(tensor([65536, 65536, 65536], { dtype: 'int32', device: dev })))).toEqual([2n ** 48n]);
    // int64 inputs wrap
    expect(int64s(sum(tensor([I64_MAX, 1n], { device: dev })))).toEqual([I64_MIN]);
    expect(int64s(prod(tensor([2n ** 32n, 2n ** 32n, 5n], { device: dev })))).toEqual([0n]);
    expect(int64s(prod(tensor([3037000500n, 3037000500n], { device: dev })))).toEqual([I64_MIN + 145474192n]);
    // long enough that both devices split the reduction and merge partial sums / products
    const n = 100001, big = 2n ** 62n + 1n;
    const s = sum(tensor(Array.from({ length: n }, () => big), { device: dev }));
    expect(int64s(s)).toEqual([wrap64(BigInt(n) * big)]);
    const three = tensor(Array.from({ length: n }, () => 3n), { device: dev });
    let p = 1n;
    for (let i = 0; i < n; i++) p = wrap64(p * 3n);
    expect(int64s(prod(three))).toEqual([p]);
    if (dev === 'cuda') expect(int64s(prod(three))).toEqual(int64s(prod(three.cpu())));
  });
});
