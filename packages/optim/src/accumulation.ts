/**
 * Gradient accumulation: one optimizer step per `steps` micro-batches, with the gradient of the
 * mean loss over them (the gradient of a batch `steps` times larger, when the loss is a mean over
 * the batch and the model has no batch statistics), and the place where a loss scaler (mixed
 * precision's GradScaler) joins the step.
 */
import { type Tensor, ValueError, checkOptionKeys, describeValue } from '@kiln/tensor';
import { noGrad } from '@kiln/autograd';
import { clipGradNorm_ } from './clip.js';
import type { LearningRate, Optimizer } from './optimizer.js';

/**
 * What a loss scaler does in a step (PyTorch's `torch.amp.GradScaler`): multiplies the loss
 * before backward, divides the gradients back before anything reads them, steps the optimizer
 * only when they are finite, and updates its scale. `GradientAccumulator` calls it in that order.
 */
export interface LossScaler {
  /** The loss times the scale. */
  scale(loss: Tensor): Tensor;
  /** Divides the optimizer's gradients by the scale, in place (once per step, before clipping). */
  unscale_(optimizer: Optimizer<LearningRate>): void;
  /** Steps the optimizer unless a gradient is infinite or NaN. */
  step(optimizer: Optimizer<LearningRate>): void;
  /** Adjusts the scale for the next step. */
  update(): void;
}

/** Options of {@link GradientAccumulator}. */
export interface GradientAccumulatorOptions {
  /** Micro-batches per optimizer step (≥ 1). */
  steps: number;
  /** A loss scaler for mixed precision (default none). */
  scaler?: LossScaler;
  /** Clip the gradients' total norm to this before each step (default no clipping). */
  clipGradNorm?: number;
}

/**
 * Runs backward on each micro-batch's loss divided by `steps` (gradients add up in `.grad`), and
 * every `steps` calls: unscales (with a scaler), clips (with `clipGradNorm`), steps the optimizer
 * (through the scaler when there is one), updates the scaler and clears the gradients
 * (`zeroGrad`). Start with cleared gradients. `flush()` steps on a last, shorter group.
 *
 * @example
 * ```ts
 * const accumulate = new GradientAccumulator(optimizer, { steps: 4, clipGradNorm: 10 });
 * for (const batch of loader) {
 *   tidy(() => {
 *     const loss = lossOf(model, batch);
 *     if (accumulate.backward(loss)) scheduler.step();   // true when the optimizer stepped
 *   });
 * }
 * if (accumulate.flush()) scheduler.step();
 * ```
 */
export class GradientAccumulator {
  /** The optimizer stepped. */
  readonly optimizer: Optimizer<LearningRate>;
  /** Micro-batches per step. */
  readonly steps: number;
  /** The loss scaler, if any. */
  readonly scaler: LossScaler | null;
  /** The gradient-norm bound, if any. */
  readonly clipGradNorm: number | null;
  private count = 0;

  constructor(optimizer: Optimizer<LearningRate>, options: GradientAccumulatorOptions) {
    checkOptionKeys('GradientAccumulator', options, { steps: true, scaler: true, clipGradNorm: true });
    if (!Number.isInteger(options.steps) || options.steps < 1) throw new ValueError('GradientAccumulator', 'steps', 'a positive integer', String(options.steps));
    if (options.clipGradNorm !== undefined && !(options.clipGradNorm >= 0)) throw new ValueError('GradientAccumulator', 'clipGradNorm', 'a number >= 0', String(options.clipGradNorm));
    const scaler = options.scaler as Partial<LossScaler> | null | undefined;   // a caller without types may pass anything
    if (scaler !== undefined && !(['scale', 'unscale_', 'step', 'update'] as const).every((m) => typeof scaler?.[m] === 'function')) {
      throw new ValueError('GradientAccumulator', 'scaler', 'a LossScaler (scale, unscale_, step, update: a GradScaler)', describeValue(scaler));
    }
    this.optimizer = optimizer;
    this.steps = options.steps;
    this.scaler = options.scaler ?? null;
    this.clipGradNorm = options.clipGradNorm ?? null;
  }

  /** Micro-batches whose gradients wait for a step. */
  get pending(): number {
    return this.count;
  }

  /**
   * Backpropagates `loss / steps` (scaled by the scaler), adding to the gradients; on the
   * `steps`-th call, steps. Returns true when the optimizer stepped.
   */
  backward(loss: Tensor): boolean {
    if (loss.numel !== 1) throw new ValueError('GradientAccumulator.backward', 'loss', 'a loss with one element', `shape [${loss.shape.join(', ')}]`);
    const part = loss.div(this.steps);
    (this.scaler ? this.scaler.scale(part) : part).backward();
    this.count += 1;
    if (this.count < this.steps) return false;
    this.step();
    return true;
  }

  /**
   * Steps on the micro-batches accumulated so far, if any, as if `steps` had been their number
   * (their gradients are multiplied by steps / pending first, to be their mean). Returns whether
   * it stepped.
   */
  flush(): boolean {
    if (this.count === 0) return false;
    const factor = this.steps / this.count;
    if (factor !== 1) {
      noGrad(() => {
        for (const g of this.optimizer.paramGroups) for (const p of g.params) p.grad?.mul_(factor);
      });
    }
    this.step();
    return true;
  }

  private step(): void {
    const opt = this.optimizer;
    if (this.scaler) this.scaler.unscale_(opt);
    if (this.clipGradNorm !== null) clipGradNorm_(opt.paramGroups.flatMap((g) => g.params), this.clipGradNorm).dispose();
    if (this.scaler) {
      this.scaler.step(opt);
      this.scaler.update();
    } else {
      opt.step();
    }
    opt.zeroGrad();
    this.count = 0;
  }
}
