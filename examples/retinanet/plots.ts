/**
 * The example's pictures, as PNG files: training-loss curves, AP against gamma, the paper's
 * Figure 1 and test images with their detections. Charts are Vega-Lite specs (one file each in figures/)
 * rendered to SVG by Vega; detections are SVG composed here; sharp turns both into PNG.
 */
import { writeFile } from 'node:fs/promises';
import type { TopLevelSpec } from 'vega-lite';
import { annotatedImageSvg } from './figures/annotated-image.js';
import { type GammaPoint, apVsGammaSpec } from './figures/ap-vs-gamma.js';
import { type DetectionRow, detectionsGridSvg } from './figures/detections-grid.js';
import type { DrawnDetection, DrawnImage } from './figures/drawn-image.js';
import { figure1Spec } from './figures/figure1.js';
import { lossCurvesSpec } from './figures/loss-curves.js';
import { svgToPng } from './figures/svg-png.js';
import { vegaLiteToSvg } from './figures/vega-svg.js';
import type { TrainLog } from './train.js';

export type { DrawnBox, DrawnDetection, DrawnImage } from './figures/drawn-image.js';

/** Detections scoring below this are left out of the pictures unless the caller says otherwise. */
const MIN_SCORE = 0.3;

async function writeChart(spec: TopLevelSpec, path: string): Promise<void> {
  await writeFile(path, await svgToPng(await vegaLiteToSvg(spec)));
}

/**
 * Classification and box loss per training step (moving mean, log y), one line per variant.
 *
 * @example
 * ```ts
 * await plotLossCurves(result.comparison.map((r) => r.log), 'out/loss-curves.png');
 * ```
 */
export async function plotLossCurves(logs: readonly TrainLog[], path: string, options: { bySeed?: boolean } = {}): Promise<void> {
  await writeChart(lossCurvesSpec(logs, options), path);
}

/** COCO AP (IoU 0.50:0.95) against gamma (the sweep, the paper's Table 1b). */
export async function plotApVsGamma(points: readonly GammaPoint[], path: string): Promise<void> {
  await writeChart(apVsGammaSpec(points), path);
}

/** The paper's Figure 1, computed with `sigmoidFocalLoss`. */
export async function plotFigure1(path: string): Promise<void> {
  await writeChart(figure1Spec(), path);
}

/**
 * A grid of test images (columns) with each model's detections scoring at least `minScore`
 * (rows): ground truth dashed in yellow, detections in their class's colour, labelled with the
 * class name and score. `rows[r].detections[i]` are model r's detections on `images[i]`.
 * `renderScale`: pixels per unit of the drawing (cells are 160 units square); 1 makes a file a
 * quarter the size of 2's, for noisy images that compress poorly.
 *
 * @example
 * ```ts
 * await plotDetections([{ name: 'focal', detections }], images, ['rect', 'cross', 'ellipse'], 'out/detections.png');
 * ```
 */
export async function plotDetections(rows: readonly DetectionRow[], images: readonly DrawnImage[], classNames: readonly string[], path: string, minScore = MIN_SCORE, renderScale = 2): Promise<void> {
  await writeFile(path, await svgToPng(await detectionsGridSvg('plotDetections', rows, images, classNames, minScore, renderScale), { palette: true }));
}

/**
 * The image with its ground truth (if any) and the detections scoring at least `minScore` drawn
 * over it, as a PNG of the image's own size.
 *
 * @example
 * ```ts
 * const png = await drawDetectionsOnImage(image, detections, classNames);
 * writeFileSync('out/detected.png', png);
 * ```
 */
export async function drawDetectionsOnImage(image: DrawnImage, detections: DrawnDetection[], classNames: readonly string[], minScore = MIN_SCORE): Promise<Buffer> {
  return svgToPng(await annotatedImageSvg('drawDetectionsOnImage', image, detections, classNames, minScore));
}
