/**
 * Learning-rate schedulers (PyTorch's torch.optim.lr_scheduler). Each computes the lr of an epoch
 * (or iteration: whatever step() counts) in closed form from the group's initial lr, and step()
 * writes it into the optimizer's groups. Constructing a scheduler sets the lr of epoch 0.
 *
 * ```ts
 * const opt = new SGD(model.parameters(), { lr: 0.01, momentum: 0.9 });
 * const sched = warmupCosine(opt, { warmupIters: 500, warmupFactor: 0.001, totalIters: 90000 });
 * for (...) { ...; opt.step(); sched.step(); }
 * ```
 */
import { ValueError, describeValue } from '@kiln/tensor';

/** What a scheduler needs of an optimizer: its groups' lr and initial lr. */
export interface SchedulableOptimizer {
  /** The groups whose lr the scheduler sets. */
  readonly paramGroups: {
    /** The lr now. */
    lr: number;
    /** The lr the group started with. */
    initialLr: number;
  }[];
}

/**
 * The base class of schedulers: `lrAt(epoch, baseLr)` in closed form, and step() writing it into
 * every group of the optimizer.
 *
 * @example
 * ```ts
 * const sched = new StepLR(opt, { stepSize: 30, gamma: 0.1 });
 * for (let epoch = 0; epoch < 90; epoch++) { train(); sched.step(); }
 * ```
 */
export abstract class LRScheduler {
  /** The optimizer whose lr it sets. */
  readonly optimizer: SchedulableOptimizer;
  /** the epoch of the lr now set (0 after construction) */
  lastEpoch = -1;
  /** each group's initial lr */
  readonly baseLrs: number[];

  /** Reads the groups' initial lr (subclasses then set the lr of epoch 0). */
  constructor(optimizer: SchedulableOptimizer) {
    if (!Array.isArray((optimizer as Partial<SchedulableOptimizer> | null)?.paramGroups)) {
      throw new ValueError(new.target.name, 'optimizer', 'an optimizer (an object with paramGroups)', describeValue(optimizer));
    }
    this.optimizer = optimizer;
    this.baseLrs = optimizer.paramGroups.map((g) => g.initialLr);
  }

  /** The lr of `epoch` for a group whose initial lr is `baseLr`. */
  abstract lrAt(epoch: number, baseLr: number): number;

  /** Advances one epoch and sets every group's lr. */
  step(): void {
    this.lastEpoch += 1;
    this.optimizer.paramGroups.forEach((g, i) => { g.lr = this.lrAt(this.lastEpoch, this.baseLrs[i]); });
  }

  /** The lr of each group, as last set. */
  getLastLr(): number[] {
    return this.optimizer.paramGroups.map((g) => g.lr);
  }

  /**
   * The scheduler's state (PyTorch's `state_dict()`): the epoch reached and each group's initial
   * lr. The lr of an epoch is computed from them in closed form, so nothing else is kept.
   *
   * @example
   * ```ts
   * saveCheckpoint('ckpt.safetensors', { optimizer: optimizer.stateDict(), scheduler: scheduler.stateDict() });
   * ```
   */
  stateDict(): SchedulerStateDict {
    return { lastEpoch: this.lastEpoch, baseLrs: [...this.baseLrs] };
  }

  /**
   * Restores a state from `stateDict()`. As in PyTorch, the optimizer's lr is not set here: it is
   * part of the optimizer's state (load that first), and the next `step()` computes the next epoch's.
   */
  loadStateDict(sd: SchedulerStateDict): void {
    const op = `${this.constructor.name}.loadStateDict`;
    if (!sd || !Number.isInteger(sd.lastEpoch) || sd.lastEpoch < -1) throw new ValueError(op, 'stateDict.lastEpoch', 'an integer >= -1', String(sd?.lastEpoch));
    if (!Array.isArray(sd.baseLrs) || sd.baseLrs.length !== this.baseLrs.length || !sd.baseLrs.every((v) => typeof v === 'number' && Number.isFinite(v) && v >= 0)) {
      throw new ValueError(op, 'stateDict.baseLrs', `${this.baseLrs.length} finite learning rates >= 0 (one per group)`, JSON.stringify(sd.baseLrs));
    }
    this.lastEpoch = sd.lastEpoch;
    sd.baseLrs.forEach((v, i) => { this.baseLrs[i] = v; });
  }
}

/** A scheduler's state (see {@link LRScheduler.stateDict}). */
export interface SchedulerStateDict {
  /** The epoch of the lr last set. */
  lastEpoch: number;
  /** Each group's initial lr. */
  baseLrs: number[];
}

function check(op: string, arg: string, ok: boolean, expected: string, got: unknown): void {
  if (!ok) throw new ValueError(op, arg, expected, String(got));
}
const posInt = (v: number): boolean => Number.isInteger(v) && v > 0;
/** A decay factor or a floor of the lr: NaN or a negative value would reach every group's lr. */
const nonNegativeNumber = (op: string, arg: string, v: number): number => {
  check(op, arg, typeof v === 'number' && Number.isFinite(v) && v >= 0, 'a finite number >= 0', v);
  return v;
};

/** lr = base · gamma^floor(epoch / stepSize). */
export class StepLR extends LRScheduler {
  /** Epochs between decays. */
  readonly stepSize: number;
  /** Factor of each decay. */
  readonly gamma: number;
  constructor(optimizer: SchedulableOptimizer, options: { stepSize: number; gamma?: number }) {
    super(optimizer);
    check('StepLR', 'stepSize', posInt(options.stepSize), 'a positive integer', options.stepSize);
    this.stepSize = options.stepSize;
    this.gamma = nonNegativeNumber('StepLR', 'gamma', options.gamma ?? 0.1);
    this.step();
  }
  lrAt(epoch: number, base: number): number {
    return base * this.gamma ** Math.floor(epoch / this.stepSize);
  }
}

/** lr = base · gamma^(number of milestones <= epoch). */
export class MultiStepLR extends LRScheduler {
  /** Epochs at which the lr decays. */
  readonly milestones: number[];
  /** Factor of each decay. */
  readonly gamma: number;
  constructor(optimizer: SchedulableOptimizer, options: { milestones: readonly number[]; gamma?: number }) {
    super(optimizer);
    const ms = [...options.milestones];
    check('MultiStepLR', 'milestones', ms.every((m, i) => Number.isInteger(m) && m >= 0 && (i === 0 || m > ms[i - 1])), 'increasing non-negative integers', `[${ms.join(', ')}]`);
    this.milestones = ms;
    this.gamma = nonNegativeNumber('MultiStepLR', 'gamma', options.gamma ?? 0.1);
    this.step();
  }
  lrAt(epoch: number, base: number): number {
    return base * this.gamma ** this.milestones.filter((m) => m <= epoch).length;
  }
}

/** lr = etaMin + (base − etaMin) · (1 + cos(π · epoch / tMax)) / 2. */
export class CosineAnnealingLR extends LRScheduler {
  /** Epochs of the half cosine. */
  readonly tMax: number;
  /** The lr at tMax. */
  readonly etaMin: number;
  constructor(optimizer: SchedulableOptimizer, options: { tMax: number; etaMin?: number }) {
    super(optimizer);
    check('CosineAnnealingLR', 'tMax', posInt(options.tMax), 'a positive integer', options.tMax);
    this.tMax = options.tMax;
    this.etaMin = nonNegativeNumber('CosineAnnealingLR', 'etaMin', options.etaMin ?? 0);
    this.step();
  }
  lrAt(epoch: number, base: number): number {
    return this.etaMin + ((base - this.etaMin) * (1 + Math.cos((Math.PI * epoch) / this.tMax))) / 2;
  }
}

/**
 * lr = base · factor, the factor going linearly from startFactor (epoch 0) to endFactor (epoch
 * totalIters and after): a linear warm-up with the defaults of PyTorch's LinearLR.
 */
export class LinearLR extends LRScheduler {
  /** The factor at epoch 0. */
  readonly startFactor: number;
  /** The factor from totalIters on. */
  readonly endFactor: number;
  /** Epochs of the linear ramp. */
  readonly totalIters: number;
  constructor(optimizer: SchedulableOptimizer, options: { startFactor?: number; endFactor?: number; totalIters?: number } = {}) {
    super(optimizer);
    this.startFactor = options.startFactor ?? 1 / 3;
    this.endFactor = options.endFactor ?? 1;
    this.totalIters = options.totalIters ?? 5;
    check('LinearLR', 'startFactor', this.startFactor > 0 && this.startFactor <= 1, 'a number in (0, 1]', this.startFactor);
    check('LinearLR', 'endFactor', this.endFactor >= 0 && this.endFactor <= 1, 'a number in [0, 1]', this.endFactor);
    check('LinearLR', 'totalIters', posInt(this.totalIters), 'a positive integer', this.totalIters);
    this.step();
  }
  lrAt(epoch: number, base: number): number {
    const f = Math.min(epoch, this.totalIters) / this.totalIters;
    return base * (this.startFactor + (this.endFactor - this.startFactor) * f);
  }
}

/**
 * Chains schedulers: schedulers[i] runs from milestones[i − 1] (0 for the first), counting its
 * epochs from 0 there (PyTorch's SequentialLR).
 */
export class SequentialLR extends LRScheduler {
  /** The chained schedulers. */
  readonly schedulers: LRScheduler[];
  /** The epochs at which the next scheduler takes over. */
  readonly milestones: number[];
  constructor(optimizer: SchedulableOptimizer, options: { schedulers: readonly LRScheduler[]; milestones: readonly number[] }) {
    super(optimizer);
    const { schedulers, milestones } = options;
    check('SequentialLR', 'milestones', milestones.length === schedulers.length - 1, `${schedulers.length - 1} milestones (one fewer than schedulers)`, milestones.length);
    check('SequentialLR', 'milestones', milestones.every((m, i) => Number.isInteger(m) && m > 0 && (i === 0 || m > milestones[i - 1])), 'increasing positive integers', `[${milestones.join(', ')}]`);
    check('SequentialLR', 'schedulers', schedulers.every((s) => s.optimizer === optimizer), 'schedulers of this optimizer', 'a scheduler of another optimizer');
    this.schedulers = [...schedulers];
    this.milestones = [...milestones];
    this.step();
  }
  lrAt(epoch: number, base: number): number {
    const i = this.milestones.filter((m) => m <= epoch).length;
    return this.schedulers[i].lrAt(epoch - (i === 0 ? 0 : this.milestones[i - 1]), base);
  }
}

/**
 * Linear warm-up from warmupFactor · lr over warmupIters, then cosine annealing to etaMin at
 * totalIters: SequentialLR of LinearLR and CosineAnnealingLR (warmupIters 0: the cosine alone).
 */
export function warmupCosine(optimizer: SchedulableOptimizer, options: { warmupIters: number; warmupFactor?: number; totalIters: number; etaMin?: number }): SequentialLR {
  const { warmupIters, totalIters } = options;
  check('warmupCosine', 'warmupIters', Number.isInteger(warmupIters) && warmupIters >= 0, 'an integer >= 0', warmupIters);
  check('warmupCosine', 'totalIters', posInt(totalIters) && totalIters > warmupIters, `an integer > warmupIters (${warmupIters})`, totalIters);
  if (warmupIters === 0) {
    const cosOnly = new CosineAnnealingLR(optimizer, { tMax: totalIters, etaMin: options.etaMin ?? 0 });
    return new SequentialLR(optimizer, { schedulers: [cosOnly], milestones: [] });
  }
  const warm = new LinearLR(optimizer, { startFactor: options.warmupFactor ?? 0.001, endFactor: 1, totalIters: warmupIters });
  const cos = new CosineAnnealingLR(optimizer, { tMax: totalIters - warmupIters, etaMin: options.etaMin ?? 0 });
  return new SequentialLR(optimizer, { schedulers: [warm, cos], milestones: [warmupIters] });
}
