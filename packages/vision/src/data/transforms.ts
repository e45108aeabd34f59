/**
 * Box-aware transforms of detection samples (torchvision's detection references): resizing and
 * flipping move the boxes with the pixels.
 */
import { type Tensor, ShapeError, Tensor as TensorClass, ValueError, arange, checkInt, checkOptionKeys, describeValue, indexSelect, tensor, tidy } from '@kiln/tensor';
import { checkBoxList } from '../ops/boxes/box-args.js';
import { type RawImage, imageToTensor } from './image.js';
import { loadSharp, toRawImage } from './sharp.js';
import type { DetectionTarget, DetectionTransform } from './sample.js';

const isTensor = (x: unknown): x is Tensor => x instanceof TensorClass;

/** (height, width) of a raw image or a [C, H, W] tensor. */
export function imageSize(image: RawImage | Tensor): [number, number] {
  if (!isTensor(image)) return [image.height, image.width];
  if (image.ndim !== 3) throw new ShapeError('imageSize', 'image', 'a tensor [C, H, W]', `[${image.shape.join(', ')}]`);
  return [image.shape[1], image.shape[2]];
}

/** The target with new boxes (the old ones disposed). */
function withBoxes(target: DetectionTarget, boxes: Tensor): DetectionTarget {
  target.boxes.dispose();
  return { ...target, boxes };
}

/**
 * Runs transforms one after another (torchvision's `Compose`).
 *
 * @example
 * ```ts
 * const pipeline = compose([resize({ minSize: 512, maxSize: 853 }), randomHorizontalFlip(0.5, { seed: 1 }), toTensor(), normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])]);
 * ```
 */
export function compose(transforms: readonly DetectionTransform[]): DetectionTransform {
  const given: unknown = transforms;   // a caller without types may pass anything
  if (!Array.isArray(given)) throw new ValueError('compose', 'transforms', 'an array of transforms', describeValue(given));
  given.forEach((t: unknown, i) => {
    if (typeof t !== 'function') throw new ValueError('compose', `transforms[${i}]`, 'a transform (a function of a sample)', describeValue(t));
  });
  return async (sample) => {
    for (const t of transforms) sample = await t(sample);
    return sample;
  };
}

/** Options of `resize`: a fixed `size`, or torchvision's detection rule (`minSize`, `maxSize`). */
export interface ResizeOptions {
  /** The output (height, width). */
  size?: [number, number];
  /** The shorter side's length (unless the longer side would pass `maxSize`). */
  minSize?: number;
  /** The longest the longer side may be (with `minSize`). */
  maxSize?: number;
  /** Resampling (default 'bilinear'): sharp's kernels linear, nearest, cubic, lanczos3. */
  interpolation?: 'bilinear' | 'nearest' | 'bicubic' | 'lanczos';
}

const kernels = { bilinear: 'linear', nearest: 'nearest', bicubic: 'cubic', lanczos: 'lanczos3' } as const;

/**
 * The output (height, width) for an image of (h, w): `size` as given, or with `minSize` the scale
 * `min(minSize / min(h, w), maxSize / max(h, w))` and sides `floor(side · scale)`
 * (torchvision's GeneralizedRCNNTransform).
 */
export function resizedSize(h: number, w: number, options: ResizeOptions): [number, number] {
  checkInt('resizedSize', 'h', h, 1);
  checkInt('resizedSize', 'w', w, 1);
  if (options.size) return options.size;
  const scale = Math.min(options.minSize! / Math.min(h, w), (options.maxSize ?? Infinity) / Math.max(h, w));
  return [Math.max(1, Math.floor(h * scale)), Math.max(1, Math.floor(w * scale))];
}

/**
 * Resizes decoded images (before `toTensor`) with sharp and scales the boxes by the same ratios
 * (x by newW / w, y by newH / h).
 *
 * @example
 * ```ts
 * const t = resize({ minSize: 512, maxSize: 853 });    // RetinaNet's test-time rule, smaller
 * const fixed = resize({ size: [512, 512] });
 * ```
 */
export function resize(options: ResizeOptions): DetectionTransform {
  const op = 'resize';
  checkOptionKeys(op, options, { size: true, minSize: true, maxSize: true, interpolation: true });
  if ((options.size === undefined) === (options.minSize === undefined)) {
    throw new ValueError(op, 'options', 'either size or minSize (with maxSize)', JSON.stringify(options));
  }
  if (options.size) {
    if (options.size.length !== 2 || !options.size.every((s) => Number.isInteger(s) && s > 0)) throw new ValueError(op, 'size', 'two positive integers [height, width]', JSON.stringify(options.size));
  } else if (!(options.minSize! > 0) || !((options.maxSize ?? Infinity) > 0)) {
    throw new ValueError(op, 'minSize', 'positive minSize (and maxSize)', `${String(options.minSize)}, ${String(options.maxSize)}`);
  }
  const kernel = kernels[options.interpolation ?? 'bilinear'];
  if (!kernel) throw new ValueError(op, 'interpolation', Object.keys(kernels).join(', '), String(options.interpolation));
  return async ({ image, target }) => {
    if (isTensor(image)) throw new ValueError(op, 'image', 'decoded pixels (resize before toTensor)', 'a tensor');
    checkBoxList(op, 'target.boxes', target.boxes);
    const [h, w] = imageSize(image);
    const [nh, nw] = resizedSize(h, w, options);
    const sharp = await loadSharp(op);
    const resized = await toRawImage(sharp(image.data, { raw: { width: w, height: h, channels: 3 } }).resize(nw, nh, { fit: 'fill', kernel }));
    const scale = tensor([nw / w, nh / h, nw / w, nh / h], { dtype: 'float32' });
    const boxes = target.boxes.mul(scale);
    scale.dispose();
    return { image: resized, target: withBoxes(target, boxes) };
  };
}

/** Mirrors an image left-right: raw pixels or a [C, H, W] tensor. */
function flipImage(image: RawImage | Tensor): RawImage | Tensor {
  if (isTensor(image)) {
    const W = image.shape[2];
    return tidy(() => indexSelect(image, 2, arange(W - 1, -1, -1, { dtype: 'int64', device: image.device })));
  }
  const { data, width: W, height: H } = image;
  const out = new Uint8Array(data.length);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const from = 3 * (y * W + x), to = 3 * (y * W + W - 1 - x);
      out[to] = data[from]!; out[to + 1] = data[from + 1]!; out[to + 2] = data[from + 2]!;
    }
  }
  return { data: out, width: W, height: H };
}

/**
 * Mirrors the image left-right and the boxes with it: (x1, x2) becomes (W - x2, W - x1).
 *
 * @example
 * ```ts
 * const flipped = await horizontalFlip()(sample);
 * ```
 */
export function horizontalFlip(): DetectionTransform {
  return ({ image, target }) => {
    // before anything is flipped: wrong boxes were an error from index_select
    checkBoxList('horizontalFlip', 'target.boxes', target.boxes);
    const W = imageSize(image)[1];
    const flipped = flipImage(image);
    if (isTensor(image)) image.dispose();
    const boxes = tidy(() => {
      const b = target.boxes;
      const swapped = indexSelect(b, 1, tensor([2, 1, 0, 3], { dtype: 'int64', device: b.device }));
      return swapped.mul(tensor([-1, 1, -1, 1], { dtype: b.dtype, device: b.device })).add(tensor([W, 0, W, 0], { dtype: b.dtype, device: b.device }));
    });
    return { image: flipped, target: withBoxes(target, boxes) };
  };
}

/** Options of `randomHorizontalFlip`. */
export interface RandomFlipOptions {
  /** Seed of the decisions (default 0). */
  seed?: number;
}

/** A hash of three integers to [0, 1) (murmur3's finaliser over a combination of them). */
function unitHash(a: number, b: number, c: number): number {
  let h = (Math.imul(a, 0x9e3779b1) ^ Math.imul(b + 0x7f4a7c15, 0x85ebca6b) ^ Math.imul(c + 1, 0xc2b2ae35)) >>> 0;
  h ^= h >>> 16; h = Math.imul(h, 0x85ebca6b); h ^= h >>> 13; h = Math.imul(h, 0xc2b2ae35); h ^= h >>> 16;
  return (h >>> 0) / 4294967296;
}

/**
 * Flips with probability `p`. The decision for the k-th sample of image id X is a hash of
 * (seed, X, k), so it does not depend on the order in which concurrent loads finish: a run with the
 * same seed flips the same images in every epoch's visit (samples without `imageId` share one
 * counter and then depend on call order).
 *
 * @example
 * ```ts
 * const t = randomHorizontalFlip(0.5, { seed: 7 });
 * ```
 */
export function randomHorizontalFlip(p = 0.5, options: RandomFlipOptions = {}): DetectionTransform {
  if (!(p >= 0 && p <= 1)) throw new ValueError('randomHorizontalFlip', 'p', 'a probability in [0, 1]', String(p));
  checkOptionKeys('randomHorizontalFlip', options, { seed: true });
  const seed = options.seed ?? 0, seen = new Map<number, number>(), flip = horizontalFlip();
  return (sample) => {
    const id = sample.target.imageId ?? -1, k = seen.get(id) ?? 0;
    seen.set(id, k + 1);
    return unitHash(seed, id, k) < p ? flip(sample) : sample;
  };
}

/**
 * Decoded pixels to a float32 [3, H, W] tensor in [0, 1]; a tensor image passes unchanged.
 *
 * @example
 * ```ts
 * const t = toTensor();
 * ```
 */
export function toTensor(): DetectionTransform {
  return ({ image, target }) => ({ image: isTensor(image) ? image : imageToTensor(image), target });
}

/**
 * `(x - mean[c]) / std[c]` per channel of a [C, H, W] tensor image (torchvision's `Normalize`).
 *
 * @example
 * ```ts
 * const t = normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]);   // ImageNet's statistics
 * ```
 */
export function normalize(mean: readonly number[], std: readonly number[]): DetectionTransform {
  if (mean.length !== std.length || mean.length === 0) throw new ValueError('normalize', 'std', `${mean.length} values, one per channel of mean`, String(std.length));
  if (std.some((s) => !(s !== 0 && Number.isFinite(s)))) throw new ValueError('normalize', 'std', 'non-zero finite values', JSON.stringify(std));
  return ({ image, target }) => {
    if (!isTensor(image)) throw new ValueError('normalize', 'image', 'a tensor (normalize after toTensor)', 'decoded pixels');
    if (image.ndim !== 3 || image.shape[0] !== mean.length) throw new ShapeError('normalize', 'image', `a tensor [${mean.length}, H, W]`, `[${image.shape.join(', ')}]`);
    const out = tidy(() => {
      const m = tensor(mean, { dtype: image.dtype, device: image.device }).reshape([-1, 1, 1]);
      const s = tensor(std, { dtype: image.dtype, device: image.device }).reshape([-1, 1, 1]);
      return image.sub(m).div(s);
    });
    image.dispose();
    return { image: out, target };
  };
}
