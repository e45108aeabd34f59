/**
 * Training checkpoints: everything a run needs to go on exactly where it stopped, in one file:
 * the model's state dict, the optimizer's and scheduler's states, an EMA, the step, the default
 * random generator's state (dropout and every random op that does not get its own generator),
 * and the caller's own values (a data loader's epoch, a generator's state, metrics).
 */
import { type Tensor, type GeneratorState, ValueError, defaultGenerator } from '@kiln/tensor';
import { type CheckpointValue, type Module, disposeCheckpoint, loadCheckpoint, saveCheckpoint } from '@kiln/nn';
import type { LearningRate, Optimizer, OptimizerStateDict } from './optimizer.js';
import type { LRScheduler, SchedulerStateDict } from './scheduler.js';
import type { ModelEma, ModelEmaStateDict } from './ema.js';

/** The objects a training checkpoint saves and restores. */
export interface TrainingParts {
  /** The model. */
  model: Module<never[], unknown>;
  /** Its optimizer. */
  optimizer?: Optimizer<LearningRate>;
  /** Its learning-rate scheduler. */
  scheduler?: LRScheduler;
  /** An average of its weights. */
  ema?: ModelEma;
}

/** What `loadTrainingCheckpoint` gives back besides the restored objects. */
export interface TrainingProgress {
  /** The step saved: the number of steps done. */
  step: number;
  /** The caller's values saved with it (null when none). */
  extra: CheckpointValue;
}

const FORMAT = 'kiln.training/1';

/**
 * Saves a training checkpoint: the parts' states, `step`, the default generator's state and
 * `extra` (any checkpoint values: numbers, strings, tensors, a generator's state). The file is a
 * checkpoint file (`saveCheckpoint`), written atomically where the state-dict writer is.
 *
 * @example
 * ```ts
 * saveTrainingCheckpoint('run/last.safetensors', { model, optimizer, scheduler, ema }, step, { epoch });
 * ```
 */
export function saveTrainingCheckpoint(path: string, parts: TrainingParts, step: number, extra: CheckpointValue = null): void {
  if (!Number.isSafeInteger(step) || step < 0) throw new ValueError('saveTrainingCheckpoint', 'step', 'a non-negative integer', String(step));
  const rng = defaultGenerator.getState();
  saveCheckpoint(path, {
    format: FORMAT,
    step,
    model: parts.model.stateDict(),
    optimizer: parts.optimizer ? (parts.optimizer.stateDict() as unknown as CheckpointValue) : null,
    scheduler: parts.scheduler ? (parts.scheduler.stateDict() as unknown as CheckpointValue) : null,
    ema: parts.ema ? (parts.ema.stateDict() as unknown as CheckpointValue) : null,
    rng: { seed: rng.seed, offset: rng.offset },
    extra,
  });
}

/**
 * Restores a training checkpoint into the parts (model, then optimizer, scheduler and EMA when
 * given; a part given that the file lacks is an error), sets the default generator's state, and
 * returns the step and the caller's values. Each part checks what it loads before changing
 * anything, but a part that refuses its state leaves the parts loaded before it changed: rebuild
 * them after such an error. Build the parts as for a fresh run (same
 * architecture, same parameter groups), then load: the run continues bit for bit as if it had
 * not stopped, when each step is a function of the state saved (data chosen from the step, not
 * from an unsaved stream).
 *
 * @example
 * ```ts
 * const { step, extra } = loadTrainingCheckpoint('run/last.safetensors', { model, optimizer, scheduler, ema });
 * for (let s = step; s < totalSteps; s++) trainStep(s);
 * ```
 */
export function loadTrainingCheckpoint(path: string, parts: TrainingParts): TrainingProgress {
  const op = 'loadTrainingCheckpoint';
  const ckpt = loadCheckpoint(path) as Record<string, CheckpointValue>;
  try {
    if (ckpt === null || typeof ckpt !== 'object' || ckpt.format !== FORMAT) {
      throw new ValueError(op, 'path', `a training checkpoint (format '${FORMAT}', saved by saveTrainingCheckpoint) in ${path}`, `format ${JSON.stringify((ckpt as { format?: unknown } | null)?.format ?? null)}`);
    }
    for (const part of ['optimizer', 'scheduler', 'ema'] as const) {
      if (parts[part] && ckpt[part] === null) throw new ValueError(op, part, `the ${part}'s state in ${path}`, 'a checkpoint saved without it');
    }
    parts.model.loadStateDict(ckpt.model as Record<string, Tensor>);
    parts.optimizer?.loadStateDict(ckpt.optimizer as unknown as OptimizerStateDict);
    parts.scheduler?.loadStateDict(ckpt.scheduler as unknown as SchedulerStateDict);
    parts.ema?.loadStateDict(ckpt.ema as unknown as ModelEmaStateDict);
    defaultGenerator.setState(ckpt.rng as unknown as GeneratorState);
    const extra = ckpt.extra ?? null;
    ckpt.extra = null;                              // the caller's tensors stay alive
    return { step: ckpt.step as number, extra };
  } finally {
    disposeCheckpoint(ckpt);
  }
}
