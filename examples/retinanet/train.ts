/**
 * Trains one RetinaNet with one classification loss from one seed. Each step takes batch t of the
 * training stream (image i is the same for every loss compared), runs the model's training
 * forward (RetinaNet matches its anchors to the boxes and computes its losses on the device),
 * backward and an Adam step, all inside `tidy` so that every tensor of the step is freed when it
 * ends: memory stays flat (the log records it).
 *
 * Checkpoints: every `checkpointEvery` steps and at the end, the model, Adam, the schedule, the
 * step, the GradScaler (fp16) and the log so far go into one training checkpoint
 * (@kiln/optim's saveTrainingCheckpoint). Batch t depends only on the seeds and t, so a run
 * resumed from a checkpoint ends with exactly the weights of a run that never stopped.
 *
 * The batches come from a BatchPool (batch-pool.ts): worker threads make them several steps ahead
 * (`settings.workers`; 0 makes each on the main thread, while the device still runs the step before).
 * The step time reported includes everything: waiting for the batch, forward, backward, update and
 * reading the losses back.
 */
import { existsSync } from 'node:fs';
import { autocast, device, memoryStats, tidy } from '@kiln/tensor';
import { Adam, GradScaler, type GradScalerStateDict, loadTrainingCheckpoint, saveTrainingCheckpoint, warmupCosine } from '@kiln/optim';
import type { BackboneWithFPN, RetinaNet, RetinaNetLosses } from '@kiln/vision';
import type { DistributedDataParallel } from '@kiln/distributed';
import type { Settings } from './config.js';
import { classNamesOf } from './data.js';
import { BatchPool, defaultWorkers } from './batch-pool.js';
import { type Batch, type BatchSpec, batchTensors } from './batches.js';
import type { LossVariant } from './loss.js';
import { buildDetector } from './model.js';
import { parallel, rankAndWorld, releaseParallel } from './data-parallel.js';

export interface StepReport {
  step: number;
  classification: number;
  box: number;
  /** wall-clock milliseconds of this step (data, forward, backward, update, loss read-back) */
  ms: number;
}

export interface TrainLog {
  variant: LossVariant;
  seed: number;
  classification: number[];
  box: number[];
  stepMs: number[];
  /** device bytes allocated after each step (flat when nothing leaks) */
  allocated: number[];
  /** training seconds (of this process: a resumed run counts from where it resumed) */
  seconds: number;
  /** the step training resumed from (0: it started from the initial weights) */
  resumedFrom: number;
}

export type Detector = RetinaNet<BackboneWithFPN>;

export interface TrainedDetector {
  model: Detector;
  log: TrainLog;
}

export interface TrainOptions {
  onStep?: (r: StepReport) => void;
  /** the training checkpoint written every `checkpointEvery` steps and at the end (none: no checkpoint) */
  checkpoint?: string;
  /** steps between checkpoints (default 100) */
  checkpointEvery?: number;
  /** continue from `resumeFrom` (default `checkpoint`) when it exists */
  resume?: boolean;
  /** the checkpoint to resume from (under --nproc every rank reads rank 0's, and only rank 0 writes) */
  resumeFrom?: string;
  /** stop after this many steps (of s.steps: the schedule is the full run's), as a run that was interrupted */
  stopAfter?: number;
}

/** A new detector for a variant with the seed's initial weights (the same for every variant). */
export function buildModel(s: Settings, variant: LossVariant, seed: number): Detector {
  return buildDetector(s.model, classNamesOf(s.scenes).length, variant, seed, s.device);
}

/** Frees the gradients (zeroGrad's setToNone would leave them to the garbage collector). */
export function dropGradients(model: Detector): void {
  for (const p of model.parameters()) {
    p.grad?.dispose();
    p.grad = null;
  }
}

/** What the batches of the training stream depend on (this rank's share under --nproc). */
export function batchSpecOf(s: Settings): BatchSpec {
  const { rank, world } = rankAndWorld();
  return { trainDataSeed: s.trainDataSeed, batchSize: s.batchSize, scenes: s.scenes, rank, world };
}

/** The part of the log a checkpoint carries (as JSON: plain numbers). */
interface SavedLog { classification: number[]; box: number[]; stepMs: number[]; allocated: number[] }

export function trainDetector(variant: LossVariant, seed: number, s: Settings, o: TrainOptions = {}): TrainedDetector {
  const model = buildModel(s, variant, seed).train();
  const trainee = parallel(model);     // DistributedDataParallel under --nproc (data-parallel.ts)
  const optimizer = new Adam(model.parameters(), { lr: s.lr });
  const scheduler = warmupCosine(optimizer, { warmupIters: s.warmupSteps, totalIters: s.steps + 1 });
  const scaler = s.amp === 'fp16' ? new GradScaler() : null;
  const log: TrainLog = { variant, seed, classification: [], box: [], stepMs: [], allocated: [], seconds: 0, resumedFrom: 0 };
  let first = 0;
  const resumeFrom = o.resumeFrom ?? o.checkpoint;
  if (o.resume && resumeFrom && existsSync(resumeFrom)) {
    const { step, extra } = loadTrainingCheckpoint(resumeFrom, { model, optimizer, scheduler });
    const saved = JSON.parse((extra as { log: string }).log) as SavedLog;
    Object.assign(log, saved);
    const scalerState = (extra as { scaler?: string }).scaler;
    if (scaler && scalerState) scaler.loadStateDict(JSON.parse(scalerState) as GradScalerStateDict);
    first = log.resumedFrom = step;
  }
  const save = (step: number): void => {
    if (!o.checkpoint) return;
    const saved: SavedLog = { classification: log.classification, box: log.box, stepMs: log.stepMs, allocated: log.allocated };
    saveTrainingCheckpoint(o.checkpoint, { model, optimizer, scheduler }, step, {
      log: JSON.stringify(saved), model: JSON.stringify(s.model), variant: JSON.stringify(variant), classes: JSON.stringify(classNamesOf(s.scenes)), ...(scaler ? { scaler: JSON.stringify(scaler.stateDict()) } : {}),
    });
  };
  const last = Math.min(s.steps, o.stopAfter ?? s.steps);
  const every = o.checkpointEvery ?? 100;
  const batches = new BatchPool(batchSpecOf(s), { workers: s.workers ?? defaultWorkers(s.device) }, first);
  const started = performance.now();
  try {
    let next = first < last ? batches.take(first) : null;
    for (let step = first; step < last; step++) {
      const t0 = performance.now();
      const batch = next!;
      const [cls, box] = trainOnBatch({ model, trainee, optimizer, scaler, settings: s }, batch, () => {
        // taken while the device still runs this step (CUDA queues kernels until the loss is read back)
        if (step + 1 < last) next = batches.take(step + 1);
      });
      scheduler.step();
      const ms = performance.now() - t0;
      log.classification.push(cls);
      log.box.push(box);
      log.stepMs.push(ms);
      log.allocated.push(memoryStats(s.device).allocated);
      o.onStep?.({ step, classification: cls, box, ms });
      if ((step + 1) % every === 0 || step + 1 === last) save(step + 1);
    }
  } finally {
    void batches.close();     // the threads stop on their own; nothing needs to wait for them
  }
  log.seconds = (performance.now() - started) / 1000;
  // the optimizer's moments are kept across steps (outside tidy): free them with the optimizer
  optimizer.disposeState();
  releaseParallel(trainee);
  return { model: model.eval(), log };
}

/** What one training step works with (trainOnBatch). */
export interface StepParts {
  model: Detector;
  /** the model, or its DistributedDataParallel wrapper under --nproc */
  trainee: Detector | DistributedDataParallel<Detector>;
  optimizer: Adam;
  /** --amp fp16's loss scaler (null otherwise) */
  scaler: GradScaler | null;
  settings: Settings;
}

/**
 * One training step on a batch, inside `tidy` (every tensor of the step is freed when it ends):
 * upload, the training forward (RetinaNet's losses; in an autocast scope with --amp), backward,
 * the optimizer's step (through the GradScaler with fp16), gradients freed. `whileQueued` runs
 * after the step's work is queued and before the losses are read back (on CUDA, while the device
 * still runs the step). Returns the classification and box losses.
 */
export function trainOnBatch(p: StepParts, batch: Batch, whileQueued?: () => void): [classification: number, box: number] {
  const s = p.settings;
  const [classification, box] = tidy(() => {
    const { images, targets } = batchTensors(batch, s.scenes.imageSize, s.device);
    // in training mode RetinaNet's forward returns its losses
    const forward = () => p.trainee.call(images, targets) as RetinaNetLosses;
    const losses = s.amp ? autocast({ deviceType: device(s.device).type, dtype: s.amp === 'bf16' ? 'bfloat16' : 'float16' }, forward) : forward();
    const total = losses.classification.add(losses.bboxRegression);
    if (p.scaler) {
      p.scaler.scale(total).backward();
      p.scaler.step(p.optimizer);     // skipped when a gradient overflowed float16
      p.scaler.update();
    } else {
      total.backward();
      p.optimizer.step();
    }
    dropGradients(p.model);
    return [losses.classification, losses.bboxRegression];
  });
  // the losses are read after the scope has freed the step's other tensors: the frees then overlap
  // the GPU's work on the step instead of following it (reading waits for the GPU; with --amp fp16
  // the GradScaler's step has already waited, inside the scope)
  try {
    whileQueued?.();
    return [classification.item(), box.item()];
  } finally {
    classification.dispose();
    box.dispose();
  }
}

/** Frees a trained detector's weights and buffers. */
export function disposeDetector(model: Detector): void {
  for (const t of [...model.parameters(), ...model.buffers()]) t.dispose();
  model.anchorGenerator.clearCache();   // the anchors it keeps between steps
}
