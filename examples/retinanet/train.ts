/**
 * Trains one RetinaNet with one classification loss. Each step draws a fresh batch of synthetic
 * images (image i of the training stream is the same for every loss compared), matches anchors to
 * objects, runs forward and backward and an Adam step, all inside `tidy` so that every tensor of
 * the step is freed when it ends: memory stays flat (the log records it).
 *
 * The batches come from a BatchPool (batch-pool.ts): worker threads make them several steps ahead
 * (`settings.workers`; 0 makes each on the main thread, while the device still runs the step before).
 * The step time reported includes everything: waiting for the batch, forward, backward, update and
 * reading the loss back.
 */
import { autocast, device, memoryStats, fromTypedArray, manualSeed, tidy } from '@kiln/tensor';
import { Adam, GradScaler, warmupCosine } from '@kiln/optim';
import { type AnchorSet, makeAnchors } from './anchors.js';
import type { Settings } from './config.js';
import { BatchPool, defaultWorkers } from './batch-pool.js';
import type { BatchSpec } from './batches.js';
import { type LossVariant, detectionLoss, targetTensors } from './loss.js';
import { RetinaNet } from './model.js';
import { parallel, rankAndWorld, releaseParallel } from './data-parallel.js';

export interface StepReport {
  step: number;
  classification: number;
  box: number;
  /** wall-clock milliseconds of this step (data, forward, backward, update, loss read-back) */
  ms: number;
}

export interface AnchorCounts {
  positives: number;
  negatives: number;
  ignored: number;
  images: number;
}

export interface TrainLog {
  variant: LossVariant;
  classification: number[];
  box: number[];
  stepMs: number[];
  /** device bytes allocated after each step (flat when nothing leaks) */
  allocated: number[];
  anchors: AnchorCounts;
  seconds: number;
}

export interface TrainedDetector {
  model: RetinaNet;
  anchors: AnchorSet;
  log: TrainLog;
}

/** A new model with the settings' seeded initial weights (the same for every variant). */
export function buildModel(s: Settings): RetinaNet {
  manualSeed(s.seed);
  return new RetinaNet(s.model).to(s.device);
}

/** Frees the gradients (zeroGrad's setToNone would leave them to the garbage collector). */
export function dropGradients(model: RetinaNet): void {
  for (const p of model.parameters()) {
    p.grad?.dispose();
    p.grad = null;
  }
}

/** What the batches of the training stream depend on (this rank's share under --nproc). */
export function batchSpecOf(s: Settings): BatchSpec {
  const { rank, world } = rankAndWorld();
  return { trainDataSeed: s.trainDataSeed, batchSize: s.batchSize, scenes: s.scenes, anchors: s.anchors, matching: s.matching, rank, world };
}

export function trainDetector(variant: LossVariant, s: Settings, onStep?: (r: StepReport) => void): TrainedDetector {
  const anchors = makeAnchors(s.scenes.imageSize, s.anchors);
  const model = buildModel(s).train();
  const trainee = parallel(model);     // DistributedDataParallel under --nproc (data-parallel.ts)
  const optimizer = new Adam(model.parameters(), { lr: s.lr });
  const schedule = warmupCosine(optimizer, { warmupIters: s.warmupSteps, totalIters: s.steps + 1 });
  const scaler = s.amp === 'fp16' ? new GradScaler() : null;
  const log: TrainLog = {
    variant, classification: [], box: [], stepMs: [], allocated: [],
    anchors: { positives: 0, negatives: 0, ignored: 0, images: 0 }, seconds: 0,
  };
  const size = s.scenes.imageSize;
  const spec = batchSpecOf(s);
  const perRank = s.batchSize / spec.world;
  const batches = new BatchPool(spec, { workers: s.workers ?? defaultWorkers(s.device) });
  const started = performance.now();
  try {
    let next = batches.take(0);
    for (let step = 0; step < s.steps; step++) {
      const t0 = performance.now();
      const { images: pixels, targets } = next;
      log.anchors.positives += targets.positives;
      log.anchors.negatives += targets.negatives;
      log.anchors.ignored += targets.ignored;
      log.anchors.images += perRank;
      const [cls, box] = tidy(() => {
        const images = fromTypedArray(pixels, [perRank, 1, size, size]).to(s.device);
        const forward = () => detectionLoss(trainee.call(images), targetTensors(targets, s.device), variant);
        const loss = s.amp ? autocast({ deviceType: device(s.device).type, dtype: s.amp === 'bf16' ? 'bfloat16' : 'float16' }, forward) : forward();
        if (scaler) {
          scaler.scale(loss.total).backward();
          scaler.step(optimizer);     // skipped when a gradient overflowed float16
          scaler.update();
        } else {
          loss.total.backward();
          optimizer.step();
        }
        dropGradients(model);
        // taken while the device still runs this step (CUDA queues kernels until the loss is read back)
        if (step + 1 < s.steps) next = batches.take(step + 1);
        return [loss.classification.item(), loss.box.item()];
      });
      schedule.step();
      const ms = performance.now() - t0;
      log.classification.push(cls);
      log.box.push(box);
      log.stepMs.push(ms);
      log.allocated.push(memoryStats(s.device).allocated);
      onStep?.({ step, classification: cls, box, ms });
    }
  } finally {
    void batches.close();     // the threads stop on their own; nothing needs to wait for them
  }
  log.seconds = (performance.now() - started) / 1000;
  // the optimizer's moments are kept across steps (outside tidy): free them with the optimizer
  for (const state of optimizer.state.values()) for (const v of Object.values(state)) if (typeof v !== 'number') v.dispose();
  releaseParallel(trainee);
  return { model: model.eval(), anchors, log };
}
