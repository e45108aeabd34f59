/**
 * The training-step benchmark's images (the RetinaNet example's first synthetic task, kept as it
 * was so that the benchmark stays comparable with its earlier tables): grayscale square images (1 x S x S, values in [0, 1]) on a noisy
 * background, each with a few small shapes of three classes — rectangles, crosses and ellipses,
 * each 6 to 16 pixels across with an aspect ratio between 2/3 and 3/2 — plus a few small blobs
 * that are not objects (clutter the detector must learn to ignore). Every image is a function of
 * (seed, index): see rng.ts.
 *
 * Most of each image is background, so almost every anchor is a negative: that is the
 * foreground/background imbalance that focal loss is about (anchors.ts measures it).
 */
import { Rng } from '../../../examples/retinanet/rng.js';
import { type Box, type GroundTruth, type Scene, boxIou } from '../../../examples/retinanet/data.js';

// the example's box, ground-truth and scene types, box IoU and packing serve these scenes too (one plane each)
export { type Box, type GroundTruth, type Scene, boxIou, packImages } from '../../../examples/retinanet/data.js';

export const CLASS_NAMES = ['rect', 'cross', 'ellipse'] as const;
export const NUM_CLASSES = CLASS_NAMES.length;

export interface SceneOptions {
  /** side S of the square image in pixels */
  imageSize: number;
  /** number of objects per image, drawn uniformly in [min, max] */
  minObjects: number;
  maxObjects: number;
}

/** Shape extents in pixels, independent of the image size (a larger image has more background). */
const MIN_SIDE = 6, MAX_SIDE = 16;
/** Standard deviation of the background noise, and the number of clutter blobs per image. */
const NOISE = 0.08, MAX_CLUTTER = 3;
/** Objects may overlap a little, never more than this IoU with an earlier one. */
const MAX_OVERLAP_IOU = 0.2;
/** Each pixel's coverage is sampled on a SUPERSAMPLE x SUPERSAMPLE grid (anti-aliased edges). */
const SUPERSAMPLE = 3;

/**
 * Whether point (u, v), in coordinates where the shape's box is [-1, 1] x [-1, 1], is inside the
 * shape of class `label`.
 */
function inside(label: number, u: number, v: number): boolean {
  switch (label) {
    case 0: return Math.abs(u) <= 1 && Math.abs(v) <= 1;                          // rect
    case 1: return (Math.abs(u) <= 1 && Math.abs(v) <= 0.3) || (Math.abs(v) <= 1 && Math.abs(u) <= 0.3); // cross (+)
    case 2: return u * u + v * v <= 1;                                             // ellipse
    default: throw new RangeError(`inside: unknown class ${label}`);
  }
}

/** Adds `intensity` x coverage of the shape to the pixels inside its box. */
function paint(pixels: Float32Array, size: number, box: Box, label: number, intensity: number): void {
  const [x1, y1, x2, y2] = box;
  const cx = (x1 + x2) / 2, cy = (y1 + y2) / 2, hw = (x2 - x1) / 2, hh = (y2 - y1) / 2;
  for (let py = Math.max(0, Math.floor(y1)); py < Math.min(size, Math.ceil(y2)); py++) {
    for (let px = Math.max(0, Math.floor(x1)); px < Math.min(size, Math.ceil(x2)); px++) {
      let hits = 0;
      for (let sy = 0; sy < SUPERSAMPLE; sy++) {
        for (let sx = 0; sx < SUPERSAMPLE; sx++) {
          const x = px + (sx + 0.5) / SUPERSAMPLE, y = py + (sy + 0.5) / SUPERSAMPLE;
          if (inside(label, (x - cx) / hw, (y - cy) / hh)) hits++;
        }
      }
      pixels[py * size + px] += (intensity * hits) / (SUPERSAMPLE * SUPERSAMPLE);
    }
  }
}

/** Image `index` of the data set `seed`. */
export function makeScene(seed: number, index: number, opts: SceneOptions): Scene {
  const S = opts.imageSize;
  if (S < MAX_SIDE + 2) throw new RangeError(`makeScene: imageSize must be at least ${MAX_SIDE + 2}, got ${S}`);
  const rng = Rng.forItem(seed, index);
  const pixels = new Float32Array(S * S);
  const background = rng.uniform(0, 0.25);
  for (let i = 0; i < pixels.length; i++) pixels[i] = background + NOISE * rng.normal();

  const objects: GroundTruth[] = [];
  const count = rng.int(opts.minObjects, opts.maxObjects);
  for (let tries = 0; objects.length < count && tries < 50; tries++) {
    const side = rng.uniform(MIN_SIDE, MAX_SIDE);
    const aspect = Math.exp(rng.uniform(Math.log(2 / 3), Math.log(3 / 2))); // width / height
    const w = side * Math.sqrt(aspect), h = side / Math.sqrt(aspect);
    const x1 = rng.uniform(0, S - w), y1 = rng.uniform(0, S - h);
    const box: Box = [x1, y1, x1 + w, y1 + h];
    if (objects.some((o) => boxIou(o.box, box) > MAX_OVERLAP_IOU)) continue;
    objects.push({ box, label: rng.int(0, NUM_CLASSES - 1) });
  }
  for (const o of objects) paint(pixels, S, o.box, o.label, rng.uniform(0.5, 0.9));

  // clutter: small ellipses of 2 to 4 pixels, too small to be any class
  const clutter = rng.int(0, MAX_CLUTTER);
  for (let i = 0; i < clutter; i++) {
    const d = rng.uniform(2, 4), x = rng.uniform(0, S - d), y = rng.uniform(0, S - d);
    paint(pixels, S, [x, y, x + d, y + d], 2, rng.uniform(0.4, 0.8));
  }
  for (let i = 0; i < pixels.length; i++) pixels[i] = Math.min(1, Math.max(0, pixels[i]));
  return { pixels, objects };
}

/** Images start .. start + count - 1 of the data set `seed`. */
export function makeScenes(seed: number, start: number, count: number, opts: SceneOptions): Scene[] {
  return Array.from({ length: count }, (_, i) => makeScene(seed, start + i, opts));
}
