// The memory model and dispatch rules: refcounted storage shared by views, dispose / tidy / keep /
// `using` (checked against the device allocator's figures), use after dispose, version counters,
// validation before allocation, and tensors on different devices. Every test releases what it
// creates, so the allocator's `allocated` figure can be compared exactly (a leaked tensor's GC
// finalizer could otherwise change it in the middle of a test).
import { expect, it } from 'vitest';
import {
  DeviceError, DisposedError, ShapeError, ValueError, arange, cat, device, keep, matmul, memoryStats, tensor, tidy, zeros,
} from '@kiln/tensor';
import { cudaAvailable, expectError, forEachDevice, settleMemoryBeforeEach } from '@kiln/tensor/testing';

settleMemoryBeforeEach();

forEachDevice('storage refcounts and dispose', (dev) => {
  const allocated = () => memoryStats(dev).allocated;

  it('views share the storage and count it; the last holder frees it', () => {
    const start = allocated();
    const base = zeros([256], { device: dev });
    expect(allocated()).toBeGreaterThanOrEqual(start + 1024);
    const v1 = base.view(16, 16), v2 = v1.select(0, 3);
    expect([base.storage.refs, v2.storage]).toEqual([3, base.storage]);
    base.dispose();
    v1.dispose();
    expect([base.isDisposed, v2.isDisposed, v2.storage.freed]).toEqual([true, false, false]);
    expect(v2.toArray()).toEqual(new Array(16).fill(0));            // still readable through the view
    v2.dispose();
    expect([v2.storage.refs, v2.storage.freed, allocated()]).toEqual([0, true, start]);
  });

  it('a second dispose() does nothing: it does not release a hold twice', () => {
    const start = allocated();
    const base = zeros([64], { device: dev });
    const view = base.slice(0, 0, 8);
    base.dispose();
    base.dispose();                                                   // harmless
    expect([view.storage.refs, view.storage.freed]).toEqual([1, false]);
    expect(view.toArray()).toEqual(new Array(8).fill(0));
    view.dispose();
    view.dispose();
    expect(allocated()).toBe(start);
  });

  it('using a disposed tensor raises a DisposedError naming the op', () => {
    const t = zeros([2, 2], { device: dev }), u = zeros([2, 2], { device: dev });
    t.dispose();
    const uses: [string, () => unknown][] = [
      ['add', () => t.add(u)], ['add', () => u.add(t)], ['mul', () => t.mul(2)], ['toArray', () => t.toArray()], ['item', () => t.item()],
      ['toTypedArray', () => t.toTypedArray()], ['clone', () => t.clone()], ['to', () => t.to('float64')], ['fill_', () => t.fill_(1)],
      ['copy_', () => u.copy_(t)], ['sum', () => t.sum()], ['matmul', () => t.matmul(u)],
    ];
    for (const [op, f] of uses) expectError(f, DisposedError, { op, message: `${op}: the tensor was disposed` });
    u.dispose();
  });

  it('a view keeps a disposed base readable, but the disposed tensor itself is unusable', () => {
    const base = arange(4, undefined, 1, { device: dev });
    const v = base.view(2, 2);
    base.dispose();
    expectError(() => base.toArray(), DisposedError, { op: 'toArray' });
    expect(v.toArray()).toEqual([[0, 1], [2, 3]]);
    v.dispose();
  });
});

forEachDevice('tidy, keep and using', (dev) => {
  const allocated = () => memoryStats(dev).allocated;

  it('tidy disposes intermediates and keeps what it returns (a tensor, an array, an object)', () => {
    const start = allocated();
    const x = arange(1000, undefined, 1, { dtype: 'float32', device: dev });
    const afterX = allocated();
    const y = tidy(() => x.mul(2).add(1).neg());                       // two temporaries
    expect(allocated()).toBe(afterX + (afterX - start));               // only y remains (same size as x)
    expect((y.toArray() as number[]).slice(0, 3)).toEqual([-1, -3, -5]);
    const [a, { b }] = tidy(() => {
      const tmp = x.mul(3);                                              // not returned: disposed
      return [tmp.add(1), { b: tmp.sub(1) }] as const;
    });
    expect((a.toArray() as number[])[2]).toBe(7);
    expect([a.isDisposed, b.isDisposed]).toEqual([false, false]);
    for (const t of [x, y, a, b]) t.dispose();
    expect(allocated()).toBe(start);
  });

  it('nested tidy hands returned tensors to the enclosing scope; keep() lets one outlive both', () => {
    const start = allocated();
    let inner = null as unknown as ReturnType<typeof zeros>, kept = inner;
    const outer = tidy(() => {
      inner = tidy(() => zeros([10], { device: dev }).add(1));
      kept = keep(inner.mul(5));
      return inner.sum();
    });
    expect([inner.isDisposed, kept.isDisposed, outer.isDisposed, outer.item()]).toEqual([true, false, false, 10]);
    outer.dispose();
    kept.dispose();
    expect(allocated()).toBe(start);
  });

  it('tidy releases everything when its function throws', () => {
    const start = allocated();
    let made = null as unknown as ReturnType<typeof zeros>;
    expectError(() => tidy(() => {
      made = zeros([100], { device: dev }).add(1);
      made.add(zeros([3], { device: dev }));                           // ShapeError
    }), ShapeError, { op: 'add', expected: 'shapes that broadcast together', got: '[100] and [3]' });
    expect([made.isDisposed, allocated()]).toEqual([true, start]);
  });

  it('tidy keeps tensors returned in a Map or a Set (what backbones return), at any depth', () => {
    const start = allocated();
    const { features, extra } = tidy(() => {
      const tmp = zeros([10], { device: dev }).add(1);                 // not returned: disposed
      return { features: new Map([['0', tmp.mul(2)], ['1', tmp.mul(3)]]), extra: new Set([tmp.sum()]) };
    });
    const kept = [...features.values(), ...extra];
    expect(kept.map((t) => t.isDisposed)).toEqual([false, false, false]);
    expect(features.get('1')!.toArray()).toEqual(Array(10).fill(3));
    for (const t of kept) t.dispose();
    expect(allocated()).toBe(start);
  });

  it('tidy refuses an async function, disposing what it made before its first await', async () => {
    const start = allocated();
    let made = null as unknown as ReturnType<typeof zeros>;
    const pending: Promise<unknown>[] = [];
    expectError(() => tidy(() => {
      made = zeros([100], { device: dev }).add(1);
      const p = (async () => { await Promise.resolve(); return made; })();
      pending.push(p);
      return p;
    }), ValueError, { op: 'tidy', argument: 'fn', got: 'a function that returned a Promise' });
    expect([made.isDisposed, allocated()]).toEqual([true, start]);
    await Promise.all(pending);
  });

  it('tidy refuses something that is not a function', () => {
    expectError(() => tidy(zeros([1], { device: dev }) as never), ValueError, { op: 'tidy', argument: 'fn', expected: 'a function to run', got: 'a Tensor' });
  });

  it('`using` disposes at the end of the block', () => {
    const start = allocated();
    let seen = null as unknown as ReturnType<typeof zeros>;
    {
      using t = zeros([500], { device: dev });
      seen = t;
      expect(allocated()).toBeGreaterThan(start);
    }
    expect([seen.isDisposed, allocated()]).toEqual([true, start]);
  });
});

forEachDevice('dispatch rules', (dev) => {
  it('bad calls are rejected before anything is allocated', () => {
    const a = zeros([2, 3], { device: dev }), b = zeros([4], { device: dev });
    const before = memoryStats(dev).allocCount;
    expectError(() => a.add(b), ShapeError, { op: 'add', expected: 'shapes that broadcast together', got: '[2, 3] and [4]' });
    expectError(() => a.matmul(a), ShapeError, { op: 'matmul', argument: 'other', got: '2 rows' });
    expectError(() => a.view(5), ShapeError, { op: 'view', argument: 'shape', expected: "a shape with 6 elements (the input's)", got: '[5]' });
    expectError(() => zeros([-1], { device: dev }), ValueError, { op: 'zeros', argument: 'shape', expected: 'a shape of non-negative integers', got: '[-1]' });
    expectError(() => cat([a, b], 0), ShapeError, { op: 'cat', argument: 'tensors[1]', expected: 'shape [*, 3] (as tensors[0]; sizes may differ only in dimension 0)', got: '[4]' });
    expect(memoryStats(dev).allocCount).toBe(before);
    a.dispose();
    b.dispose();
  });

  it('in-place ops bump the version shared by views; out-of-place ops do not', () => {
    tidy(() => {
      const x = zeros([2, 2], { device: dev });
      const v = x.t();
      const v0 = x.version;
      x.add(1);
      x.t().contiguous();
      expect(x.version).toBe(v0);
      const ops: [string, () => unknown][] = [
        ['add_', () => x.add_(1)], ['mul_', () => v.mul_(2)], ['fill_', () => x.select(0, 1).fill_(3)], ['zero_', () => v.zero_()],
        ['copy_', () => x.copy_(tensor([1, 2], { dtype: 'float32', device: dev }))], ['clamp_', () => v.clamp_(0, 1)],
      ];
      ops.forEach(([name, f], k) => {
        f();
        expect([x.version, v.version], name).toEqual([v0 + k + 1, v0 + k + 1]);
      });
      expect(x.clone().version).toBe(0);                                  // a new storage starts at 0
    });
  });

  if (dev === 'cuda') {
    it('ops on tensors of different devices raise a DeviceError naming the op and the argument', () => {
      tidy(() => {
        const g = zeros([2, 2], { device: 'cuda' }), c = zeros([2, 2]);
        expectError(() => g.add(c), DeviceError, { op: 'add', argument: 'other', expected: "a tensor on cuda:0 (the device of 'input')", got: 'a tensor on cpu' });
        expectError(() => c.mul(g), DeviceError, { op: 'mul', argument: 'other' });
        expectError(() => matmul(g, c), DeviceError, { op: 'matmul', argument: 'other' });
        expectError(() => cat([c, g], 0), DeviceError, { op: 'cat', argument: 'tensors[1]' });
        expectError(() => g.where(c.gt(0), c), DeviceError, { op: 'where' });
      });
    });
  }
});

it('device names are parsed and interned; a bad name is a DeviceError', () => {
  expect(device('cpu')).toBe(device('cpu'));
  expect(String(device('cuda'))).toBe('cuda:0');
  expect(device('cuda')).toBe(device('cuda:0'));
  expectError(() => device('gpu'), DeviceError, { op: 'device', argument: 'device', expected: "'cpu', 'cuda' or 'cuda:N'", got: '"gpu"' });
  expectError(() => device('cpu:1'), DeviceError, { op: 'device', argument: 'device', expected: "'cpu' (one CPU device)", got: 'cpu:1' });
});

it.runIf(!cudaAvailable())('without a CUDA backend, a cuda tensor is a DeviceError saying to import @kiln/cuda', () => {
  expectError(() => zeros([2], { device: 'cuda' }), DeviceError, { op: 'device', argument: 'device' });
  expectError(() => memoryStats('cuda'), DeviceError, { op: 'memoryStats', argument: 'device' });
});
