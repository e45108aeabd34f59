// The profiler on every device: kernels by name with host and device times and bytes, nested
// ranges and their self/total sums, the table, the Chrome trace, misuse errors, no leaks; on CUDA
// the device times come from events on the stream and sit inside the profile's window, in order.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  type Tensor, Profiler, ValueError, isProfiling, matmul, memoryStats, profile, randn, recordFunction, synchronize, tensor, zeros, ShapeError,
} from '@kiln/tensor';
import { expectError, forEachDevice, settleMemoryBeforeEach } from '@kiln/tensor/testing';

settleMemoryBeforeEach();

const row = (p: Profiler, name: string, kind: 'kernel' | 'range' = 'kernel') => p.keyAverages().find((r) => r.name === name && r.kind === kind);

forEachDevice('profiler', (dev) => {
  const make = (n: number, seed = 1): Tensor => randn([n], { device: dev, seed });

  it('records each kernel launch by name: calls, host time, device time, bytes of its outputs', () => {
    const a = make(1000), b = make(1000, 2);
    synchronize(dev);
    const prof = profile(() => {
      a.add(b).dispose();
      a.add(b).dispose();
      a.mul(b).dispose();
    });
    const add = row(prof, 'add')!, mul = row(prof, 'mul')!;
    expect(add.calls).toBe(2);
    expect(mul.calls).toBe(1);
    expect(add.bytes).toBe(2 * 4000);   // two float32 outputs of 1000 elements
    expect(mul.bytes).toBe(4000);
    for (const r of [add, mul]) {
      expect(r.hostTotal).toBeGreaterThan(0);
      expect(r.hostSelf).toBe(r.hostTotal);
      expect(r.deviceTotal).toBeGreaterThan(0);
      expect(r.deviceSelf).toBe(r.deviceTotal);
    }
    const { kernels } = prof.events();
    expect(kernels.map((k) => k.name)).toEqual(['add', 'add', 'mul']);
    expect(kernels.every((k) => String(k.device) === (dev === 'cpu' ? 'cpu' : 'cuda:0'))).toBe(true);
    expect(kernels.every((k) => k.timed === (dev === 'cuda'))).toBe(true);
    for (const t of [a, b]) t.dispose();
  });

  it('nests ranges: totals include children, self excludes them, device time sums the kernels inside', () => {
    const a = make(4096), b = make(4096, 2);
    const prof = profile(() => {
      const out = recordFunction('outer', () => {
        const inner = recordFunction('inner', () => a.add(b));
        const m = a.mul(b);
        inner.dispose();
        return m;
      });
      expect(out.shape).toEqual([4096]);   // recordFunction returns fn's value
      out.dispose();
    });
    const { ranges, kernels } = prof.events();
    expect(ranges.map((r) => [r.name, r.parent])).toEqual([['outer', -1], ['inner', 0]]);
    expect(kernels.map((k) => [k.name, k.parent])).toEqual([['add', 1], ['mul', 0]]);
    const outer = row(prof, 'outer', 'range')!, inner = row(prof, 'inner', 'range')!;
    const dev = (k: (typeof kernels)[number]) => k.deviceEnd - k.deviceStart;
    const host = (k: (typeof kernels)[number]) => k.end - k.start;
    expect(inner.deviceTotal).toBeCloseTo(dev(kernels[0]), 9);
    expect(outer.deviceSelf).toBeCloseTo(dev(kernels[1]), 9);
    expect(outer.deviceTotal).toBeCloseTo(dev(kernels[0]) + dev(kernels[1]), 9);
    expect(outer.hostSelf).toBeCloseTo(outer.hostTotal - inner.hostTotal - host(kernels[1]), 9);
    expect(inner.hostSelf).toBeCloseTo(inner.hostTotal - host(kernels[0]), 9);
    expect(outer.bytes).toBe(2 * 4 * 4096);
    expect(inner.bytes).toBe(4 * 4096);
    expect(outer.selfBytes).toBe(0);   // mul's output is mul's bytes
    for (const t of [a, b]) t.dispose();
  });

  it('an exception ends its range and propagates; a launch that throws records nothing', () => {
    const a = make(8);
    const prof = profile(() => {
      expect(() => recordFunction('failing', () => {
        a.add(a).dispose();
        throw new RangeError('inside');
      })).toThrow('inside');
      expectError(() => a.matmul(a.reshape([2, 4])), ShapeError, { op: 'matmul', argument: 'other', got: '2 rows' });   // rejected before any launch
      recordFunction('after', () => a.neg().dispose());
    });
    const { ranges, kernels } = prof.events();
    expect(ranges.map((r) => [r.name, r.parent])).toEqual([['failing', -1], ['after', -1]]);
    expect(Number.isFinite(ranges[0].end)).toBe(true);
    expect(kernels.map((k) => k.name)).toEqual(['add', 'neg']);
    a.dispose();
  });

  it('prints a table sorted by device time (or any column), with totals; rowLimit cuts it', () => {
    const x = make(256 * 256).reshape([256, 256]);
    const prof = profile(() => {
      for (let i = 0; i < 3; i++) x.add(1).dispose();
      matmul(x, x).dispose();
    });
    const text = prof.table();
    const lines = text.split('\n');
    expect(lines[1]).toMatch(/^Name\s+Self host %\s+Self host\s+Host total %/);
    expect(text).toMatch(/Self host time total: /);
    expect(text).toMatch(/Self device time total: /);
    const names = lines.slice(3).map((l) => l.split(/\s+/)[0]).filter((n) => n === 'add' || n === 'bmm');
    const rows = prof.keyAverages();
    const byDevice = [...rows].sort((p, q) => q.deviceTotal - p.deviceTotal).map((r) => r.name);
    expect(names).toEqual(byDevice.filter((n) => n === 'add' || n === 'bmm'));
    const byCalls = prof.table({ sortBy: 'calls', rowLimit: 1 }).split('\n');
    expect(byCalls[3].split(/\s+/)[0]).toBe('add');
    expect(byCalls[3].trim().endsWith(' 3')).toBe(true);
    expect(byCalls[4]).toMatch(/^-+/);   // one row, then the rule
    x.dispose();
  });

  it('records input shapes on request and groups kernels by them (torch\'s record_shapes, group_by_input_shape)', () => {
    const a = make(6).reshape([2, 3]), b = make(3, 2), c = make(12, 3).reshape([4, 3]);
    const work = () => {
      a.add(b).dispose();
      a.add(b).dispose();
      c.add(b).dispose();
      c.neg().dispose();
    };
    const prof = profile({ recordShapes: true }, work);
    // the shapes the kernel receives: a broadcast operand arrives expanded to the result's shape
    expect(prof.events().kernels.map((k) => k.inputShapes)).toEqual([[[2, 3], [2, 3]], [[2, 3], [2, 3]], [[4, 3], [4, 3]], [[4, 3]]]);
    const rows = prof.keyAverages({ groupByInputShape: true }).filter((r) => r.kind === 'kernel');
    expect(rows.map((r) => [r.name, r.inputShapes, r.calls])).toEqual([['add', '[[2, 3], [2, 3]]', 2], ['add', '[[4, 3], [4, 3]]', 1], ['neg', '[[4, 3]]', 1]]);
    expect(prof.keyAverages().filter((r) => r.name === 'add').map((r) => [r.calls, r.inputShapes])).toEqual([[3, undefined]]);
    const lines = prof.table({ groupByInputShape: true, sortBy: 'calls' }).split('\n');
    expect(lines[1]).toMatch(/# of Calls\s+Input Shapes$/);
    expect(lines[3]).toMatch(/^add\s.*\s2\s+\[\[2, 3\], \[2, 3\]\]$/);
    const trace = prof.chromeTrace().traceEvents.filter((e) => e.name === 'neg' && e.ph === 'X' && e.pid === 0);
    expect(trace[0].args?.['Input Shapes']).toBe('[[4, 3]]');
    // without recordShapes there are no shapes to group by: a typed error, not one silent group
    const plain = profile(work);
    expect(plain.events().kernels.every((k) => k.inputShapes === undefined)).toBe(true);
    expectError(() => plain.table({ groupByInputShape: true }), ValueError, { op: 'Profiler.table', argument: 'groupByInputShape', got: 'a profile recorded without input shapes' });
    expectError(() => plain.keyAverages({ groupByInputShape: true }), ValueError, { op: 'Profiler.keyAverages', argument: 'groupByInputShape' });
    expect(() => new Profiler({ recordShape: true } as never)).toThrow(/recordShape/);
    for (const t of [a, b, c]) t.dispose();
  });

  it('writes Chrome trace JSON: ranges and launches on the host thread, kernels on the device stream', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kiln-trace-'));
    try {
      const a = make(1 << 16);
      const prof = profile(() => recordFunction('step', () => a.exp().dispose()));
      const path = join(dir, 'trace.json');
      prof.exportChromeTrace(path);
      const trace = JSON.parse(readFileSync(path, 'utf8')) as { traceEvents: { name: string; ph: string; pid: number; ts?: number; dur?: number; cat?: string }[] };
      const complete = trace.traceEvents.filter((e) => e.ph === 'X');
      const step = complete.find((e) => e.name === 'step')!, launch = complete.find((e) => e.name === 'exp' && e.pid === 0)!;
      expect(step.pid).toBe(0);
      expect(launch.ts!).toBeGreaterThanOrEqual(step.ts!);
      expect(launch.ts! + launch.dur!).toBeLessThanOrEqual(step.ts! + step.dur! + 1e-6);
      const onDevice = complete.filter((e) => e.pid !== 0);
      const flows = trace.traceEvents.filter((e) => e.ph === 's' || e.ph === 'f');
      if (dev === 'cuda') {
        expect(onDevice.map((e) => e.name)).toEqual(['exp']);
        expect(flows).toHaveLength(2);
        expect(trace.traceEvents.some((e) => e.ph === 'M' && e.pid === onDevice[0].pid && e.name === 'process_name')).toBe(true);
      } else {
        expect(onDevice).toHaveLength(0);   // the CPU's kernels run inside their launch
        expect(launch.cat).toBe('kernel');
        expect(flows).toHaveLength(0);
      }
      a.dispose();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('keeps no tensor alive: memory is the same before and after a profile', () => {
    const a = make(1000);
    synchronize(dev);
    const before = memoryStats(dev).allocated;
    const prof = profile(() => {
      for (let i = 0; i < 10; i++) a.sigmoid().dispose();
    });
    synchronize(dev);
    expect(memoryStats(dev).allocated).toBe(before);
    expect(row(prof, 'sigmoid')!.calls).toBe(10);
    a.dispose();
  });

  if (dev === 'cuda') {
    it('CUDA: device times sit inside the profile, in launch order, and grow with the work', () => {
      const small = zeros([4], { device: dev });
      // (big enough that a product clearly outlasts a small launch on the fastest GPU: 1024² took
      // 0.12 ms on an H100, under the first add's device time, which includes waiting for the host)
      const big = randn([2048, 2048], { device: dev, seed: 3 });
      const prof = new Profiler().start();
      small.add(1).dispose();
      for (let i = 0; i < 3; i++) matmul(big, big).dispose();
      small.add(1).dispose();
      prof.stop();
      const { kernels } = prof.events();
      const start = Math.min(...kernels.map((k) => k.start));
      for (const [i, k] of kernels.entries()) {
        expect(k.deviceEnd).toBeGreaterThanOrEqual(k.deviceStart);
        expect(k.deviceStart).toBeGreaterThan(start - 1);            // mapped onto the host clock (ms)
        if (i > 0) expect(k.deviceStart).toBeGreaterThanOrEqual(kernels[i - 1].deviceEnd - 1e-3);   // one stream
      }
      expect(row(prof, 'bmm')!.deviceTotal / 3).toBeGreaterThan(row(prof, 'add')!.deviceTotal / 2);
      // reading back from the device waits for it: a range of its own
      const readBack = profile(() => { matmul(big, big).sum().item(); });
      expect(row(readBack, 'copy_to_host', 'range')!.calls).toBe(1);
      small.dispose();
      big.dispose();
    });

    it('CUDA: deviceTime false records host times only (0 device time)', () => {
      const a = make(100);
      const prof = profile({ deviceTime: false }, () => a.exp().dispose());
      expect(row(prof, 'exp')!.deviceTotal).toBe(0);
      expect(prof.events().kernels[0].timed).toBe(false);
      a.dispose();
    });
  }
});

describe('profiler API', () => {
  it('outside a profile recordFunction only calls fn', () => {
    expect(isProfiling()).toBe(false);
    expect(recordFunction('x', () => 42)).toBe(42);
  });

  it('rejects misuse with typed errors and stops a profile whose function throws or is async', () => {
    const p = new Profiler();
    expectError(() => p.stop(), ValueError, { op: 'Profiler.stop', expected: 'a running profiler', got: 'one that was not started' });
    expectError(() => p.table(), ValueError, { op: 'Profiler.table', expected: 'a stopped profile', got: 'a profiler never started' });
    p.start();
    expect(isProfiling()).toBe(true);
    expectError(() => p.keyAverages(), ValueError, { op: 'Profiler.keyAverages', expected: 'a stopped profile', got: 'one still running (call stop() first)' });
    expectError(() => new Profiler().start(), ValueError, { op: 'Profiler.start', expected: 'no other profile running (profiles do not nest)', got: 'a profile already running' });
    expectError(() => p.start(), ValueError, { op: 'Profiler.start', expected: 'a profiler that is not running', got: 'one already started' });
    p.stop();
    expect(isProfiling()).toBe(false);
    expect(() => profile(() => { throw new RangeError('boom'); })).toThrow('boom');
    expect(isProfiling()).toBe(false);
    expectError(() => profile(() => Promise.resolve(1)), ValueError, { op: 'profile', argument: 'fn', got: 'a function returning a Promise' });
    expect(isProfiling()).toBe(false);
    expectError(() => profile({}, 3 as unknown as () => void), ValueError, { op: 'profile', argument: 'fn', expected: 'a function to profile', got: '3' });
  });

  it('copies on the CPU are not ranges', () => {
    const prof = profile(() => { tensor([1, 2, 3]).toArray(); });
    expect(prof.keyAverages().some((r) => r.name === 'copy_to_host')).toBe(false);
  });
});
