/**
 * Test helpers shared by every package's suite: the devices to run on, and comparisons against
 * float64 references. An op test is written once and run on each device present:
 *
 * ```ts
 * forEachDevice('add', (dev) => {
 *   it('broadcasts', () => { ... tensor(..., { device: dev }) ... });
 * });
 * ```
 *
 * CUDA is tested when `@kiln/cuda` registered a device (the root vitest setup imports it). Where no
 * GPU exists the CUDA blocks are skipped with the reason in their title; with KILN_REQUIRE_CUDA=1
 * (set on the GPU machine) a missing GPU fails instead.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect } from 'vitest';
import { backendFor, hasBackend, device as toDevice } from '../device.js';
import { type AutogradHook, autogradHook, setAutogradHook } from '../dispatch.js';
import { Tensor } from '../tensor.js';
import type { StorageArray } from '../dtype.js';
import { mulberry32 } from '../host-random.js';
import type { ErrorFacts } from '../errors.js';

import { expectAllocatedUnchanged, settledAllocated } from './settled-memory.js';
export { expectAllocatedUnchanged, settledAllocated };

/**
 * Before each test of the file, settles the allocator on every device present (see
 * settledAllocated): tensors that earlier tests left to the garbage collector are given back before
 * the test reads its first memory figure, not in the middle of its leak check. Call it once at the
 * top of a file whose tests compare memoryStats() figures.
 */
export function settleMemoryBeforeEach(): void {
  beforeEach(async () => {
    for (const d of devicesUnderTest()) if (d.available) await settledAllocated(d.name);
  });
}

export interface DeviceUnderTest {
  name: 'cpu' | 'cuda';
  available: boolean;
  reason: string;
}

function cudaStatus(): DeviceUnderTest {
  const g = globalThis as { __kilnCudaUnavailable?: string };
  if (hasBackend('cuda') && backendFor(toDevice('cuda')).deviceCount() > 0) return { name: 'cuda', available: true, reason: '' };
  return { name: 'cuda', available: false, reason: g.__kilnCudaUnavailable ?? '@kiln/cuda is not loaded' };
}

export function devicesUnderTest(): DeviceUnderTest[] {
  const cuda = cudaStatus();
  if (!cuda.available && process.env.KILN_REQUIRE_CUDA === '1') {
    throw new Error(`KILN_REQUIRE_CUDA=1 but CUDA is unavailable: ${cuda.reason}`);
  }
  return [{ name: 'cpu', available: true, reason: '' }, cuda];
}

let noticePrinted = false;

/** describe() once per device; unavailable devices appear as skipped blocks that say why. */
export function forEachDevice(title: string, body: (device: 'cpu' | 'cuda') => void): void {
  for (const d of devicesUnderTest()) {
    if (d.available) {
      describe(`${title} [${d.name}]`, () => body(d.name));
    } else {
      if (!noticePrinted) {
        noticePrinted = true;
        console.warn(`[kiln] CUDA tests skipped: ${d.reason}`);
      }
      describe.skip(`${title} [${d.name}] (skipped: ${d.reason})`, () => body(d.name));
    }
  }
}

/** An op family whose products run on a library on CUDA (cuBLASLt, cuDNN) or on Kiln's kernels. */
export type DenseFamily = 'matmul' | 'conv2d';

/** The counts of @kiln/cuda's denseCallCounts(). */
type DenseCounts = Record<'matmulCublasLt' | 'matmulKiln' | 'conv2dCudnn' | 'conv2dCudnnGraph' | 'conv2dKiln', number>;
interface DenseLibraries {
  status(lib: 'cublasLt' | 'cudnn'): { available: boolean; enabled: boolean; reason?: string };
  setEnabled(lib: 'cublasLt' | 'cudnn', on: boolean): void;
  /** cuDNN's graph API (true) or its legacy API (false) for the convolutions */
  setCudnnGraph(on: boolean): void;
  /** why the graph API last fell back to the legacy one, or null */
  graphFallbackReason(): string | null;
  counts(): DenseCounts;
}

/** One CUDA path of a family: the libraries left on (cuDNN's legacy API when `legacyCudnn`), and the counters that must grow when it runs. */
interface DensePath {
  name: string;
  enabled: readonly ('cublasLt' | 'cudnn')[];
  legacyCudnn?: true;
  counters: readonly (keyof DenseCounts)[];
}
const densePaths: Record<DenseFamily, DensePath[]> = {
  matmul: [
    { name: 'cuBLASLt', enabled: ['cublasLt'], counters: ['matmulCublasLt'] },
    { name: 'kiln', enabled: [], counters: ['matmulKiln'] },
  ],
  conv2d: [
    { name: 'cuDNN', enabled: ['cublasLt', 'cudnn'], counters: ['conv2dCudnnGraph'] },
    { name: 'cuDNN legacy API', enabled: ['cublasLt', 'cudnn'], legacyCudnn: true, counters: ['conv2dCudnn'] },
    { name: 'im2col + cuBLASLt', enabled: ['cublasLt'], counters: ['conv2dKiln', 'matmulCublasLt'] },
    { name: 'kiln', enabled: [], counters: ['conv2dKiln', 'matmulKiln'] },
  ],
};

/**
 * describe() per device, as {@link forEachDevice}, and on CUDA once per path of a dense family:
 * matmul through cuBLASLt, then through Kiln's kernel; conv2d through cuDNN (its graph API, then its legacy API), then im2col with
 * cuBLASLt's products, then Kiln's kernels alone. Each CUDA block switches the libraries
 * (@kiln/cuda's setLibraryEnabled) before its tests and back after, and checks when it ends that
 * its path ran (denseCallCounts grew). A block whose library is not installed is skipped with the
 * reason; with KILN_REQUIRE_CUDA_LIBRARIES=1 (set on the GPU machine) that is a failure instead.
 */
export function forEachDensePath(title: string, family: DenseFamily, body: (device: 'cpu' | 'cuda', path: string) => void): void {
  const libs = (globalThis as { __kilnDenseLibraries?: DenseLibraries }).__kilnDenseLibraries;
  forEachDevice(title, (dev) => {
    if (dev === 'cpu') {
      body(dev, 'cpu');
      return;
    }
    for (const path of densePaths[family]) {
      const missing = path.enabled.map((l) => libs?.status(l)).find((s) => !s?.available);
      if (missing !== undefined || !libs) {
        const reason = missing?.reason ?? 'the library switches are not installed (tools/vitest-setup.ts)';
        if (process.env.KILN_REQUIRE_CUDA_LIBRARIES === '1') throw new Error(`KILN_REQUIRE_CUDA_LIBRARIES=1 but ${path.name} is unavailable: ${reason}`);
        describe.skip(`path ${path.name} (skipped: ${reason})`, () => body(dev, path.name));
        continue;
      }
      describe(`path ${path.name}`, () => {
        let before: DenseCounts;
        beforeAll(() => {
          for (const l of ['cublasLt', 'cudnn'] as const) libs.setEnabled(l, path.enabled.includes(l));
          libs.setCudnnGraph(path.legacyCudnn !== true);
          before = libs.counts();
        });
        afterAll(() => {
          const after = libs.counts();
          for (const l of ['cublasLt', 'cudnn'] as const) libs.setEnabled(l, true);
          libs.setCudnnGraph(true);
          const why = libs.graphFallbackReason();
          for (const counter of path.counters) {
            expect(after[counter], `${title} [cuda, ${path.name}]: ${counter} ran${why ? ` (the graph API fell back: ${why})` : ''}`).toBeGreaterThan(before[counter]);
          }
        });
        body(dev, path.name);
      });
    }
  });
}

/** True when CUDA tests run in this process. */
export const cudaAvailable = (): boolean => cudaStatus().available;

export function toNumbers(a: StorageArray | readonly number[]): number[] {
  return Array.from(a as ArrayLike<number | bigint>, Number);
}

/**
 * Asserts |actual - expected| <= atol + rtol * |expected| elementwise (NaN must match NaN, infinities
 * must match), reporting the worst element's index and values.
 */
export function expectClose(actual: Tensor | readonly number[] | StorageArray, expected: Tensor | readonly number[] | StorageArray, opts: { rtol?: number; atol?: number; what?: string } = {}): void {
  const rtol = opts.rtol ?? 1e-5, atol = opts.atol ?? 1e-6;
  const a = toNumbers(actual instanceof Tensor ? actual.toTypedArray() : actual);
  const e = toNumbers(expected instanceof Tensor ? expected.toTypedArray() : expected);
  if (actual instanceof Tensor && expected instanceof Tensor) expect(actual.shape, `${opts.what ?? ''} shape`).toEqual(expected.shape);
  expect(a.length, `${opts.what ?? ''} element count`).toBe(e.length);
  let worst = -1, worstExcess = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i], y = e[i];
    if (Number.isNaN(y) || Number.isNaN(x)) {
      if (Number.isNaN(x) !== Number.isNaN(y)) { worst = i; worstExcess = Infinity; break; }
      continue;
    }
    if (!Number.isFinite(y) || !Number.isFinite(x)) {
      if (x !== y) { worst = i; worstExcess = Infinity; break; }
      continue;
    }
    const excess = Math.abs(x - y) - (atol + rtol * Math.abs(y));
    if (excess > worstExcess) { worstExcess = excess; worst = i; }
  }
  if (worst >= 0) {
    expect.fail(`${opts.what ?? 'values'} differ at flat index ${worst}: got ${a[worst]}, expected ${e[worst]} (rtol ${rtol}, atol ${atol})`);
  }
}

/** A deterministic pseudo-random generator for test data (mulberry32), independent of Kiln's RNG. */
export const testRng = (seed: number): (() => number) => mulberry32(seed);

/** n uniform values in [lo, hi) from a seeded test generator. */
export function randomValues(seed: number, n: number, lo = -1, hi = 1): number[] {
  const r = testRng(seed);
  return Array.from({ length: n }, () => lo + (hi - lo) * r());
}

/**
 * What {@link expectError} checks of an error: each of its facts (the fields of a KilnError: `op`,
 * `argument`, `expected`, `got`) or its `message`, as a string it must equal, a RegExp it must
 * match, or null for a fact the error must not have.
 */
export type ExpectedFacts = { readonly [K in keyof ErrorFacts | 'message']?: string | RegExp | null };

/**
 * Asserts that `f` throws an instance of `cls` with the given facts, and returns the error:
 *
 * ```ts
 * expectError(() => a.mul(b), ShapeError, { op: 'mul', argument: 'other', got: '[3, 2]' });
 * ```
 *
 * The second form, words the message must contain, is for the tests where the wording itself is
 * what matters (a hint the user acts on, PyTorch's wording that users search for).
 */
export function expectError<E extends Error>(f: () => unknown, cls: abstract new (...a: never[]) => E, facts: ExpectedFacts): E;
export function expectError<E extends Error>(f: () => unknown, cls: abstract new (...a: never[]) => E, ...words: string[]): E;
export function expectError<E extends Error>(f: () => unknown, cls: abstract new (...a: never[]) => E, ...rest: (ExpectedFacts | string)[]): E {
  let err: unknown = undefined, threw = false;
  try {
    f();
  } catch (e) {
    [err, threw] = [e, true];
  }
  const words = rest.filter((r): r is string => typeof r === 'string');
  expect(threw, `expected a ${cls.name} to be thrown${words.length ? ` (${words.join(' ')})` : ''}, but nothing was`).toBe(true);
  expect(err, err instanceof Error ? err.message : String(err)).toBeInstanceOf(cls);
  const e = err as E & Record<string, unknown>;
  for (const w of words) expect(e.message).toContain(w);
  const facts = rest.find((r): r is ExpectedFacts => typeof r === 'object');
  for (const [key, want] of Object.entries(facts ?? {})) {
    const got = e[key];
    const what = `${key} of "${e.message}"`;
    if (want === null) expect(got, what).toBeUndefined();
    else if (want instanceof RegExp) {
      expect(got, what).toBeTypeOf('string');
      expect(got, what).toMatch(want);
    }
    else expect(got, what).toBe(want);
  }
  return e;
}

/** One op as a stand-in autograd hook saw it. */
export interface RecordedOp {
  op: string;
  inputs: unknown[];
  outputs: Tensor[];
  attrs: Record<string, unknown>;
}

/** A stand-in autograd hook that appends every op it is shown to `recorded`. */
function recordingHook(recorded: RecordedOp[]): AutogradHook {
  return {
    isGradEnabled: () => true,
    record: (op, inputs, outputs, attrs) => {
      recorded.push({ op: op.name, inputs: [...inputs], outputs: [...outputs], attrs: { ...attrs } });
    },
    recordInplace: () => {},
  };
}

/**
 * For the tests of the enclosing describe block: installs before each test a stand-in autograd
 * hook that records every op (the real hook is restored after it), and returns the list it fills,
 * emptied before each test (empty it yourself with `recorded.length = 0` within a test).
 */
export function recordOpsInEachTest(): RecordedOp[] {
  const recorded: RecordedOp[] = [];
  let previous: AutogradHook | null = null;
  beforeEach(() => {
    previous = autogradHook();
    recorded.length = 0;
    setAutogradHook(recordingHook(recorded));
  });
  afterEach(() => setAutogradHook(previous));
  return recorded;
}

/**
 * The same for one stretch of a test: runs `f` with the recording hook installed (the previous
 * hook is restored after it, also when `f` throws) and returns the ops recorded meanwhile.
 */
export function recordOps(f: () => unknown): RecordedOp[] {
  const recorded: RecordedOp[] = [];
  const previous = autogradHook();
  setAutogradHook(recordingHook(recorded));
  try {
    f();
  } finally {
    setAutogradHook(previous);
  }
  return recorded;
}
