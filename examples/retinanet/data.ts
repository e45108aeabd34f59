/**
 * The synthetic detection task: RGB square images (3 x S x S, planar, values in [0, 1]) of a
 * cluttered, textured, noisy background with objects of six shapes — rectangle, ellipse, triangle,
 * cross, ring and diamond, told apart by shape, not colour (every object takes a random colour) —
 * from small to large for the image and from 1 to `maxObjects` per image, plus distractors that
 * are no object (strokes, specks and soft blobs), which the detector must learn to ignore. Every
 * image is a function of (seed, index) alone: see rng.ts.
 *
 * Most of each image is background, so almost every anchor is a negative: the
 * foreground/background imbalance that focal loss is about (the run prints it).
 */
import { Rng } from './rng.js';

export const CLASS_NAMES = ['rectangle', 'ellipse', 'triangle', 'cross', 'ring', 'diamond'] as const;
export const NUM_CLASSES = CLASS_NAMES.length;

/**
 * The classes a task draws (the first `classes` of CLASS_NAMES): the model has one output per
 * class drawn, and COCO evaluation lists these categories.
 */
export function classNamesOf(scenes: { classes?: number }): readonly string[] {
  return CLASS_NAMES.slice(0, scenes.classes ?? NUM_CLASSES);
}

/** A box as corners in pixels: x1 < x2, y1 < y2 (x right, y down). */
export type Box = readonly [x1: number, y1: number, x2: number, y2: number];

export interface GroundTruth {
  box: Box;
  /** 0 .. NUM_CLASSES - 1 */
  label: number;
}

export interface Scene {
  /** C * S * S intensities, planar (this task's: C = 3, all of R, then G, then B), each plane row-major */
  pixels: Float32Array;
  objects: GroundTruth[];
}

export interface SceneOptions {
  /** side S of the square image in pixels */
  imageSize: number;
  /** number of objects per image, drawn uniformly in [min, max] */
  minObjects: number;
  maxObjects: number;
  /** object sides in pixels: drawn log-uniformly in [minSide, maxSide] (small to large for the image) */
  minSide: number;
  maxSide: number;
  /** the classes drawn: the first `classes` of CLASS_NAMES (default all six) */
  classes?: number;
  /** the most distractors per image (strokes, specks, faint blobs; default 6) */
  maxDistractors?: number;
  /** scale of the background's gradient and plane-wave texture (default 1; 0: a flat base colour) */
  texture?: number;
}

/** Standard deviation of the per-pixel (uniform) noise. */
const NOISE = 0.04;
/** The most distractors per image of the full task (`SceneOptions.maxDistractors` lowers it). */
export const MAX_DISTRACTORS = 6;
/** Objects may overlap a little, never more than this IoU with an earlier one. */
const MAX_OVERLAP_IOU = 0.2;
/** Each pixel's coverage is sampled on a SUPERSAMPLE x SUPERSAMPLE grid (anti-aliased edges). */
const SUPERSAMPLE = 3;

export function boxIou(a: Box, b: Box): number {
  const iw = Math.min(a[2], b[2]) - Math.max(a[0], b[0]);
  const ih = Math.min(a[3], b[3]) - Math.max(a[1], b[1]);
  if (iw <= 0 || ih <= 0) return 0;
  const inter = iw * ih;
  return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter);
}

/**
 * Whether point (u, v), in coordinates where the shape's box is [-1, 1] x [-1, 1], is inside the
 * shape of class `label`. Every shape touches all four sides of its box, so the box is tight.
 */
function inside(label: number, u: number, v: number): boolean {
  const au = Math.abs(u), av = Math.abs(v);
  if (au > 1 || av > 1) return false;
  switch (label) {
    case 0: return true;                                            // rectangle
    case 1: return u * u + v * v <= 1;                              // ellipse
    case 2: return au <= (v + 1) / 2;                               // triangle, apex up
    case 3: return au <= 0.3 || av <= 0.3;                          // cross (+)
    case 4: { const r = u * u + v * v; return r <= 1 && r >= 0.36; } // ring (inner radius 0.6)
    case 5: return au + av <= 1;                                    // diamond
    default: throw new RangeError(`inside: unknown class ${label}`);
  }
}

type Rgb = [number, number, number];

/**
 * Blends `colour` over the pixels inside the shape, by each pixel's coverage times `opacity`. A
 * pixel's coverage is sampled on a SUPERSAMPLE x SUPERSAMPLE grid; for a `solid` shape (no part
 * thinner than a pixel) a pixel whose four corners are all inside (or all outside) is taken as
 * wholly inside (outside) and only the pixels on its outline are sampled, which makes large
 * shapes several times cheaper to draw.
 */
function paint(pixels: Float32Array, size: number, box: Box, covers: (u: number, v: number) => boolean, colour: Rgb, opacity: number, solid = true): void {
  const [x1, y1, x2, y2] = box;
  const cx = (x1 + x2) / 2, cy = (y1 + y2) / 2, hw = (x2 - x1) / 2, hh = (y2 - y1) / 2;
  const px0 = Math.max(0, Math.floor(x1)), px1 = Math.min(size, Math.ceil(x2));
  const py0 = Math.max(0, Math.floor(y1)), py1 = Math.min(size, Math.ceil(y2));
  const W = px1 - px0, H = py1 - py0;
  if (W <= 0 || H <= 0) return;
  const at = (x: number, y: number) => covers((x - cx) / hw, (y - cy) / hh);
  // the pixels' corners, (W + 1) x (H + 1), each evaluated once
  const corners = solid ? new Uint8Array((W + 1) * (H + 1)) : null;
  if (corners) for (let j = 0; j <= H; j++) for (let i = 0; i <= W; i++) corners[j * (W + 1) + i] = at(px0 + i, py0 + j) ? 1 : 0;
  const plane = size * size;
  for (let j = 0; j < H; j++) {
    for (let i = 0; i < W; i++) {
      const px = px0 + i, py = py0 + j;
      let coverage: number;
      const k = j * (W + 1) + i;
      const inCorners = corners ? corners[k] + corners[k + 1] + corners[k + W + 1] + corners[k + W + 2] : -1;
      if (inCorners === 0) continue;
      if (inCorners === 4) coverage = 1;
      else {
        let hits = 0;
        for (let sy = 0; sy < SUPERSAMPLE; sy++) {
          for (let sx = 0; sx < SUPERSAMPLE; sx++) if (at(px + (sx + 0.5) / SUPERSAMPLE, py + (sy + 0.5) / SUPERSAMPLE)) hits++;
        }
        coverage = hits / (SUPERSAMPLE * SUPERSAMPLE);
      }
      const a = opacity * coverage;
      for (let c = 0; c < 3; c++) {
        const idx = c * plane + py * size + px;
        pixels[idx] += a * (colour[c] - pixels[idx]);
      }
    }
  }
}

const randomColour = (rng: Rng): Rgb => [rng.next(), rng.next(), rng.next()];

/** A colour at least `min` away (Euclidean, in RGB) from `from`: objects stand out of their background, by more or less. */
function contrastingColour(rng: Rng, from: Rgb, min: number): Rgb {
  for (let tries = 0; tries < 20; tries++) {
    const c = randomColour(rng);
    if (Math.hypot(c[0] - from[0], c[1] - from[1], c[2] - from[2]) >= min) return c;
  }
  return from.map((v) => (v < 0.5 ? 1 : 0)) as Rgb;
}

/**
 * The background: a base colour with a linear gradient and two random plane waves (a texture of
 * stripes at random angles and periods), in every channel with its own amplitude.
 */
function paintBackground(pixels: Float32Array, S: number, rng: Rng, texture: number): Rgb {
  const base = randomColour(rng).map((v) => 0.15 + 0.7 * v) as Rgb;
  const gradient = [texture * rng.uniform(-0.3, 0.3), texture * rng.uniform(-0.3, 0.3)];
  const waves = Array.from({ length: 2 }, () => {
    const angle = rng.uniform(0, Math.PI), period = rng.uniform(3, S / 2);
    return { kx: (Math.cos(angle) * 2 * Math.PI) / period, ky: (Math.sin(angle) * 2 * Math.PI) / period, phase: rng.uniform(0, 2 * Math.PI), amp: [0, 1, 2].map(() => texture * rng.uniform(0, 0.12)) };
  });
  // sin(kx·x + ky·y + phase) = sin(kx·x)·cos(ky·y + phase) + cos(kx·x)·sin(ky·y + phase): per row and column
  const [w0, w1] = waves.map((w) => ({
    amp: w.amp,
    sinX: Float64Array.from({ length: S }, (_, x) => Math.sin(w.kx * x)), cosX: Float64Array.from({ length: S }, (_, x) => Math.cos(w.kx * x)),
    sinY: Float64Array.from({ length: S }, (_, y) => Math.sin(w.ky * y + w.phase)), cosY: Float64Array.from({ length: S }, (_, y) => Math.cos(w.ky * y + w.phase)),
  }));
  // the inner loop with everything that depends on the channel or the row taken out of it (the same
  // operations in the same order as written per pixel, so the same values, several times faster)
  const { sinX: sinX0, cosX: cosX0 } = w0, { sinX: sinX1, cosX: cosX1 } = w1;
  const [gx, gy] = gradient, half = S / 2;
  for (let c = 0; c < 3; c++) {
    const b = base[c], a0 = w0.amp[c], a1 = w1.amp[c];
    for (let y = 0; y < S; y++) {
      const row = c * S * S + y * S;
      const rowTerm = gy * (y - half);
      const cosY0 = w0.cosY[y], sinY0 = w0.sinY[y], cosY1 = w1.cosY[y], sinY1 = w1.sinY[y];
      for (let x = 0; x < S; x++) {
        let v = b + (gx * (x - half) + rowTerm) / S;
        v += a0 * (sinX0[x] * cosY0 + cosX0[x] * sinY0);
        v += a1 * (sinX1[x] * cosY1 + cosX1[x] * sinY1);
        pixels[row + x] = v;
      }
    }
  }
  return base;
}

/** A stroke of width `width` from (ax, ay) to (bx, by), through paint's unit-box coordinates. */
function stroke(ax: number, ay: number, bx: number, by: number, width: number): { box: Box; covers: (u: number, v: number) => boolean } {
  const pad = width;
  const box: Box = [Math.min(ax, bx) - pad, Math.min(ay, by) - pad, Math.max(ax, bx) + pad, Math.max(ay, by) + pad];
  const cx = (box[0] + box[2]) / 2, cy = (box[1] + box[3]) / 2, hw = (box[2] - box[0]) / 2, hh = (box[3] - box[1]) / 2;
  const dx = bx - ax, dy = by - ay, len2 = dx * dx + dy * dy || 1;
  return {
    box,
    covers: (u, v) => {
      const x = cx + u * hw, y = cy + v * hh;
      const t = Math.min(1, Math.max(0, ((x - ax) * dx + (y - ay) * dy) / len2));
      return Math.hypot(x - ax - t * dx, y - ay - t * dy) <= width / 2;
    },
  };
}

/** Distractors: thin strokes (1.5 to 2.5 pixels), small specks and large soft blobs, none of them one of the classes. */
function paintDistractors(pixels: Float32Array, S: number, rng: Rng, background: Rgb, most: number): void {
  const count = rng.int(0, most);
  for (let i = 0; i < count; i++) {
    const colour = contrastingColour(rng, background, 0.3);
    const kind = rng.int(0, 2);
    if (kind === 0) {
      const ax = rng.uniform(0, S), ay = rng.uniform(0, S), len = rng.uniform(S / 6, S / 2), angle = rng.uniform(0, 2 * Math.PI);
      const s = stroke(ax, ay, ax + len * Math.cos(angle), ay + len * Math.sin(angle), rng.uniform(1.5, 2.5));
      paint(pixels, S, s.box, s.covers, colour, rng.uniform(0.5, 0.9));
    } else if (kind === 1) {
      const d = rng.uniform(1.5, 3.5), x = rng.uniform(0, S - d), y = rng.uniform(0, S - d);
      paint(pixels, S, [x, y, x + d, y + d], (u, v) => u * u + v * v <= 1, colour, rng.uniform(0.5, 0.9), false);
    } else {
      const d = rng.uniform(S / 5, S / 2), x = rng.uniform(-d / 2, S - d / 2), y = rng.uniform(-d / 2, S - d / 2);
      paint(pixels, S, [x, y, x + d, y + d], (u, v) => u * u + v * v <= 1, colour, rng.uniform(0.15, 0.3));
    }
  }
}

/** Image `index` of the data set `seed`. */
export function makeScene(seed: number, index: number, opts: SceneOptions): Scene {
  const S = opts.imageSize;
  if (!(opts.minSide >= 4 && opts.maxSide >= opts.minSide && opts.maxSide <= S)) {
    throw new RangeError(`makeScene: expected 4 <= minSide <= maxSide <= imageSize (${S}), got minSide ${opts.minSide}, maxSide ${opts.maxSide}`);
  }
  const { classes = NUM_CLASSES, maxDistractors = MAX_DISTRACTORS, texture = 1 } = opts;
  if (!(Number.isInteger(classes) && classes >= 1 && classes <= NUM_CLASSES)) throw new RangeError(`makeScene: expected classes an integer in [1, ${NUM_CLASSES}], got ${classes}`);
  if (!(Number.isInteger(maxDistractors) && maxDistractors >= 0)) throw new RangeError(`makeScene: expected maxDistractors an integer >= 0, got ${maxDistractors}`);
  if (!(texture >= 0 && Number.isFinite(texture))) throw new RangeError(`makeScene: expected texture a finite number >= 0, got ${texture}`);
  const rng = Rng.forItem(seed, index);
  const pixels = new Float32Array(3 * S * S);
  const background = paintBackground(pixels, S, rng, texture);
  paintDistractors(pixels, S, rng, background, maxDistractors);

  const objects: GroundTruth[] = [];
  const count = rng.int(opts.minObjects, opts.maxObjects);
  for (let tries = 0; objects.length < count && tries < 50; tries++) {
    const side = Math.exp(rng.uniform(Math.log(opts.minSide), Math.log(opts.maxSide)));
    const aspect = Math.exp(rng.uniform(Math.log(2 / 3), Math.log(3 / 2))); // width / height
    const w = Math.min(S, side * Math.sqrt(aspect)), h = Math.min(S, side / Math.sqrt(aspect));
    const x1 = rng.uniform(0, S - w), y1 = rng.uniform(0, S - h);
    const box: Box = [x1, y1, x1 + w, y1 + h];
    if (objects.some((o) => boxIou(o.box, box) > MAX_OVERLAP_IOU)) continue;
    const label = rng.int(0, classes - 1);
    objects.push({ box, label });
    paint(pixels, S, box, (u, v) => inside(label, u, v), contrastingColour(rng, background, 0.45), rng.uniform(0.85, 1));
  }
  // uniform noise of standard deviation NOISE (half-width NOISE·√3): one draw per value, cheaper than a normal's
  rng.addUniformNoise(pixels, NOISE * Math.sqrt(3));
  return { pixels, objects };
}

/** Images start .. start + count - 1 of the data set `seed`. */
export function makeScenes(seed: number, start: number, count: number, opts: SceneOptions): Scene[] {
  return Array.from({ length: count }, (_, i) => makeScene(seed, start + i, opts));
}

/** The pixels of `scenes` packed one after the other: one [N, C, S, S] batch of images of C planes each. */
export function packImages(scenes: readonly Scene[]): Float32Array {
  const out = new Float32Array(scenes.reduce((n, s) => n + s.pixels.length, 0));
  let at = 0;
  for (const s of scenes) {
    out.set(s.pixels, at);
    at += s.pixels.length;
  }
  return out;
}
