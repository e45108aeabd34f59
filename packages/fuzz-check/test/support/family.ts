/** A fuzz family: inputs from a fast-check arbitrary, and the check each input must pass. */
import type fc from 'fast-check';

export interface Family<T> {
  /** What it fuzzes, for the test's title. */
  readonly title: string;
  /** The generated inputs. */
  readonly arbitrary: fc.Arbitrary<T>;
  /** Runs one case; throws on a defect (see outcome.ts), returns when the case ended well. */
  check(input: T): void;
}

/** Declares a family (keeps T inferred from the arbitrary). */
export const family = <T>(f: Family<T>): Family<T> => f;
