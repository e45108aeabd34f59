/** Console output: the settings, the measured imbalance and the results table. */
import type { Settings } from './config.js';
import { defaultWorkers } from './batch-pool.js';
import { CLASS_NAMES } from './data.js';
import type { VariantResult } from './experiment.js';
import type { AnchorCounts } from './train.js';

/** A plain-text table with columns padded to their widest cell (numbers right-aligned). */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const isNum = (s: string) => /^[-+]?[\d.]+%?$/.test(s);
  const line = (cells: readonly string[]) => cells.map((c, i) => (isNum(c) ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

const mean = (v: readonly number[]) => v.reduce((a, b) => a + b, 0) / Math.max(1, v.length);
/** Mean of the last tenth of a training curve. */
const finalMean = (v: readonly number[]) => mean(v.slice(-Math.max(1, Math.floor(v.length / 10))));

const workersOf = (s: Settings): string => {
  const n = s.workers ?? defaultWorkers(s.device);
  return n === 0 ? 'the main thread' : `${n} worker thread(s), ahead of use`;
};

export function describeSettings(s: Settings): string {
  const m = s.model;
  return [
    `preset ${s.preset} on ${s.device}: ${s.steps} steps x ${s.batchSize} images of ${s.scenes.imageSize}x${s.scenes.imageSize} (${s.scenes.minObjects}-${s.scenes.maxObjects} objects each), Adam lr ${s.lr} (warmup ${s.warmupSteps}, cosine)`,
    `model: width ${m.width}, ${m.headDepth} hidden conv(s) per subnet, pyramid strides [${m.strides.join(', ')}], ${m.anchorsPerLocation} anchors per position, prior pi ${m.priorProbability}`,
    `training batches made by ${workersOf(s)}`,
    `seeds: weights ${s.seed}, training images ${s.trainDataSeed}, test images ${s.testDataSeed} (${s.testImages} images)`,
  ].join('\n');
}

export function describeImbalance(a: AnchorCounts, anchorsPerImage: number, numClasses: number): string {
  const perImage = (n: number) => (n / a.images).toFixed(1);
  const elements = a.negatives * numClasses + a.positives * (numClasses - 1); // every (anchor, class) pair that is a negative
  return [
    `anchors per image: ${anchorsPerImage}; per training image on average ${perImage(a.positives)} positive, ${perImage(a.negatives)} negative, ${perImage(a.ignored)} ignored`,
    `imbalance: 1 positive anchor to ${(a.negatives / a.positives).toFixed(0)} negatives; per (anchor, class) sigmoid: 1 positive to ${(elements / a.positives).toFixed(0)} negatives`,
  ].join('\n');
}

export function resultsTable(results: readonly VariantResult[]): string {
  const header = ['loss', 'gamma', 'alpha', 'cls loss', 'box loss', 'mAP@0.5', ...CLASS_NAMES.map((c) => `AP ${c}`), 'train s', 'ms/step'];
  const rows = results.map((r) => [
    r.variant.name, String(r.variant.gamma), String(r.variant.alpha),
    finalMean(r.log.classification).toFixed(4), finalMean(r.log.box).toFixed(4),
    r.ap.mean.toFixed(3), ...r.ap.perClass.map((v) => (Number.isNaN(v) ? '-' : v.toFixed(3))),
    r.log.seconds.toFixed(1), mean(r.log.stepMs).toFixed(0),
  ]);
  return table(header, rows);
}
