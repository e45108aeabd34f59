/**
 * ModelEma: an exponential moving average of a model's weights (timm's `ModelEmaV2`, torchvision's
 * reference `ExponentialMovingAverage`), evaluated in place of the model: averaged weights
 * generalise better than the last ones, the more so with few epochs or noisy updates.
 */
import { type DeviceLike, type Tensor, ShapeError, ValueError, checkBoolean, checkOptionKeys, fmtShape, isFloating, sameShape, tidy } from '@kiln/tensor';
import { noGrad } from '@kiln/autograd';
import { type Module, deepCopy } from '@kiln/nn';

/** Options of {@link ModelEma}. */
export interface ModelEmaOptions {
  /** Weight of the average in each update, in [0, 1] (default 0.9999). */
  decay?: number;
  /**
   * Buffers (BatchNorm's running statistics): 'average' them like the weights (default; timm's
   * ModelEmaV2 and torchvision's `use_buffers=True`), or 'copy' the model's. Integer buffers
   * (`numBatchesTracked`) are always copied.
   */
  buffers?: 'average' | 'copy';
  /**
   * Ramp the decay up over the first updates: min(decay, (1 + n) / (10 + n)) at update n (from 0),
   * so that the average soon forgets the initial weights (default false).
   */
  warmup?: boolean;
  /** Keep the average on this device (default the model's: every tensor where it is). */
  device?: DeviceLike;
}

/** A ModelEma's state (see {@link ModelEma.stateDict}). */
export interface ModelEmaStateDict {
  /** The averaged module's state dict. */
  module: Record<string, Tensor>;
  /** Updates done. */
  updates: number;
}

/**
 * An exponential moving average of a model: `module` is a copy of the model (deepCopy, in
 * evaluation mode, its parameters not requiring grad) whose floating parameters (and buffers) move
 * toward the model's at each `update(model)`: `ema = decay · ema + (1 - decay) · model`. Evaluate
 * `ema.module` instead of the model; save `stateDict()` with the checkpoint.
 *
 * @example
 * ```ts
 * const ema = new ModelEma(model, { decay: 0.999, warmup: true });
 * for (...) { loss.backward(); optimizer.step(); optimizer.zeroGrad(); ema.update(model); }
 * const detections = ema.module.detect(images);
 * ```
 */
export class ModelEma<M extends Module<never[], unknown> = Module<never[], unknown>> {
  /** The averaged copy of the model. */
  readonly module: M;
  /** The configured decay. */
  readonly decay: number;
  /** How buffers are followed. */
  readonly buffers: 'average' | 'copy';
  /** Whether the decay ramps up. */
  readonly warmup: boolean;
  /** Updates done so far. */
  updates = 0;

  constructor(model: M, options: ModelEmaOptions = {}) {
    checkOptionKeys('ModelEma', options, { decay: true, buffers: true, warmup: true, device: true });
    const decay = options.decay ?? 0.9999;
    if (typeof decay !== 'number' || !(decay >= 0 && decay <= 1)) throw new ValueError('ModelEma', 'decay', 'a number in [0, 1]', String(decay));
    const buffers = options.buffers ?? 'average';
    if (buffers !== 'average' && buffers !== 'copy') throw new ValueError('ModelEma', 'buffers', "'average' or 'copy'", String(buffers));
    this.decay = decay;
    this.buffers = buffers;
    this.warmup = checkBoolean('ModelEma', 'warmup', options.warmup ?? false);
    const copy = deepCopy(model);
    if (options.device !== undefined) copy.to(options.device);
    for (const p of copy.parameters()) p.requiresGrad = false;
    this.module = copy.eval();
  }

  /** The decay the next update uses. */
  currentDecay(): number {
    return this.warmup ? Math.min(this.decay, (1 + this.updates) / (10 + this.updates)) : this.decay;
  }

  /**
   * Moves the average toward `model`'s weights: floating parameters (and buffers, unless
   * `buffers: 'copy'`) become decay · average + (1 - decay) · model's; other tensors are copied.
   */
  update(model: M): void {
    const d = this.currentDecay();
    const own = this.module.stateDict(), theirs = model.stateDict();
    const averaged = new Set<Tensor>(this.module.parameters());
    if (this.buffers === 'average') for (const b of this.module.buffers()) averaged.add(b);
    const keys = Object.keys(own);
    const missing = keys.filter((k) => !(k in theirs));
    if (missing.length > 0 || keys.length !== Object.keys(theirs).length) {
      throw new ValueError('ModelEma.update', 'model', 'the model the average was made from (the same state-dict keys)', missing.length ? `missing ${missing.join(', ')}` : 'other keys');
    }
    // checked before anything is averaged: a model of other shapes failed half-way, as an error of add
    const other = keys.find((k) => !sameShape(own[k].shape, theirs[k].shape));
    if (other !== undefined) {
      throw new ShapeError('ModelEma.update', `model['${other}']`, `the averaged model's shape ${fmtShape(own[other].shape)}`, fmtShape(theirs[other].shape));
    }
    noGrad(() => {
      for (const k of keys) {
        const e = own[k];
        tidy(() => {
          const m = theirs[k].to({ device: e.device, dtype: e.dtype });
          if (averaged.has(e) && isFloating(e.dtype)) e.mul_(d).add_(m.mul(1 - d));
          else e.copy_(m);
        });
      }
    });
    this.updates += 1;
  }

  /** The averaged weights and the update count, for a checkpoint (the module's own tensors, not copies). */
  stateDict(): ModelEmaStateDict {
    return { module: this.module.stateDict(), updates: this.updates };
  }

  /** Restores a state from `stateDict()`. */
  loadStateDict(sd: ModelEmaStateDict): void {
    if (!sd || !Number.isInteger(sd.updates) || sd.updates < 0) throw new ValueError('ModelEma.loadStateDict', 'stateDict.updates', 'a non-negative integer', String(sd?.updates));
    this.module.loadStateDict(sd.module);
    this.updates = sd.updates;
  }
}
