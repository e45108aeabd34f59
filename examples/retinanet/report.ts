/** Console output: the settings, the measured imbalance and the results tables. */
import type { Settings } from './config.js';
import { defaultWorkers } from './batch-pool.js';
import { CLASS_NAMES, MAX_DISTRACTORS } from './data.js';
import { type VariantResult, spread } from './experiment.js';
import { levelCount } from './model.js';
import type { AnchorCounts } from './imbalance.js';

/** A plain-text table with columns padded to their widest cell (numbers right-aligned). */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const isNum = (s: string) => /^[-+]?[\d.]+(%| ± [\d.]+)?$/.test(s) || s === '-';
  const line = (cells: readonly string[]) => cells.map((c, i) => (isNum(c) ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

const mean = (v: readonly number[]) => v.reduce((a, b) => a + b, 0) / Math.max(1, v.length);
/** Mean of the last tenth of a training curve. */
const finalMean = (v: readonly number[]) => mean(v.slice(-Math.max(1, Math.floor(v.length / 10))));
/** A metric, '-' where COCO leaves it undefined (-1: no ground truth in its range). */
const metric = (x: number) => (x < 0 ? '-' : x.toFixed(3));

const workersOf = (s: Settings): string => {
  const n = s.workers ?? defaultWorkers(s.device);
  return n === 0 ? 'the main thread' : `${n} worker thread(s), ahead of use`;
};

export function describeSettings(s: Settings): string {
  const m = s.model, sc = s.scenes;
  return [
    `preset ${s.preset} on ${s.device}: ${s.steps} steps x ${s.batchSize} RGB images of ${sc.imageSize}x${sc.imageSize} (${sc.minObjects}-${sc.maxObjects} objects of ${sc.minSide}-${sc.maxSide} px, ${sc.classes ?? CLASS_NAMES.length} of ${CLASS_NAMES.length} classes, up to ${sc.maxDistractors ?? MAX_DISTRACTORS} distractors, texture x${sc.texture ?? 1}), Adam lr ${s.lr} (warmup ${s.warmupSteps}, cosine)`,
    `model: RetinaNet on ResNet (BasicBlocks [${m.blocks.join(', ')}], ${m.baseChannels} base channels, BatchNorm) + FPN (layers ${m.returnedLayers.join(', ')}, ${m.fpnChannels} channels, ${m.extraLevels === 'p6p7' ? 'P6, P7' : 'a pooled level'}: ${levelCount(m)} levels), head ${m.headGroupNorm ? `with GroupNorm (${m.headGroupNorm} groups)` : 'without norm'}, 9 anchors per position from ${m.anchorSize} px, prior pi ${m.priorProbability}`,
    `arithmetic: ${s.amp ? `${s.amp === 'bf16' ? 'bfloat16' : 'float16'} autocast` : 'float32'}${s.tf32 ? ', float32 matmuls and convolutions on TF32 tensor cores' : ''}; training batches made by ${workersOf(s)}`,
    `seeds: weights ${s.seeds.join(', ')}, training images ${s.trainDataSeed}, test images ${s.testDataSeed} (${s.testImages} images)`,
  ].join('\n');
}

export function describeImbalance(a: AnchorCounts, numClasses: number): string {
  const perImage = (n: number) => (n / a.images).toFixed(1);
  const elements = a.negatives * numClasses + a.positives * (numClasses - 1); // every (anchor, class) pair that is a negative
  return [
    `anchors per image: ${a.anchorsPerImage}; per test image on average ${perImage(a.positives)} positive, ${perImage(a.negatives)} negative, ${perImage(a.ignored)} ignored`,
    `imbalance: 1 positive anchor to ${(a.negatives / a.positives).toFixed(0)} negatives; per (anchor, class) sigmoid: 1 positive to ${(elements / a.positives).toFixed(0)} negatives`,
  ].join('\n');
}

/** The comparison: COCO's AP and AP50 (mean ± sample standard deviation over the seeds), the other metrics' means, losses and time. */
export function resultsTable(results: readonly VariantResult[]): string {
  const seeds = results[0]?.runs.length ?? 1;
  const pm = (r: VariantResult, k: 'ap' | 'ap50') => {
    const { mean: m, sd } = spread(r, k);
    return seeds > 1 ? `${m.toFixed(3)} ± ${sd.toFixed(3)}` : m.toFixed(3);
  };
  const meanOf = (r: VariantResult, k: 'ap75' | 'apSmall' | 'apMedium' | 'ar100') => metric(mean(r.runs.map((run) => run.scores.metrics[k])));
  const header = ['loss', 'gamma', 'alpha', 'AP', 'AP50', 'AP75', 'APs', 'APm', 'AR100', 'cls loss', 'box loss', 'train s', 'ms/step'];
  const rows = results.map((r) => [
    r.variant.name, String(r.variant.gamma), String(r.variant.alpha), pm(r, 'ap'), pm(r, 'ap50'),
    meanOf(r, 'ap75'), meanOf(r, 'apSmall'), meanOf(r, 'apMedium'), meanOf(r, 'ar100'),
    mean(r.runs.map((run) => finalMean(run.log.classification))).toFixed(4), mean(r.runs.map((run) => finalMean(run.log.box))).toFixed(4),
    mean(r.runs.map((run) => run.log.seconds)).toFixed(1), mean(r.runs.map((run) => mean(run.log.stepMs))).toFixed(0),
  ]);
  return table(header, rows);
}

/** AP@[.5:.95] per class the task draws (`classNames`; mean over the seeds). */
export function perClassTable(results: readonly VariantResult[], classNames: readonly string[]): string {
  const rows = results.map((r) => [r.variant.name, ...classNames.map((_, c) => metric(mean(r.runs.map((run) => run.scores.apPerClass[c]))))]);
  return table(['loss', ...classNames], rows);
}
