/**
 * @packageDocumentation
 * `@kiln/optim`: optimizers, gradient clipping and learning-rate schedulers, in the manner of
 * PyTorch's torch.optim.
 *
 * ```ts
 * import { SGD, clipGradNorm_, warmupCosine } from '@kiln/optim';
 * const opt = new SGD(model.parameters(), { lr: 0.01, momentum: 0.9, weightDecay: 1e-4 });
 * const sched = warmupCosine(opt, { warmupIters: 500, totalIters: 90000 });
 * loss.backward();
 * clipGradNorm_(model.parameters(), 1.0);
 * opt.step();
 * opt.zeroGrad();
 * sched.step();
 * ```
 */
export { Optimizer, type LearningRate, type ParamGroup, type ParamGroupInput, type ParamState, type ParamUpdate, type OptimizerStateDict } from './optimizer.js';
export type { FusedKernel } from './fused/multi-tensor.js';
export { SGD, type SGDOptions } from './sgd.js';
export { Adam, AdamW, type AdamOptions } from './adam.js';
export { clipGradNorm_, type ClipGradNormOptions } from './clip.js';
export {
  LRScheduler, StepLR, MultiStepLR, CosineAnnealingLR, LinearLR, LinearLR as LinearWarmup, SequentialLR, warmupCosine,
  type SchedulableOptimizer, type SchedulerStateDict,
} from './scheduler.js';
export { ModelEma, type ModelEmaOptions, type ModelEmaStateDict } from './ema.js';
export { GradScaler, type GradScalerOptions, type GradScalerStateDict } from './amp/grad-scaler.js';
export { ampNonFiniteCheckAndUnscale_ } from './amp/unscale-kernel.js';
export { GradientAccumulator, type GradientAccumulatorOptions, type LossScaler } from './accumulation.js';
export { saveTrainingCheckpoint, loadTrainingCheckpoint, type TrainingParts, type TrainingProgress } from './training-checkpoint.js';
