/**
 * Parameter initialisation, in place and without recording (PyTorch's nn.init): each helper fills
 * a tensor from the core's seeded RNG and returns it. Pass `{ generator }` or `{ seed }` to draw
 * from a particular stream; otherwise the default generator (`manualSeed`) is used.
 *
 * Fan-in and fan-out follow PyTorch: for a weight [out, in, ...kernel], fanIn = in * prod(kernel)
 * and fanOut = out * prod(kernel).
 */
import { type Generator, type Tensor, ShapeError, ValueError, rand, randn, tidy } from '@kiln/tensor';
import { noGrad } from '@kiln/autograd';

/** Where random values come from: a generator, a one-off seed, or (neither) the default generator. */
export interface InitRandom {
  /** Draw from (and advance) this generator. */
  generator?: Generator;
  /** Draw from a fresh state with this seed. */
  seed?: number | bigint;
}

/** The nonlinearities {@link calculateGain} knows. */
export type Nonlinearity = 'linear' | 'conv1d' | 'conv2d' | 'sigmoid' | 'tanh' | 'relu' | 'leaky_relu' | 'selu';
/** Which fan Kaiming initialisation preserves the variance of: the forward pass's or the backward's. */
export type FanMode = 'fan_in' | 'fan_out';

/** [fanIn, fanOut] of a weight of at least 2 dims. */
export function calculateFanInAndFanOut(t: Tensor): [number, number] {
  if (t.ndim < 2) throw new ShapeError('calculateFanInAndFanOut', 'tensor', 'at least 2 dimensions [out, in, ...]', `${t.ndim} dimensions`);
  const receptive = t.shape.slice(2).reduce((a, b) => a * b, 1);
  return [t.shape[1] * receptive, t.shape[0] * receptive];
}

/** The recommended gain of a nonlinearity (PyTorch's calculate_gain); `param` is leaky_relu's slope. */
export function calculateGain(nonlinearity: Nonlinearity, param?: number): number {
  switch (nonlinearity) {
    case 'linear': case 'conv1d': case 'conv2d': case 'sigmoid': return 1;
    case 'tanh': return 5 / 3;
    case 'relu': return Math.SQRT2;
    case 'leaky_relu': {
      const slope = param ?? 0.01;
      return Math.sqrt(2 / (1 + slope * slope));
    }
    case 'selu': return 3 / 4;
    default: throw new ValueError('calculateGain', 'nonlinearity', 'linear, conv1d, conv2d, sigmoid, tanh, relu, leaky_relu or selu', String(nonlinearity));
  }
}

/** Writes `make()`'s values into t in place, without recording; returns t. */
function fillWith(t: Tensor, make: () => Tensor): Tensor {
  noGrad(() => tidy(() => { t.copy_(make()); }));
  return t;
}

const randomOpts = (t: Tensor, r?: InitRandom) => ({ dtype: t.dtype, device: t.device, generator: r?.generator, seed: r?.seed });

/** Uniform values in [a, b). */
export function uniform_(t: Tensor, a = 0, b = 1, r?: InitRandom): Tensor {
  if (!(b >= a)) throw new ValueError('uniform_', 'b', `a bound >= a (${a})`, String(b));
  return fillWith(t, () => rand(t.shape, randomOpts(t, r)).mul(b - a).add(a));
}

/** Normal values with the given mean and standard deviation. */
export function normal_(t: Tensor, mean = 0, std = 1, r?: InitRandom): Tensor {
  if (!(std >= 0)) throw new ValueError('normal_', 'std', 'a non-negative standard deviation', String(std));
  return fillWith(t, () => randn(t.shape, randomOpts(t, r)).mul(std).add(mean));
}

/** Every element set to `value`. */
export function constant_(t: Tensor, value: number): Tensor {
  noGrad(() => t.fill_(value));
  return t;
}

/** Every element set to 0. */
export const zeros_ = (t: Tensor): Tensor => constant_(t, 0);
/** Every element set to 1. */
export const ones_ = (t: Tensor): Tensor => constant_(t, 1);

/** Xavier/Glorot uniform: U(-a, a), a = gain * sqrt(6 / (fanIn + fanOut)). */
export function xavierUniform_(t: Tensor, gain = 1, r?: InitRandom): Tensor {
  const [fanIn, fanOut] = calculateFanInAndFanOut(t);
  const a = gain * Math.sqrt(6 / (fanIn + fanOut));
  return uniform_(t, -a, a, r);
}

/** Xavier/Glorot normal: N(0, std²), std = gain * sqrt(2 / (fanIn + fanOut)). */
export function xavierNormal_(t: Tensor, gain = 1, r?: InitRandom): Tensor {
  const [fanIn, fanOut] = calculateFanInAndFanOut(t);
  return normal_(t, 0, gain * Math.sqrt(2 / (fanIn + fanOut)), r);
}

export interface KaimingOptions extends InitRandom {
  /** negative slope of the leaky ReLU that follows (default 0: ReLU) */
  a?: number;
  /** 'fan_in' (default) or 'fan_out'. */
  mode?: FanMode;
  /** The nonlinearity whose gain is used (default 'leaky_relu' with slope `a`). */
  nonlinearity?: Nonlinearity;
}

function kaimingStd(op: string, t: Tensor, o: KaimingOptions): number {
  const [fanIn, fanOut] = calculateFanInAndFanOut(t);
  const mode = o.mode ?? 'fan_in';
  if (mode !== 'fan_in' && mode !== 'fan_out') throw new ValueError(op, 'mode', "'fan_in' or 'fan_out'", String(mode));
  const fan = mode === 'fan_in' ? fanIn : fanOut;
  if (fan === 0) throw new ShapeError(op, 'tensor', 'a tensor with a non-zero fan', `shape [${t.shape.join(', ')}]`);
  return calculateGain(o.nonlinearity ?? 'leaky_relu', o.a ?? 0) / Math.sqrt(fan);
}

/** He/Kaiming uniform: U(-bound, bound), bound = gain * sqrt(3 / fan). */
export function kaimingUniform_(t: Tensor, o: KaimingOptions = {}): Tensor {
  const bound = Math.sqrt(3) * kaimingStd('kaimingUniform_', t, o);
  return uniform_(t, -bound, bound, o);
}

/** He/Kaiming normal: N(0, std²), std = gain / sqrt(fan). */
export function kaimingNormal_(t: Tensor, o: KaimingOptions = {}): Tensor {
  return normal_(t, 0, kaimingStd('kaimingNormal_', t, o), o);
}

/**
 * The bias that makes a sigmoid output start at probability pi: -log((1 - pi) / pi) (RetinaNet's
 * classification prior, pi = 0.01 gives about -4.595).
 */
export function priorProbBias(pi: number): number {
  if (!(pi > 0 && pi < 1)) throw new ValueError('priorProbBias', 'pi', 'a probability in (0, 1)', String(pi));
  return -Math.log((1 - pi) / pi);
}
