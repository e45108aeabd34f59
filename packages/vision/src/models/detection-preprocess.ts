/**
 * DetectionPreprocess: the input side of torchvision's `GeneralizedRCNNTransform` without its
 * resizing: normalisation and batching into one padded tensor.
 */
import { type Tensor, DTypeError, ShapeError, ValueError, cat, checkOptionKeys, isFloating, stack, tensor, zeros } from '@kiln/tensor';
import { Module } from '@kiln/nn';
import type { ImageList } from '../anchors/anchor-generator.js';

/** Options of {@link DetectionPreprocess}. */
export interface DetectionPreprocessOptions {
  /** Per-channel mean subtracted (default ImageNet's [0.485, 0.456, 0.406]). */
  imageMean?: readonly number[];
  /** Per-channel standard deviation divided by (default ImageNet's [0.229, 0.224, 0.225]). */
  imageStd?: readonly number[];
  /** The padded batch's height and width are multiples of it (default 32: the coarsest stride of a ResNet-FPN). */
  sizeDivisible?: number;
}

/** `x` padded with zeros at the end of dim `d` to `size`. */
function padTo(x: Tensor, d: number, size: number): Tensor {
  const have = x.shape[d];
  if (have === size) return x;
  const shape = [...x.shape];
  shape[d] = size - have;
  return cat([x, zeros(shape, { dtype: x.dtype, device: x.device })], d);
}

/**
 * Normalises images ((x - mean) / std per channel) and batches them into one zero-padded tensor
 * whose size is a multiple of `sizeDivisible`, keeping each image's size (an `ImageList`). It does
 * not resize: torchvision's transform scales every image to 800 pixels on its short side first;
 * here that belongs to the data pipeline (`resize` in @kiln/vision's transforms).
 *
 * @example
 * ```ts
 * const transform = new DetectionPreprocess();
 * const { tensors, imageSizes } = transform.call([randn([3, 60, 80]), randn([3, 50, 40])]);
 * tensors.shape;   // [2, 3, 64, 96]
 * imageSizes;      // [[60, 80], [50, 40]]
 * ```
 */
export class DetectionPreprocess extends Module<[Tensor | readonly Tensor[]], ImageList> {
  /** Per-channel mean. */
  readonly imageMean: readonly number[];
  /** Per-channel standard deviation. */
  readonly imageStd: readonly number[];
  /** The batch's size is a multiple of it. */
  readonly sizeDivisible: number;

  constructor(options: DetectionPreprocessOptions = {}) {
    super();
    checkOptionKeys('DetectionPreprocess', options, { imageMean: true, imageStd: true, sizeDivisible: true });
    this.imageMean = [...(options.imageMean ?? [0.485, 0.456, 0.406])];
    this.imageStd = [...(options.imageStd ?? [0.229, 0.224, 0.225])];
    this.sizeDivisible = options.sizeDivisible ?? 32;
    if (this.imageMean.length !== this.imageStd.length || this.imageMean.length === 0 || !this.imageStd.every((s) => s > 0)) {
      throw new ValueError('DetectionPreprocess', 'imageStd', `${this.imageMean.length} positive values (one per channel of imageMean)`, JSON.stringify(this.imageStd));
    }
    if (!Number.isInteger(this.sizeDivisible) || this.sizeDivisible < 1) throw new ValueError('DetectionPreprocess', 'sizeDivisible', 'a positive integer', String(this.sizeDivisible));
  }

  /** Images [C, H, W] each, or a batch [N, C, H, W] of one size. */
  forward(images: Tensor | readonly Tensor[]): ImageList {
    const list = Array.isArray(images) ? (images as readonly Tensor[]) : null;
    const channels = this.imageMean.length;
    const check = (t: Tensor, arg: string, ndim: number): void => {
      if (t.ndim !== ndim || t.shape[ndim - 3] !== channels) {
        throw new ShapeError('DetectionPreprocess', arg, `${ndim === 3 ? 'an image [C' : 'a batch [N, C'} = ${channels}, H, W]`, `shape [${t.shape.join(', ')}]`);
      }
      if (!isFloating(t.dtype)) throw new DTypeError('DetectionPreprocess', arg, 'a floating dtype (pixels in [0, 1])', t.dtype);
    };
    if (list) {
      if (list.length === 0) throw new ValueError('DetectionPreprocess', 'images', 'at least one image', '[]');
      list.forEach((t, i) => check(t, `images[${i}]`, 3));
    } else {
      check(images as Tensor, 'images', 4);
    }
    const first = list ? list[0] : (images as Tensor);
    const mean = tensor(this.imageMean, { dtype: first.dtype, device: first.device }).view([channels, 1, 1]);
    const std = tensor(this.imageStd, { dtype: first.dtype, device: first.device }).view([channels, 1, 1]);
    const stride = this.sizeDivisible;
    const roundUp = (n: number): number => Math.ceil(n / stride) * stride;
    if (!list) {
      const batch = images as Tensor;
      const [h, w] = [batch.shape[2], batch.shape[3]];
      const normalized = batch.sub(mean).div(std);
      return { tensors: padTo(padTo(normalized, 2, roundUp(h)), 3, roundUp(w)), imageSizes: Array.from({ length: batch.shape[0] }, () => [h, w]) };
    }
    const imageSizes = list.map((t): [number, number] => [t.shape[1], t.shape[2]]);
    const H = roundUp(Math.max(...imageSizes.map((s) => s[0]))), W = roundUp(Math.max(...imageSizes.map((s) => s[1])));
    const padded = list.map((t) => padTo(padTo(t.sub(mean).div(std), 1, H), 2, W));
    return { tensors: stack(padded, 0), imageSizes };
  }
}
