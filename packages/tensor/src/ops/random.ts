/**
 * Seeded random tensors: rand, randn, randint, randLike, randnLike, and the Generator that holds
 * the random state.
 *
 * The numbers come from Philox4x32-10, a counter-based generator (native/include/kiln/math/
 * philox.h): element i of a random op is a function of (seed, offset, i) only, computed the same
 * way by the CPU and the CUDA kernels, so a seed gives the same tensor on either device. A
 * Generator's state is its seed and an offset that every random op advances by one; the module
 * keeps a default generator that `manualSeed(seed)` resets, as torch.manual_seed does.
 *
 * ```ts
 * manualSeed(0);
 * const a = rand([2, 3]);                                 // from the default generator
 * const g = new Generator(42);
 * const b = randn([4], { generator: g, device: 'cuda' }); // the same values as on the CPU
 * const c = randint(0, 10, [5], { seed: 7 });             // a one-off seed: the same every time
 * ```
 */
import { type DeviceLike, device as toDevice } from '../device.js';
import { type DType, checkDType, defaultFloat, dtypeInfo } from '../dtype.js';
import { checkBoolean, checkOptionKeys } from '../check.js';
import { DTypeError, ValueError } from '../errors.js';
import { empty, launchKernel } from '../dispatch.js';
import { checkShape } from '../shape.js';
import type { Tensor } from '../tensor.js';

const UINT64 = 1n << 64n;
/** PyTorch's default CPU seed. */
const DEFAULT_SEED = 67280421310721n;

/** A seed as an unsigned 64-bit integer; negative seeds wrap modulo 2^64, as in PyTorch. */
function toSeed(op: string, seed: number | bigint): bigint {
  if (typeof seed === 'number' && !Number.isSafeInteger(seed)) {
    throw new ValueError(op, 'seed', 'an integer seed (a safe integer number, or a bigint)', String(seed));
  }
  const s = BigInt(seed);
  if (s < -(1n << 63n) || s >= UINT64) throw new ValueError(op, 'seed', 'a seed in [-2^63, 2^64)', s.toString());
  return ((s % UINT64) + UINT64) % UINT64;
}

/** The state a random op draws from: a seed and the op's counter offset. */
export interface GeneratorState {
  /** The 64-bit seed (unsigned). */
  seed: bigint;
  /** How many random ops drew from the seed before (the next op's Philox counter base). */
  offset: number;
}

/**
 * The random state: a 64-bit seed and an offset that each random op advances by one (the op's
 * Philox counter base). Two generators with the same seed and offset give the same numbers.
 */
export class Generator {
  private _seed: bigint;
  private _offset = 0;

  constructor(seed: number | bigint = DEFAULT_SEED) {
    this._seed = toSeed('Generator', seed);
  }

  /** Sets the seed and restarts the stream (offset 0); returns this. */
  manualSeed(seed: number | bigint): this {
    this._seed = toSeed('manualSeed', seed);
    this._offset = 0;
    return this;
  }

  /** The seed (as an unsigned 64-bit bigint); PyTorch's initial_seed(). */
  initialSeed(): bigint {
    return this._seed;
  }

  /** The next op's offset. */
  get offset(): number {
    return this._offset;
  }

  /** A copy of the state, to restore with setState (replays the same numbers). */
  getState(): GeneratorState {
    return { seed: this._seed, offset: this._offset };
  }

  /** Restores a state from getState (the next ops replay the same numbers); returns this. */
  setState(state: GeneratorState): this {
    if (!Number.isSafeInteger(state.offset) || state.offset < 0) throw new ValueError('setState', 'offset', 'a non-negative integer', String(state.offset));
    this._seed = toSeed('setState', state.seed);
    this._offset = state.offset;
    return this;
  }

  /** @internal the state for one random op, advancing the offset */
  draw(): GeneratorState {
    const s = { seed: this._seed, offset: this._offset };
    this._offset += 1;
    return s;
  }
}

/** The generator random ops use unless given one (or a seed). */
export const defaultGenerator = new Generator();

/** Seeds the default generator (torch.manual_seed); returns it. */
export function manualSeed(seed: number | bigint): Generator {
  return defaultGenerator.manualSeed(seed);
}

/** Options of the random factories (rand, randn, randint, ...). */
export interface RandomOptions {
  /** Element type (default float32; randint: int64). */
  dtype?: DType;
  /** Where the tensor lives (default 'cpu'); the same seed gives the same numbers on every device. */
  device?: DeviceLike;
  /** draw from a fresh state with this seed (offset 0), leaving every generator as it is */
  seed?: number | bigint;
  /** draw from (and advance) this generator instead of the default one */
  generator?: Generator;
  /** Make the result a leaf that requires grad (floating dtypes only). */
  requiresGrad?: boolean;
}

function stateFor(op: string, opts: RandomOptions | undefined): GeneratorState {
  if (opts?.seed !== undefined && opts.generator !== undefined) {
    throw new ValueError(op, 'options', 'either seed or generator, not both', 'both');
  }
  if (opts?.seed !== undefined) return { seed: toSeed(op, opts.seed), offset: 0 };
  if (opts?.generator !== undefined && !(opts.generator instanceof Generator)) {
    throw new ValueError(op, 'generator', 'a Generator', String(opts.generator));
  }
  return (opts?.generator ?? defaultGenerator).draw();
}

/** Allocates the output and runs a random kernel: attrs [seed_lo, seed_hi, offset, a, b]. */
function randomTensor(op: string, kernel: string, shape: readonly number[], dtype: DType, opts: RandomOptions | undefined, a: number, b: number): Tensor {
  checkOptionKeys(op, opts, { dtype: true, device: true, seed: true, generator: true, requiresGrad: true });
  if (opts?.requiresGrad !== undefined) checkBoolean(op, 'requiresGrad', opts.requiresGrad);   // 'no' is truthy
  const s = checkShape(op, 'shape', shape);
  const dev = toDevice(opts?.device ?? 'cpu');
  const state = stateFor(op, opts);
  const t = empty(s, dtype, dev);
  if (t.numel > 0) {
    const lo = Number(state.seed & 0xffffffffn), hi = Number(state.seed >> 32n);
    launchKernel(kernel, [], [t], [lo, hi, state.offset, a, b]);
  }
  if (opts?.requiresGrad) t.requiresGrad = true;
  return t;
}

function floatDType(op: string, opts: RandomOptions | undefined): DType {
  const dtype = checkDType(op, 'dtype', opts?.dtype ?? defaultFloat);
  if (!dtypeInfo[dtype].isFloating) throw new DTypeError(op, 'dtype', 'a floating dtype', dtype);
  return dtype;
}

/** Uniform values in [0, 1). */
export function rand(shape: readonly number[], opts?: RandomOptions): Tensor {
  return randomTensor('rand', 'random_uniform', shape, floatDType('rand', opts), opts, 0, 1);
}

/** Standard normal values (mean 0, standard deviation 1). */
export function randn(shape: readonly number[], opts?: RandomOptions): Tensor {
  return randomTensor('randn', 'random_normal', shape, floatDType('randn', opts), opts, 0, 1);
}

/** The exactly representable integers of each dtype (randint's bounds must be among them). */
const integerLimit: Record<DType, [number, number]> = {
  bool: [0, 1], int32: [-(2 ** 31), 2 ** 31 - 1], int64: [-(2 ** 53 - 1), 2 ** 53 - 1],
  float16: [-(2 ** 11), 2 ** 11], bfloat16: [-(2 ** 8), 2 ** 8], float32: [-(2 ** 24), 2 ** 24], float64: [-(2 ** 53 - 1), 2 ** 53 - 1],
};

/**
 * Uniform integers in [low, high) (int64 unless a dtype is given; a float dtype holds them as
 * floats). low and high - 1 must be exactly representable in the dtype (int64: within ±(2^53 - 1),
 * the safe integers of a JS number).
 */
export function randint(low: number, high: number, shape: readonly number[], opts?: RandomOptions): Tensor {
  const dtype = checkDType('randint', 'dtype', opts?.dtype ?? 'int64');
  if (!Number.isSafeInteger(low)) throw new ValueError('randint', 'low', 'an integer within ±(2^53 - 1)', String(low));
  if (!Number.isSafeInteger(high)) throw new ValueError('randint', 'high', 'an integer within ±(2^53 - 1)', String(high));
  if (high <= low) throw new ValueError('randint', 'high', `a value > low (${low})`, String(high));
  const [min, max] = integerLimit[dtype];
  if (low < min || high - 1 > max) {
    throw new ValueError('randint', 'high', `bounds with [low, high - 1] inside [${min}, ${max}] for dtype ${dtype}`, `[${low}, ${high - 1}]`);
  }
  return randomTensor('randint', 'random_int', shape, dtype, opts, low, high);
}

/** rand with t's shape (and, unless given, its dtype and device). */
export function randLike(t: Tensor, opts?: RandomOptions): Tensor {
  return rand(t.shape, { dtype: t.dtype, device: t.device, ...opts });
}

/** randn with t's shape (and, unless given, its dtype and device). */
export function randnLike(t: Tensor, opts?: RandomOptions): Tensor {
  return randn(t.shape, { dtype: t.dtype, device: t.device, ...opts });
}
