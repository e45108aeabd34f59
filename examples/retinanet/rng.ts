/**
 * A seeded pseudo-random stream for laying out the synthetic scenes on the host (which shapes go
 * where). Each image gets its own stream from (seed, index), so image i of a data set is the same
 * whichever order or batch it is drawn in, and every model of a comparison sees the same images.
 * (The models' initial weights come from Kiln's own seeded Philox generator, `manualSeed`.)
 */

/** mulberry32's state increment (a Weyl sequence: every 32-bit state once per period) */
const STEP = 0x6d2b79f5;

/** mulberry32's output for a state: the state's bits mixed, as a number in [0, 1) */
function output(state: number): number {
  let t = Math.imul(state ^ (state >>> 15), state | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}

/** mulberry32: a small, fast 32-bit generator with a full 2^32 period; uniform in [0, 1). */
export class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** A stream for item `index` of the data set `seed` (the two mixed by a 32-bit hash). */
  static forItem(seed: number, index: number): Rng {
    let h = Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(index + 0x27d4eb2f, 0xc2b2ae35);
    h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
    h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
    return new Rng(h ^ (h >>> 16));
  }

  next(): number {
    this.state = (this.state + STEP) >>> 0;
    return output(this.state);
  }

  /**
   * Adds to every value uniform noise in [-halfWidth, halfWidth) and clamps the sums to [0, 1]: one
   * `next()` per value, in order, with the generator's state in a local (several times faster than
   * calling next() per value; the same draws).
   */
  addUniformNoise(values: Float32Array, halfWidth: number): void {
    let state = this.state;
    for (let i = 0; i < values.length; i++) {
      state = (state + STEP) >>> 0;
      values[i] = Math.min(1, Math.max(0, values[i] + halfWidth * (2 * output(state) - 1)));
    }
    this.state = state;
  }

  /** Uniform in [lo, hi). */
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }

  /** Uniform integer in [lo, hi] (both included). */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  /** Standard normal (Box-Muller). */
  normal(): number {
    const u = 1 - this.next(), v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
}
