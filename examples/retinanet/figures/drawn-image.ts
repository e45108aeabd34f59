/**
 * The images the detection pictures draw on, their ground truth and detections (the contract
 * between the example's data and its pictures), checked on entry and turned into PNG data.
 */
import sharp from 'sharp';
import { ShapeError, ValueError } from '@kiln/tensor';

/** A box as corners in pixels of its image: x1 <= x2, y1 <= y2 (x right, y down). */
export type DrawnBox = readonly [x1: number, y1: number, x2: number, y2: number];

/** An image to draw: planar channels × height × width values in [0, 1] (gray or RGB), with its ground truth if known. */
export interface DrawnImage {
  /** planar C × H × W, values in [0, 1] (outside it clamped when drawn) */
  pixels: Float32Array;
  channels: 1 | 3;
  height: number;
  width: number;
  /** ground-truth objects, drawn dashed in the ground-truth colour */
  truth?: { box: DrawnBox; label: number }[];
}

/** A detection to draw: its box, class (an index into the class names) and score in [0, 1]. */
export interface DrawnDetection {
  box: DrawnBox;
  label: number;
  score: number;
}

/** Checks an image against its declared size and its labels against `classCount`: typed errors naming `op` and the argument. */
export function checkImage(op: string, argument: string, image: DrawnImage, classCount: number): void {
  const { channels, height, width } = image;
  if (channels !== 1 && channels !== 3) throw new ValueError(op, `${argument}.channels`, '1 or 3', String(channels));
  for (const [name, v] of [['height', height], ['width', width]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new ValueError(op, `${argument}.${name}`, 'an integer >= 1', String(v));
  }
  if (image.pixels.length !== channels * height * width) {
    throw new ShapeError(op, `${argument}.pixels`, `channels × height × width = ${channels * height * width} values`, String(image.pixels.length));
  }
  image.truth?.forEach((t, i) => {
    checkBox(op, `${argument}.truth[${i}].box`, t.box);
    checkLabel(op, `${argument}.truth[${i}].label`, t.label, classCount);
  });
}

/** Checks that a box is four finite numbers (a NaN would reach the SVG as an attribute librsvg rejects). */
export function checkBox(op: string, argument: string, box: DrawnBox): void {
  if (box.length !== 4 || !box.every(Number.isFinite)) throw new ValueError(op, argument, 'four finite numbers [x1, y1, x2, y2]', `[${box.join(', ')}]`);
}

/** Checks that a label indexes the class names. */
export function checkLabel(op: string, argument: string, label: number, classCount: number): void {
  if (!Number.isInteger(label) || label < 0 || label >= classCount) {
    throw new ValueError(op, argument, `an integer in [0, ${classCount - 1}] (an index into classNames)`, String(label));
  }
}

/**
 * The image as a PNG, each pixel drawn as a `factor` × `factor` square (nearest-neighbour: a
 * small synthetic image stays sharp when enlarged for a picture). Gray images stay one channel.
 */
export async function imageToPng(image: DrawnImage, factor = 1): Promise<Buffer> {
  const { channels: c, height: h, width: w, pixels } = image;
  const plane = h * w;
  const interleaved = new Uint8Array(plane * c);
  for (let i = 0; i < plane; i++) {
    for (let k = 0; k < c; k++) {
      const v = pixels[k * plane + i];
      // NaN draws as black
      interleaved[i * c + k] = v > 0 ? Math.round(Math.min(1, v) * 255) : 0;
    }
  }
  let pipeline = sharp(interleaved, { raw: { width: w, height: h, channels: c } });
  if (factor !== 1) pipeline = pipeline.resize(w * factor, h * factor, { kernel: 'nearest' });
  return pipeline.png().toBuffer();
}
