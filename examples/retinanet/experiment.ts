/**
 * The whole comparison: train one RetinaNet per classification loss on the same images from the
 * same initial weights, detect on held-out images, score AP, and write the pictures and a JSON
 * record of the results into the output folder.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Settings } from './config.js';
import { CLASS_NAMES, type Scene, makeScenes } from './data.js';
import { type ApResult, type Detection, averagePrecision, detect } from './evaluate.js';
import { BALANCED_CE, CROSS_ENTROPY, FOCAL, GAMMA_SWEEP, type LossVariant } from './loss.js';
import { type DrawnImage, plotApVsGamma, plotDetections, plotFigure1, plotLossCurves } from './plots.js';
import type { Progress } from './progress.js';
import { type StepReport, type TrainLog, trainDetector } from './train.js';

export interface ExperimentOptions {
  settings: Settings;
  /** also train the gamma sweep (paper, Table 1b) */
  sweep?: boolean;
  /** folder for the PNGs and results.json (created if missing) */
  outDir: string;
  /** a progress display per trained model (none by default) */
  progress?: (name: string, total: number) => Progress;
  /** called after each model is trained and scored */
  onResult?: (r: VariantResult) => void;
}

export interface VariantResult {
  variant: LossVariant;
  log: TrainLog;
  ap: ApResult;
  detections: Detection[][];
}

export interface ExperimentResult {
  /** focal loss, cross-entropy and alpha-balanced cross-entropy, in that order */
  comparison: VariantResult[];
  /** the gamma sweep (empty without `sweep`) */
  sweep: VariantResult[];
  files: string[];
}

const same = (a: LossVariant, b: LossVariant) => a.gamma === b.gamma && a.alpha === b.alpha;

/** A scene as the pictures take images: one gray channel, its objects as ground truth. */
const drawnImage = (scene: Scene, size: number): DrawnImage => ({ pixels: scene.pixels, channels: 1, height: size, width: size, truth: scene.objects });

export async function runExperiment(o: ExperimentOptions): Promise<ExperimentResult> {
  const s = o.settings;
  mkdirSync(o.outDir, { recursive: true });
  const testScenes = makeScenes(s.testDataSeed, 0, s.testImages, s.scenes);
  const trained: VariantResult[] = [];

  const run = (variant: LossVariant): VariantResult => {
    // a variant identical to one already trained (same gamma and alpha, seeds and data) is reused
    const earlier = trained.find((r) => same(r.variant, variant));
    if (earlier) return { ...earlier, variant, log: { ...earlier.log, variant } };
    const bar = o.progress?.(variant.name, s.steps);
    let trainedModel;
    try {
      trainedModel = trainDetector(variant, s, (r: StepReport) => bar?.update(r));
    } finally {
      bar?.stop();
    }
    const detections = detect(trainedModel.model, testScenes, trainedModel.anchors, s);
    for (const p of trainedModel.model.parameters()) p.dispose();
    const result = { variant, log: trainedModel.log, ap: averagePrecision(detections, testScenes, 0.5), detections };
    trained.push(result);
    o.onResult?.(result);
    return result;
  };

  const comparison = [FOCAL, CROSS_ENTROPY, BALANCED_CE].map(run);
  const sweep = o.sweep ? GAMMA_SWEEP.map(run) : [];

  const files: string[] = [];
  const out = (name: string) => {
    const p = join(o.outDir, name);
    files.push(p);
    return p;
  };
  await plotLossCurves(comparison.map((r) => r.log), out('loss-curves.png'));
  await plotFigure1(out('focal-loss-figure1.png'));
  const shown = testScenes.slice(0, 6).map((scene) => drawnImage(scene, s.scenes.imageSize));
  await plotDetections(comparison.map((r) => ({ name: r.variant.name, detections: r.detections.slice(0, shown.length) })), shown, CLASS_NAMES, out('detections.png'));
  if (sweep.length > 0) {
    await plotApVsGamma(sweep.map((r) => ({ gamma: r.variant.gamma, alpha: r.variant.alpha, ap: r.ap.mean })), out('ap-vs-gamma.png'));
    await plotLossCurves(sweep.map((r) => r.log), out('sweep-loss-curves.png'));
  }
  const summary = (r: VariantResult) => ({
    variant: r.variant, mAP50: r.ap.mean, ap50PerClass: r.ap.perClass,
    trainSeconds: r.log.seconds, meanStepMs: r.log.stepMs.reduce((a, b) => a + b, 0) / r.log.stepMs.length,
    classificationLoss: r.log.classification, boxLoss: r.log.box, anchors: r.log.anchors,
  });
  writeFileSync(out('results.json'), JSON.stringify({ settings: s, comparison: comparison.map(summary), sweep: sweep.map(summary) }, null, 1));
  return { comparison, sweep, files };
}
