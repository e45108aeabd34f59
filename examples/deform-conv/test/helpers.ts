/**
 * Random inputs, conversions between tensors and the reference's dense arrays, and typed-error
 * checks. Built on the published packages' API only: the tests also run in a project that installed
 * Kiln from its tarballs, where Kiln's own test helpers (the repository's @kiln/tensor/testing,
 * which is not published) do not exist.
 */
import { expect } from 'vitest';
import { type DType, type ErrorFacts, type Tensor, mulberry32, tensor, toTypedArray } from '@kiln/tensor';
import type { Dense } from './reference.js';

/** Uniform values in [lo, hi) of a shape. */
export function random(shape: readonly number[], seed: number, lo = -1, hi = 1): Dense {
  const next = mulberry32(seed);   // Kiln's seeded generator of uniform numbers in [0, 1)
  const n = shape.reduce((a, b) => a * b, 1);
  return { shape, data: Float64Array.from({ length: n }, () => lo + (hi - lo) * next()) };
}

export function toTensor(d: Dense, dtype: DType, device: string): Tensor {
  return tensor(d.data, { dtype, device }).reshape([...d.shape]);
}

export function dense(t: Tensor): Dense {
  return { shape: [...t.shape], data: Float64Array.from(toTypedArray(t) as Float64Array | Float32Array) };
}

/** The largest |a - b| / (atol + rtol |b|) over the elements (<= 1 is within tolerance). */
export function worstError(a: Float64Array | readonly number[], b: Float64Array | readonly number[], atol: number, rtol: number): number {
  if (a.length !== b.length) throw new Error(`lengths differ: ${a.length} and ${b.length}`);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / (atol + rtol * Math.abs(b[i])));
  return worst;
}

/**
 * Asserts that `f` throws a `cls` (one of Kiln's typed errors) whose facts equal those given (a
 * fact left out is not checked), and returns the error.
 */
export function expectError<E extends Error>(f: () => unknown, cls: abstract new (...a: never[]) => E, facts: ErrorFacts): E {
  let thrown: unknown = undefined;
  try {
    f();
  } catch (e) {
    thrown = e;
  }
  expect(thrown, `expected a ${cls.name} to be thrown`).toBeInstanceOf(cls);
  const error = thrown as E & ErrorFacts;
  for (const [key, want] of Object.entries(facts)) expect(error[key as keyof ErrorFacts], `${key} of "${error.message}"`).toBe(want);
  return error;
}
