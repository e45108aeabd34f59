/**
 * The whole comparison: for each seed, train one RetinaNet per classification loss on the same
 * images from the same initial weights, detect on held-out images, score them with COCO's
 * metrics, and write the pictures, the checkpoints and a JSON record of the results into the
 * output folder.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CocoMetrics } from '@kiln/vision';
import type { Settings } from './config.js';
import { type Scene, classNamesOf, makeScenes } from './data.js';
import { type CocoScores, type Detection, cocoGroundTruth, detect, scoreDetections } from './evaluate.js';
import { BALANCED_CE, CROSS_ENTROPY, FOCAL, GAMMA_SWEEP, type LossVariant } from './loss.js';
import { type DrawnImage, plotApVsGamma, plotDetections, plotFigure1, plotLossCurves } from './plots.js';
import type { Progress } from './progress.js';
import { type StepReport, type TrainLog, disposeDetector, trainDetector } from './train.js';

export interface ExperimentOptions {
  settings: Settings;
  /** also train the gamma sweep (paper, Table 1b) */
  sweep?: boolean;
  /**
   * the losses trained (default the three compared: focal, ce, ce-alpha); those of the gamma sweep
   * (fl-g0 ...) train as part of the sweep without `sweep` (for runs split over processes)
   */
  losses?: readonly LossVariant[];
  /** folder for the PNGs and results.json (created if missing) */
  outDir: string;
  /** folder of the training checkpoints (default outDir; every rank reads rank 0's under --nproc) */
  checkpointDir?: string;
  /** continue each run from its checkpoint where one exists */
  resume?: boolean;
  /** whether this process writes checkpoints (rank 0 only under --nproc; default true) */
  writeCheckpoints?: boolean;
  /** a progress display per trained model (none by default) */
  progress?: (name: string, total: number) => Progress;
  /** called after each model is trained and scored */
  onResult?: (r: SeedRun) => void;
}

/** One variant trained from one seed and scored. */
export interface SeedRun {
  variant: LossVariant;
  seed: number;
  log: TrainLog;
  scores: CocoScores;
  detections: Detection[][];
  checkpoint: string;
}

/** One variant over every seed. */
export interface VariantResult {
  variant: LossVariant;
  runs: SeedRun[];
}

export interface ExperimentResult {
  /** focal loss, cross-entropy and alpha-balanced cross-entropy, in that order (those asked for) */
  comparison: VariantResult[];
  /** the gamma sweep (empty without `sweep`) */
  sweep: VariantResult[];
  files: string[];
}

/** The losses the experiment compares, in the order of its tables. */
export const COMPARED: readonly LossVariant[] = [FOCAL, CROSS_ENTROPY, BALANCED_CE];

const same = (a: LossVariant, b: LossVariant) => a.gamma === b.gamma && a.alpha === b.alpha;

/** The training checkpoint of a variant and seed. */
export const checkpointPath = (dir: string, variant: LossVariant, seed: number): string => join(dir, `checkpoint-${variant.name}-seed${seed}.safetensors`);

/** A scene as the pictures take it. */
export const drawnImage = (scene: Scene, imageSize: number): DrawnImage => ({
  pixels: scene.pixels, channels: 3, height: imageSize, width: imageSize,
  truth: scene.objects,
});

/** Mean and sample standard deviation (0 for one value) of a metric over a variant's seeds. */
export function spread(r: VariantResult, metric: keyof CocoMetrics): { mean: number; sd: number } {
  const v = r.runs.map((run) => run.scores.metrics[metric]);
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  const sd = v.length > 1 ? Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / (v.length - 1)) : 0;
  return { mean, sd };
}

export async function runExperiment(o: ExperimentOptions): Promise<ExperimentResult> {
  const s = o.settings;
  mkdirSync(o.outDir, { recursive: true });
  const ckptDir = o.checkpointDir ?? o.outDir;
  const testScenes = makeScenes(s.testDataSeed, 0, s.testImages, s.scenes);
  const gt = cocoGroundTruth(testScenes, s.scenes.imageSize, classNamesOf(s.scenes));
  const trained: SeedRun[] = [];

  const runOne = (variant: LossVariant, seed: number): SeedRun => {
    // a variant identical to one already trained (same gamma and alpha, seed and data) is reused
    const earlier = trained.find((r) => same(r.variant, variant) && r.seed === seed);
    if (earlier) return { ...earlier, variant, log: { ...earlier.log, variant } };
    const bar = o.progress?.(s.seeds.length > 1 ? `${variant.name} s${seed}` : variant.name, s.steps);
    const checkpoint = checkpointPath(ckptDir, variant, seed);
    let result;
    try {
      result = trainDetector(variant, seed, s, {
        onStep: (r: StepReport) => bar?.update(r), checkpoint: o.writeCheckpoints === false ? undefined : checkpoint,
        resume: o.resume, resumeFrom: checkpoint,
      });
    } finally {
      bar?.stop();
    }
    const detections = detect(result.model, testScenes, s);
    disposeDetector(result.model);
    const run = { variant, seed, log: result.log, scores: scoreDetections(detections, gt), detections, checkpoint };
    trained.push(run);
    o.onResult?.(run);
    return run;
  };
  const runVariant = (variant: LossVariant): VariantResult => ({ variant, runs: s.seeds.map((seed) => runOne(variant, seed)) });

  const asked = o.losses ?? COMPARED;
  const comparison = COMPARED.filter((v) => asked.includes(v)).map(runVariant);
  const sweep = GAMMA_SWEEP.filter((v) => o.sweep || asked.includes(v)).map(runVariant);

  const files: string[] = [];
  const out = (name: string) => {
    const p = join(o.outDir, name);
    files.push(p);
    return p;
  };
  const firstSeed = (r: VariantResult) => r.runs[0];
  // (a run of sweep variants alone, one share of a split experiment, has no comparison to draw)
  if (comparison.length > 0) await plotLossCurves(comparison.map((r) => firstSeed(r).log), out('loss-curves.png'));
  await plotFigure1(out('focal-loss-figure1.png'));
  if (comparison.length > 0) {
    const shown = testScenes.slice(0, 6);
    await plotDetections(
      comparison.map((r) => ({ name: r.variant.name, detections: firstSeed(r).detections.slice(0, shown.length) })),
      // one pixel per unit of the drawing: the noisy images compress poorly, and at 2 the file was ~1 MB
      shown.map((sc) => drawnImage(sc, s.scenes.imageSize)), classNamesOf(s.scenes), out('detections.png'), 0.3, 1,
    );
  }
  if (sweep.length > 0) {
    await plotApVsGamma(sweep.map((r) => ({ gamma: r.variant.gamma, alpha: r.variant.alpha, ap: spread(r, 'ap').mean })), out('ap-vs-gamma.png'));
    await plotLossCurves(sweep.map((r) => firstSeed(r).log), out('sweep-loss-curves.png'));
  }
  const summary = (r: VariantResult) => ({
    variant: r.variant,
    ap: spread(r, 'ap'), ap50: spread(r, 'ap50'),
    runs: r.runs.map((run) => ({
      seed: run.seed, metrics: run.scores.metrics, apPerClass: Object.fromEntries(classNamesOf(s.scenes).map((c, k) => [c, run.scores.apPerClass[k]])),
      trainSeconds: run.log.seconds, meanStepMs: run.log.stepMs.reduce((a, b) => a + b, 0) / Math.max(1, run.log.stepMs.length),
      resumedFrom: run.log.resumedFrom, classificationLoss: run.log.classification, boxLoss: run.log.box, checkpoint: run.checkpoint,
    })),
  });
  writeFileSync(out('results.json'), JSON.stringify({ settings: s, comparison: comparison.map(summary), sweep: sweep.map(summary) }, null, 1));
  return { comparison, sweep, files };
}
