/**
 * What a fuzz case may end in: a typed error raised by the TypeScript checks (a KilnError other
 * than InternalError, not one the native boundary had to catch), or a result that a reference
 * confirms. Anything else is a defect: a JS TypeError or RangeError (an unchecked input that broke
 * something), an InternalError, an error only the native boundary caught (a check missing in
 * TypeScript), or a result that disagrees with the reference.
 */
import { InternalError, KilnError, type Tensor } from '@kiln/tensor';
import { toNumbers } from '@kiln/tensor/testing';

export type Outcome<T> = { ok: true; value: T } | { ok: false; error: unknown };

/** Runs fn; a typed error is an outcome, any other throw is a defect (rethrown with context). */
export function attempt<T>(what: string, fn: () => T): Outcome<T> {
  try {
    return { ok: true, value: fn() };
  } catch (e) {
    if (!isTypedError(e)) throw new Error(`${what}: not a typed error: ${describeError(e)}`);
    return { ok: false, error: e };
  }
}

export function isTypedError(e: unknown): boolean {
  return e instanceof KilnError && !(e instanceof InternalError) && !/caught at the native boundary/.test(e.message);
}

export function describeError(e: unknown): string {
  return e instanceof Error ? `${e.constructor.name}: ${e.message}` : String(e);
}

/** Fails unless the outcome is a typed error (for inputs the reference says are invalid). */
export function expectRefused(what: string, o: Outcome<unknown>): void {
  if (o.ok) throw new Error(`${what}: accepted an input the reference refuses`);
}

/** Fails unless two flat value lists agree (NaN with NaN; |a - b| <= tol * max(1, |b|)). */
export function expectValues(what: string, actual: readonly number[], expected: readonly number[], tol = 0): void {
  if (actual.length !== expected.length) throw new Error(`${what}: ${actual.length} values, expected ${expected.length}`);
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i], b = expected[i];
    if (Number.isNaN(b) ? !Number.isNaN(a) : !(a === b || Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)))) {
      throw new Error(`${what}: element ${i} is ${a}, expected ${b}`);
    }
  }
}

/** A tensor's values, flat, as numbers (bool as 0/1). */
export const flat = (t: Tensor): number[] => toNumbers(t.toTypedArray());

/** Fails unless shapes agree. */
export function expectShape(what: string, actual: readonly number[], expected: readonly number[]): void {
  if (actual.length !== expected.length || actual.some((s, i) => s !== expected[i])) {
    throw new Error(`${what}: shape [${actual.join(', ')}], expected [${expected.join(', ')}]`);
  }
}
