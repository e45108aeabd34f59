/**
 * Normalisation layers. BatchNorm2d in evaluation is composed from core ops (arithmetic with the
 * running statistics), which autograd differentiates without a derivative of its own; BatchNorm2d
 * with batch statistics and GroupNorm run BatchNormTrainFunction (batch-norm/batch-norm-function.ts) and
 * GroupNormFunction (group-norm-function.ts), whose derivatives are written out.
 */
import { type DType, type DeviceLike, type Tensor, ShapeError, ValueError, checkBoolean, checkInt, checkOptionKeys, add, div, emptyOn, device as toDevice, mul, sqrt, sub } from '@kiln/tensor';
import { noGrad } from '@kiln/autograd';
import { Module } from '../module.js';
import { BufferTensor, type Parameter } from '../parameter.js';
import { constant_ } from '../init.js';
import { newParameter } from './linear.js';
import { BatchNormTrainFunction } from './batch-norm/batch-norm-function.js';
import type { RunningStats } from './batch-norm/batch-norm-kernels.js';
import { GroupNormFunction } from './group-norm/group-norm-function.js';
import { checkEps } from './norm-operands.js';

/** Options of {@link GroupNorm} (and, extended, of {@link BatchNorm2d}). */
export interface NormOptions {
  /** Added to the variance before the square root (default 1e-5). */
  eps?: number;
  /** learnable per-channel scale (weight, init 1) and shift (bias, init 0); default true */
  affine?: boolean;
  /** The parameters' dtype (default float32). */
  dtype?: DType;
  /** The parameters' device (default 'cpu'). */
  device?: DeviceLike;
}

/** x's channel dim must hold `channels`; returns the shape [1, C, 1, ...] a per-channel tensor broadcasts as. */
function channelShape(op: string, x: Tensor, channels: number, minDims: number): number[] {
  if (x.ndim < minDims || x.shape[1] !== channels) {
    throw new ShapeError(op, 'input', `at least ${minDims} dimensions [N, C = ${channels}, ...]`, `shape [${x.shape.join(', ')}]`);
  }
  return x.shape.map((_, i) => (i === 1 ? channels : 1));
}

/** (x - mean) / sqrt(var + eps), then weight * y + bias when given (both [C], broadcast as `cshape`). */
function normalize(x: Tensor, m: Tensor, v: Tensor, eps: number, weight: Parameter | null, bias: Parameter | null, cshape: number[]): Tensor {
  let y = div(sub(x, m), sqrt(add(v, eps)));
  if (weight) y = mul(y, weight.view(cshape));
  if (bias) y = add(y, bias.view(cshape));
  // in x's dtype, as in training (half values with float32 statistics promote)
  return y.dtype === x.dtype ? y : y.to(x.dtype);
}

/**
 * Group normalisation (Wu & He): the channels of each sample are split into `numGroups` groups
 * and each group is normalised by its own mean and (biased) variance, then scaled and shifted per
 * channel. The same in training and evaluation.
 */
export class GroupNorm extends Module {
  /** Number of groups the channels are split into. */
  readonly numGroups: number;
  /** Number of channels C. */
  readonly numChannels: number;
  /** Added to the variance before the square root. */
  readonly eps: number;
  /** Per-channel scale [C] (null when not affine). */
  weight: Parameter | null;
  /** Per-channel shift [C] (null when not affine). */
  bias: Parameter | null;

  constructor(numGroups: number, numChannels: number, options: NormOptions = {}) {
    super();
    checkOptionKeys('GroupNorm', options, { eps: true, affine: true, dtype: true, device: true });
    checkInt('GroupNorm', 'numGroups', numGroups, 1);
    if (checkInt('GroupNorm', 'numChannels', numChannels, 1) % numGroups !== 0) {
      throw new ValueError('GroupNorm', 'numChannels', `a multiple of numGroups (${numGroups})`, String(numChannels));
    }
    this.numGroups = numGroups;
    this.numChannels = numChannels;
    this.eps = checkEps('GroupNorm', options.eps ?? 1e-5);
    const affine = checkBoolean('GroupNorm', 'affine', options.affine ?? true);
    this.weight = affine ? constant_(newParameter([numChannels], options.dtype, options.device), 1) : null;
    this.bias = affine ? constant_(newParameter([numChannels], options.dtype, options.device), 0) : null;
  }

  forward(x: Tensor): Tensor {
    channelShape('GroupNorm', x, this.numChannels, 2);
    return GroupNormFunction.apply(x, this.weight, this.bias, this.numGroups, this.eps);
  }
}

/** Options of {@link BatchNorm2d}. */
export interface BatchNormOptions extends NormOptions {
  /**
   * Weight of the new batch's statistics in the running ones (default 0.1):
   * running = (1 - momentum) running + momentum batch. null: a cumulative average over the batches seen.
   */
  momentum?: number | null;
  /** keep running statistics for evaluation (default true); without them batch statistics are used always */
  trackRunningStats?: boolean;
}

/**
 * Batch normalisation over [N, C, H, W] (Ioffe & Szegedy): in training each channel is normalised
 * by the batch's mean and biased variance over (N, H, W), and the running mean and unbiased
 * variance are updated; in evaluation the running statistics are used.
 */
export class BatchNorm2d extends Module {
  /** Number of channels C. */
  readonly numFeatures: number;
  /** Added to the variance before the square root. */
  readonly eps: number;
  /** Weight of a new batch in the running statistics (null: a cumulative average). */
  readonly momentum: number | null;
  /** Whether running statistics are kept (and used in evaluation). */
  readonly trackRunningStats: boolean;
  /** Per-channel scale [C] (null when not affine). */
  weight: Parameter | null;
  /** Per-channel shift [C] (null when not affine). */
  bias: Parameter | null;
  /** Running mean [C] (a buffer; null without running statistics). */
  runningMean: BufferTensor | null;
  /** Running unbiased variance [C] (a buffer; null without running statistics). */
  runningVar: BufferTensor | null;
  /** int64 count of training batches seen (a buffer; null without running statistics). */
  numBatchesTracked: BufferTensor | null;

  constructor(numFeatures: number, options: BatchNormOptions = {}) {
    super();
    checkOptionKeys('BatchNorm2d', options, { eps: true, affine: true, dtype: true, device: true, momentum: true, trackRunningStats: true });
    checkInt('BatchNorm2d', 'numFeatures', numFeatures, 1);
    const momentum = options.momentum === undefined ? 0.1 : options.momentum;
    if (momentum !== null && !(momentum >= 0 && momentum <= 1)) throw new ValueError('BatchNorm2d', 'momentum', 'a number in [0, 1] or null', String(momentum));
    this.numFeatures = numFeatures;
    this.eps = checkEps('BatchNorm2d', options.eps ?? 1e-5);
    this.momentum = momentum;
    this.trackRunningStats = checkBoolean('BatchNorm2d', 'trackRunningStats', options.trackRunningStats ?? true);
    const affine = checkBoolean('BatchNorm2d', 'affine', options.affine ?? true);
    this.weight = affine ? constant_(newParameter([numFeatures], options.dtype, options.device), 1) : null;
    this.bias = affine ? constant_(newParameter([numFeatures], options.dtype, options.device), 0) : null;
    const dev = toDevice(options.device ?? 'cpu');
    const buffer = (dtype: DType, value: number): BufferTensor => {
      const b = BufferTensor.adopt(emptyOn([...(dtype === 'int64' ? [] : [numFeatures])], dtype, dev));
      constant_(b, value);
      return b;
    };
    this.runningMean = this.trackRunningStats ? buffer(options.dtype ?? 'float32', 0) : null;
    this.runningVar = this.trackRunningStats ? buffer(options.dtype ?? 'float32', 1) : null;
    this.numBatchesTracked = this.trackRunningStats ? buffer('int64', 0) : null;
  }

  /** Running statistics back to mean 0, variance 1, no batches seen. */
  resetRunningStats(): void {
    if (!this.runningMean) return;
    constant_(this.runningMean, 0);
    constant_(this.runningVar!, 1);
    constant_(this.numBatchesTracked!, 0);
  }

  forward(x: Tensor): Tensor {
    const cshape = channelShape('BatchNorm2d', x, this.numFeatures, 4);
    if (x.ndim !== 4) throw new ShapeError('BatchNorm2d', 'input', '4 dimensions [N, C, H, W]', `shape [${x.shape.join(', ')}]`);
    const useBatch = this.training || !this.runningMean;
    if (!useBatch) return normalize(x, this.runningMean!.view(cshape), this.runningVar!.view(cshape), this.eps, this.weight, this.bias, cshape);
    // refused before the batch is counted (the Function says the same to its direct callers)
    if (this.training && x.numel === this.numFeatures) {
      throw new ShapeError('BatchNorm2d', 'input', 'more than 1 value per channel in training', `shape [${x.shape.join(', ')}]`);
    }
    return BatchNormTrainFunction.apply(x, this.weight, this.bias, this.eps, this.training && this.runningMean ? this.runningUpdate() : null);
  }

  /**
   * A training step's update of the running statistics, which the batch norm applies with the
   * batch's (running = (1 - f) running + f batch, the batch variance made unbiased): one more batch
   * counted; f is the momentum, or 1 / batches seen without one (a cumulative average).
   */
  private runningUpdate(): RunningStats {
    noGrad(() => this.numBatchesTracked!.add_(1));
    const factor = this.momentum ?? 1 / this.numBatchesTracked!.item();
    return { mean: this.runningMean!, variance: this.runningVar!, factor };
  }
}
