/**
 * GradScaler, as PyTorch's `torch.amp.GradScaler`: loss scaling for float16 training. The loss is
 * multiplied by the scale before backward so that small gradients do not flush to zero in float16;
 * `unscale_` divides the gradients back (one native kernel over many gradients per launch, which
 * also raises a per-device found-inf flag on the device); `step` reads that flag once and skips the
 * optimizer's step when a gradient was infinite or NaN; `update` halves the scale after such a step
 * and doubles it after `growthInterval` clean ones.
 *
 * The scale is a host number (the kernel takes 1 / scale as an attribute), so the only host
 * synchronisation of a step is the read of the flag in `step`, as PyTorch's.
 */
import { Tensor, ValueError, checkOptionKeys, describeValue, zeros } from '@kiln/tensor';
import { noGrad } from '@kiln/autograd';
import type { LossScaler } from '../accumulation.js';
import type { LearningRate, Optimizer } from '../optimizer.js';
import { ampNonFiniteCheckAndUnscale_ } from './unscale-kernel.js';

/** Options of {@link GradScaler}, with torch.amp.GradScaler's defaults. */
export interface GradScalerOptions {
  /** The first scale (default 2^16). */
  initScale?: number;
  /** What the scale is multiplied by after `growthInterval` steps without inf/NaN (default 2). */
  growthFactor?: number;
  /** What the scale is multiplied by after a step with inf/NaN gradients (default 0.5). */
  backoffFactor?: number;
  /** Steps without inf/NaN between growths (default 2000). */
  growthInterval?: number;
  /** false makes every method a pass-through (scale returns the loss, step steps) (default true). */
  enabled?: boolean;
}

/** What {@link GradScaler.stateDict} returns (PyTorch's keys in camelCase). */
export interface GradScalerStateDict {
  /** The current scale. */
  scale: number;
  /** See {@link GradScalerOptions.growthFactor}. */
  growthFactor: number;
  /** See {@link GradScalerOptions.backoffFactor}. */
  backoffFactor: number;
  /** See {@link GradScalerOptions.growthInterval}. */
  growthInterval: number;
  /** Steps without inf/NaN since the last growth or backoff. */
  growthTracker: number;
}

/** Where an optimizer is in the current step, and its found-inf flags (one per device). */
interface OptimizerStep {
  stage: 'unscaled' | 'stepped';
  flags: Tensor[];
  /** the flags' sum, once read */
  found: number | null;
}

const positive = (op: string, arg: string, v: unknown, more: (x: number) => boolean, what: string): number => {
  if (typeof v !== 'number' || !Number.isFinite(v) || !more(v)) throw new ValueError(op, arg, what, describeValue(v));
  return v;
};

/**
 * Loss scaling for mixed-precision training, with torch.amp.GradScaler's API and defaults
 * (initScale 2^16, growthFactor 2, backoffFactor 0.5, growthInterval 2000). Call `unscale_` before
 * clipping or reading gradients; `step` unscales if `unscale_` was not called.
 *
 * @example
 * ```ts
 * const scaler = new GradScaler();
 * const loss = autocast({ deviceType: 'cuda', dtype: 'float16' }, () => lossOf(model, batch));
 * scaler.scale(loss).backward();
 * scaler.unscale_(opt);                       // only needed before clipping
 * clipGradNorm_(model.parameters(), 1.0);
 * scaler.step(opt);                           // skipped when a gradient is inf/NaN
 * scaler.update();
 * opt.zeroGrad();
 * ```
 */
/** An optimizer's shape (paramGroups and step), else a ValueError: what was passed by mistake failed deep inside. */
function checkOptimizer(op: string, optimizer: unknown): void {
  const o = optimizer as Partial<Optimizer<LearningRate>> | null | undefined;
  if (!Array.isArray(o?.paramGroups) || typeof o.step !== 'function') throw new ValueError(op, 'optimizer', 'an optimizer', describeValue(optimizer));
}

export class GradScaler implements LossScaler {
  private scaleValue: number;
  private growthFactor: number;
  private backoffFactor: number;
  private growthInterval: number;
  private growthTracker = 0;
  private readonly enabled: boolean;
  private readonly steps = new Map<Optimizer<LearningRate>, OptimizerStep>();

  constructor(options: GradScalerOptions = {}) {
    const op = 'GradScaler';
    checkOptionKeys(op, options, { initScale: true, growthFactor: true, backoffFactor: true, growthInterval: true, enabled: true });
    if (options.enabled !== undefined && typeof options.enabled !== 'boolean') throw new ValueError(op, 'enabled', 'a boolean', describeValue(options.enabled));
    this.enabled = options.enabled ?? true;
    this.scaleValue = positive(op, 'initScale', options.initScale ?? 2 ** 16, (x) => x > 0, 'a finite number > 0');
    this.growthFactor = positive(op, 'growthFactor', options.growthFactor ?? 2, (x) => x > 1, 'a finite number > 1');
    this.backoffFactor = positive(op, 'backoffFactor', options.backoffFactor ?? 0.5, (x) => x > 0 && x < 1, 'a number in (0, 1)');
    this.growthInterval = positive(op, 'growthInterval', options.growthInterval ?? 2000, (x) => Number.isInteger(x) && x >= 1, 'a positive integer');
  }

  /** Whether the scaler scales (false: every method passes through). */
  isEnabled(): boolean {
    return this.enabled;
  }

  /** The current scale (1 when disabled). */
  getScale(): number {
    return this.enabled ? this.scaleValue : 1;
  }

  /**
   * The loss times the scale, in float32 (a float16 loss times 2^16 would overflow float16's 65504,
   * as PyTorch's float32 scale tensor promotes it).
   */
  scale(loss: Tensor): Tensor {
    if (!(loss instanceof Tensor)) throw new ValueError('GradScaler.scale', 'loss', 'a Tensor', describeValue(loss));
    if (!this.enabled) return loss;
    loss.assertAlive('GradScaler.scale');
    const l = loss.dtype === 'float16' || loss.dtype === 'bfloat16' ? loss.to('float32') : loss;
    return l.mul(this.scaleValue);
  }

  /**
   * Divides the gradients of `optimizer`'s parameters by the scale, in place, and notes on their
   * device whether one was infinite or NaN. Once per optimizer between `update` calls, before
   * `step`.
   */
  unscale_(optimizer: Optimizer<LearningRate>): void {
    const op = 'GradScaler.unscale_';
    checkOptimizer(op, optimizer);
    if (!this.enabled) return;
    const s = this.steps.get(optimizer);
    if (s?.stage === 'unscaled') throw new ValueError(op, 'optimizer', 'one unscale_ per optimizer between update() calls', 'a second unscale_');
    if (s?.stage === 'stepped') throw new ValueError(op, 'optimizer', 'unscale_ before step()', 'unscale_ after step() (call update() first)');
    const byDevice = new Map<string, Tensor[]>();
    for (const group of optimizer.paramGroups) {
      for (const p of group.params) {
        const g = p.grad;
        if (!g) continue;
        const key = String(g.device);
        let list = byDevice.get(key);
        if (!list) byDevice.set(key, (list = []));
        list.push(g);
      }
    }
    // 1 / scale in float64, then rounded once by the kernel to the gradients' compute type
    const inv = 1 / this.scaleValue;
    const flags: Tensor[] = [];
    noGrad(() => {
      for (const grads of byDevice.values()) {
        const flag = zeros([1], { dtype: 'float32', device: grads[0].device });
        flags.push(flag);
        ampNonFiniteCheckAndUnscale_(grads, flag, inv);
      }
    });
    this.steps.set(optimizer, { stage: 'unscaled', flags, found: null });
  }

  /**
   * Steps `optimizer` unless one of its gradients was infinite or NaN (unscaling them first when
   * `unscale_` was not called). Returns whether it stepped. Reads the found-inf flags: the one host
   * synchronisation of the step.
   */
  step(optimizer: Optimizer<LearningRate>): boolean {
    checkOptimizer('GradScaler.step', optimizer);
    if (!this.enabled) {
      optimizer.step();
      return true;
    }
    if (this.steps.get(optimizer)?.stage === 'stepped') {
      throw new ValueError('GradScaler.step', 'optimizer', 'one step per optimizer between update() calls', 'a second step');
    }
    if (!this.steps.has(optimizer)) this.unscale_(optimizer);
    const s = this.steps.get(optimizer)!;
    if (s.flags.length === 0) {
      throw new ValueError('GradScaler.step', 'optimizer', 'an optimizer with gradients (no inf checks were recorded for it)', 'no parameter with a gradient');
    }
    const found = foundOf(s);
    if (found === 0) optimizer.step();
    s.stage = 'stepped';
    return found === 0;
  }

  /**
   * Updates the scale for the next step: times backoffFactor if a gradient of this step was
   * infinite or NaN (and the growth count restarts), else the growth count goes up and at
   * growthInterval the scale is multiplied by growthFactor (unless that overflows). `newScale`
   * sets the scale instead.
   */
  update(newScale?: number): void {
    if (!this.enabled) return;
    const op = 'GradScaler.update';
    try {
      if (newScale !== undefined) {
        this.scaleValue = positive(op, 'newScale', newScale, (x) => x > 0, 'a finite number > 0');
        return;
      }
      if (this.steps.size === 0) throw new ValueError(op, null, 'unscale_() or step() on an optimizer since the last update()', 'no inf checks');
      let found = 0;
      for (const s of this.steps.values()) found += foundOf(s);
      if (found > 0) {
        this.scaleValue *= this.backoffFactor;
        this.growthTracker = 0;
      } else if (this.growthTracker + 1 === this.growthInterval) {
        const grown = this.scaleValue * this.growthFactor;
        if (Number.isFinite(grown)) this.scaleValue = grown;
        this.growthTracker = 0;
      } else {
        this.growthTracker++;
      }
    } finally {
      for (const s of this.steps.values()) for (const f of s.flags) f.dispose();
      this.steps.clear();
    }
  }

  /** The scale and its schedule (empty when disabled, as PyTorch's). */
  stateDict(): GradScalerStateDict | Record<string, never> {
    if (!this.enabled) return {};
    return {
      scale: this.scaleValue, growthFactor: this.growthFactor, backoffFactor: this.backoffFactor,
      growthInterval: this.growthInterval, growthTracker: this.growthTracker,
    };
  }

  /** Restores what {@link stateDict} returned. */
  loadStateDict(sd: GradScalerStateDict): void {
    if (!this.enabled) return;
    const op = 'GradScaler.loadStateDict';
    if (sd === null || typeof sd !== 'object' || !('scale' in sd)) {
      throw new ValueError(op, 'stateDict', 'the object stateDict() returned (an empty one comes from a disabled GradScaler)', describeValue(sd));
    }
    const scale = positive(op, 'stateDict.scale', sd.scale, (x) => x > 0, 'a finite number > 0');
    const growthFactor = positive(op, 'stateDict.growthFactor', sd.growthFactor, (x) => x > 1, 'a finite number > 1');
    const backoffFactor = positive(op, 'stateDict.backoffFactor', sd.backoffFactor, (x) => x > 0 && x < 1, 'a number in (0, 1)');
    const growthInterval = positive(op, 'stateDict.growthInterval', sd.growthInterval, (x) => Number.isInteger(x) && x >= 1, 'a positive integer');
    const growthTracker = positive(op, 'stateDict.growthTracker', sd.growthTracker, (x) => Number.isInteger(x) && x >= 0 && x < growthInterval, 'an integer in [0, growthInterval)');
    Object.assign(this, { scaleValue: scale, growthFactor, backoffFactor, growthInterval, growthTracker });
  }
}

/** The sum of an optimizer step's found-inf flags, read from the devices once. */
function foundOf(s: OptimizerStep): number {
  if (s.found === null) s.found = s.flags.reduce((acc, f) => acc + f.item(), 0);
  return s.found;
}
