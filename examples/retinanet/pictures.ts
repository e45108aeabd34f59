/**
 * The pictures' contract, as plots.ts offers it on the branch that moves the example's charts to
 * Vega-Lite + sharp (`example-pictures`): async functions, RGB or grayscale images, detections with
 * class names and scores. Until that branch lands this file adapts the current plots.ts and its
 * raster to that contract; once it lands, this file becomes `export * from './plots.js'` (or its
 * importers import plots.ts) and goes.
 */
import { writeFileSync } from 'node:fs';
import * as current from './plots.js';
import { BLACK, Canvas, PALETTE, type RGB } from './raster.js';
import type { TrainLog } from './train.js';

/** An image to draw on: planar C x H x W pixels in [0, 1], with its ground truth if known. */
export interface DrawnImage {
  pixels: Float32Array;
  channels: 1 | 3;
  height: number;
  width: number;
  truth?: { box: [number, number, number, number]; label: number }[];
}

/** A detection to draw. */
export interface DrawnDetection {
  box: [number, number, number, number];
  label: number;
  score: number;
}

export async function plotLossCurves(logs: readonly TrainLog[], path: string): Promise<void> {
  current.plotLossCurves(logs, path);
  return Promise.resolve();
}

export async function plotApVsGamma(points: readonly { gamma: number; alpha: number; ap: number }[], path: string): Promise<void> {
  current.plotApVsGamma(points, path);
  return Promise.resolve();
}

export async function plotFigure1(path: string): Promise<void> {
  current.plotFigure1(path);
  return Promise.resolve();
}

const TRUTH: RGB = [255, 225, 0];

/** Draws `image` (scaled by `scale`) at (x, y) of `c`, its ground truth in yellow and the detections at or above minScore. */
function drawImage(c: Canvas, x: number, y: number, scale: number, image: DrawnImage, detections: readonly DrawnDetection[], classNames: readonly string[], minScore: number): void {
  const { width: W, height: H, pixels } = image, plane = W * H;
  for (let py = 0; py < H * scale; py++) {
    for (let px = 0; px < W * scale; px++) {
      const i = Math.floor(py / scale) * W + Math.floor(px / scale);
      const rgb = [0, 1, 2].map((ch) => Math.round(255 * pixels[(image.channels === 3 ? ch : 0) * plane + i])) as unknown as RGB;
      c.setPixel(x + px, y + py, rgb);
    }
  }
  const rect = (b: readonly number[], colour: RGB, thickness: number) => c.strokeRect(x + b[0] * scale, y + b[1] * scale, (b[2] - b[0]) * scale, (b[3] - b[1]) * scale, colour, thickness);
  for (const t of image.truth ?? []) rect(t.box, TRUTH, 1);
  for (const d of detections.filter((d) => d.score >= minScore)) {
    const colour = PALETTE[d.label % PALETTE.length];
    rect(d.box, colour, 2);
    c.text(x + d.box[0] * scale + 2, y + d.box[1] * scale + 2, `${(classNames[d.label] ?? String(d.label)).toUpperCase()} ${(d.score * 100).toFixed(0)}`, colour);
  }
}

/** A grid: test images in columns, one row of detections per model. */
export async function plotDetections(rows: readonly { name: string; detections: DrawnDetection[][] }[], images: readonly DrawnImage[], classNames: readonly string[], path: string, minScore: number): Promise<void> {
  const size = Math.max(...images.map((im) => Math.max(im.width, im.height)));
  const scale = Math.max(2, Math.round(160 / size)), cell = size * scale, gap = 8, labelW = 90;
  const c = new Canvas(labelW + images.length * (cell + gap), rows.length * (cell + gap) + gap + 20);
  rows.forEach((row, r) => {
    const y = gap + r * (cell + gap);
    c.text(6, y + cell / 2 - 3, row.name.toUpperCase(), BLACK);
    images.forEach((im, i) => drawImage(c, labelW + i * (cell + gap), y, scale, im, row.detections[i] ?? [], classNames, minScore));
  });
  c.text(labelW, rows.length * (cell + gap) + gap + 4, `GROUND TRUTH YELLOW; DETECTIONS WITH SCORE >= ${minScore} (CLASS, SCORE IN %)`, BLACK);
  writeFileSync(path, c.toPng());
  return Promise.resolve();
}

/** One image with its detections drawn, as a PNG (scaled up to at least 256 pixels across). */
export async function drawDetectionsOnImage(image: DrawnImage, detections: readonly DrawnDetection[], classNames: readonly string[], minScore: number): Promise<Buffer> {
  const scale = Math.max(1, Math.round(256 / Math.max(image.width, image.height)));
  const c = new Canvas(image.width * scale, image.height * scale);
  drawImage(c, 0, 0, scale, image, detections, classNames, minScore);
  return Promise.resolve(c.toPng());
}
