/**
 * The example's pictures, as PNG files: training-loss curves, AP against gamma, the paper's
 * Figure 1 (focal loss against the probability of the true class) and test images with their
 * detections.
 */
import { fromTypedArray, tidy, toTypedArray } from '@kiln/tensor';
import { sigmoidFocalLoss } from '@kiln/losses';
import { drawChart, type Series } from './chart.js';
import { CLASS_NAMES, type Scene } from './data.js';
import type { Detection } from './evaluate.js';
import { BLACK, Canvas, GREY, PALETTE, type RGB } from './raster.js';
import type { TrainLog } from './train.js';

/** Mean of each window of `w` consecutive values, as [step, mean] points at the window's end. */
function smooth(values: readonly number[], w: number): [number, number][] {
  const out: [number, number][] = [];
  let sum = 0;
  values.forEach((v, i) => {
    sum += v;
    if (i >= w) sum -= values[i - w];
    if (i >= w - 1) out.push([i + 1, sum / w]);
  });
  return out;
}

/** Classification and box loss per training step (moving average), one curve per loss, log scale. */
export function plotLossCurves(logs: readonly TrainLog[], path: string): void {
  const c = new Canvas(1000, 400);
  const steps = logs[0]?.classification.length ?? 0;
  const w = Math.max(1, Math.round(steps / 25));
  const series = (pick: (l: TrainLog) => number[]): Series[] =>
    logs.map((l, i) => ({ name: l.variant.name, color: PALETTE[i % PALETTE.length], points: smooth(pick(l), w) }));
  drawChart(c, 0, 0, 500, 400, {
    title: 'CLASSIFICATION LOSS', xLabel: `STEP (MEAN OF ${w})`, yLabel: 'LOSS / POSITIVE ANCHORS', logY: true,
    series: series((l) => l.classification),
  });
  drawChart(c, 500, 0, 500, 400, {
    title: 'BOX LOSS (SMOOTH L1)', xLabel: `STEP (MEAN OF ${w})`, yLabel: 'LOSS / POSITIVE ANCHORS', logY: true,
    series: series((l) => l.box),
  });
  c.save(path);
}

/** mAP at IoU 0.5 against gamma (the sweep). */
export function plotApVsGamma(points: readonly { gamma: number; alpha: number; ap: number }[], path: string): void {
  const c = new Canvas(560, 400);
  drawChart(c, 0, 0, 560, 400, {
    title: 'AP50 AGAINST GAMMA', xLabel: 'GAMMA (ALPHA AS IN THE PAPER, TABLE 1B)', yLabel: 'MAP AT IOU 0.5',
    xRange: [-0.25, 5.25], yRange: [0, 1], legend: 'bottom-right',
    series: [{ name: 'FOCAL LOSS', color: PALETTE[0], points: points.map((p) => [p.gamma, p.ap]), dots: true, labelDecimals: 3 }],
  });
  c.save(path);
}

/**
 * Figure 1 of the paper: FL(p_t) = -(1 - p_t)^gamma log(p_t) against p_t, computed by the
 * library's own sigmoid focal loss (a positive target, logit log(p / (1 - p)), alpha disabled).
 */
export function focalLossCurve(gamma: number, probabilities: readonly number[]): number[] {
  return tidy(() => {
    const logits = Float32Array.from(probabilities, (p) => Math.log(p / (1 - p)));
    const x = fromTypedArray(logits, [logits.length, 1]);
    const ones = fromTypedArray(new Float32Array(logits.length).fill(1), [logits.length, 1]);
    return [...(toTypedArray(sigmoidFocalLoss(x, ones, { gamma, alpha: -1, reduction: 'none' })) as Float32Array)];
  });
}

export function plotFigure1(path: string): void {
  const p = Array.from({ length: 199 }, (_, i) => (i + 1) / 200);
  const c = new Canvas(560, 420);
  drawChart(c, 0, 0, 560, 420, {
    title: 'FOCAL LOSS (FIGURE 1)', xLabel: 'PROBABILITY OF GROUND TRUTH CLASS', yLabel: 'LOSS',
    xRange: [0, 1], yRange: [0, 5], shade: { from: 0.6, to: 1, caption: 'WELL-CLASSIFIED' },
    series: [0, 0.5, 1, 2, 5].map((gamma, i) => {
      const loss = focalLossCurve(gamma, p);
      return { name: `GAMMA = ${gamma}`, color: PALETTE[i], points: p.map((pt, j) => [pt, loss[j]] as [number, number]) };
    }),
  });
  c.save(path);
}

const GROUND_TRUTH_COLOR: RGB = [255, 225, 0];

/**
 * A grid of test images (columns) with each model's detections above `minScore` (rows): ground
 * truth in yellow, detections in their class's colour.
 */
export function plotDetections(rows: readonly { name: string; detections: Detection[][] }[], scenes: readonly Scene[], imageSize: number, path: string, minScore = 0.3): void {
  const scale = Math.max(2, Math.round(128 / imageSize)), cell = imageSize * scale, gap = 8, labelW = 90, captionH = 36;
  const cols = scenes.length;
  const c = new Canvas(labelW + cols * (cell + gap), rows.length * (cell + gap) + captionH + gap);
  rows.forEach((row, r) => {
    const y = gap + r * (cell + gap);
    c.text(6, y + cell / 2 - 3, row.name, BLACK);
    scenes.forEach((scene, i) => {
      const x = labelW + i * (cell + gap);
      c.drawGray(scene.pixels, imageSize, imageSize, x, y, scale);
      for (const o of scene.objects) {
        const [x1, y1, x2, y2] = o.box.map((v) => v * scale) as [number, number, number, number];
        c.strokeRect(x + x1, y + y1, x2 - x1, y2 - y1, GROUND_TRUTH_COLOR, 1);
      }
      for (const d of row.detections[i].filter((d) => d.score >= minScore)) {
        const [x1, y1, x2, y2] = d.box.map((v) => v * scale) as [number, number, number, number];
        const color = PALETTE[d.label % PALETTE.length];
        c.strokeRect(x + x1, y + y1, x2 - x1, y2 - y1, color, 2);
        c.text(x + x1 + 2, y + y1 + 2, (d.score * 100).toFixed(0), color);
      }
    });
  });
  const ly = rows.length * (cell + gap) + gap + 4;
  let lx = labelW;
  const legend: [string, RGB][] = [['GROUND TRUTH', GROUND_TRUTH_COLOR], ...CLASS_NAMES.map((n, k) => [n, PALETTE[k % PALETTE.length]] as [string, RGB])];
  for (const [name, color] of legend) {
    c.fillRect(lx, ly, 14, 7, color);
    c.text(lx + 18, ly, name, BLACK);
    lx += Canvas.textWidth(name) + 36;
  }
  c.text(labelW, ly + 14, `DETECTIONS WITH SCORE >= ${minScore} (SCORE IN %)`, GREY);
  c.save(path);
}
