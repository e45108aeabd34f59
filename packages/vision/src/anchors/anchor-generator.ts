/**
 * `AnchorGenerator`: torchvision's anchors over a feature pyramid, computed on the feature maps'
 * device and in their dtype.
 */
import { type DType, type DeviceLike, type Tensor, ShapeError, ValueError, arange, cat, checkOptionKeys, describeValue, keep, stack, tensor, tidy } from '@kiln/tensor';
import { Module } from '@kiln/nn';
import { cellAnchors } from './cell-anchors.js';

/** A batch of images as torchvision's `ImageList`: the padded tensor and each image's size before padding. */
export interface ImageList {
  /** [B, C, H, W], the images padded to one size. */
  tensors: Tensor;
  /** Each image's (height, width) before padding. */
  imageSizes: [number, number][];
}

/** Where anchors are made: the feature maps' dtype and device. */
export interface AnchorPlacement {
  /** dtype of the anchors (default float32). */
  dtype?: DType;
  /** Device of the anchors (default the CPU). */
  device?: DeviceLike;
}

const isNumberList = (v: unknown): v is number[] => Array.isArray(v) && v.every((x) => typeof x === 'number');

function checkLevels(arg: string, v: readonly (readonly number[])[], positive: boolean): number[][] {
  const given: unknown = v;   // (typed as a list; a caller's JS may pass anything)
  if (!Array.isArray(given) || given.length === 0) throw new ValueError('AnchorGenerator', arg, 'a non-empty list (of numbers, or of lists of numbers per level)', describeValue(v));
  v.forEach((level, i) => {
    if (!isNumberList(level) || level.length === 0 || !level.every((x) => Number.isFinite(x) && (!positive || x > 0))) {
      throw new ValueError('AnchorGenerator', `${arg}[${i}]`, `a non-empty list of ${positive ? 'positive ' : ''}finite numbers`, JSON.stringify(level));
    }
  });
  return v.map((l) => [...l]);
}

/**
 * Anchors over the levels of a feature pyramid (torchvision's `AnchorGenerator`): for each level,
 * boxes of every size and aspect ratio (height / width) of that level, centred on (0, 0) and
 * rounded as torchvision rounds them, shifted to every cell of the level's grid with the stride
 * `imageSize // gridSize`. A level's anchors are ordered (y, x, anchor); the levels follow one
 * another. `forward` returns one [sum of H·W·A, 4] (x1, y1, x2, y2) tensor per image, on the
 * feature maps' device and in their dtype.
 *
 * The anchors depend only on the grids, the strides and where they are made, so the generator keeps
 * the last few sets it made (8): a training step at a fixed image size makes its anchors once, where
 * computing them took an upload and about ten small launches per pyramid level, every step
 * (torchvision computes them every step). `forward` hands out a copy per image, so an in-place op on
 * an image's anchors (clamping them to the image, say) changes neither the other images' nor later
 * steps'; RetinaNet reads the kept set itself (`batchAnchors`), without a copy. The kept
 * sets are memory the module owns besides its parameters and buffers: `clearCache()` frees them
 * (code that disposes a model's tensors calls it, as the RetinaNet example's `disposeDetector`
 * does; the next forward makes its anchors again).
 *
 * @example
 * ```ts
 * // RetinaNet's: 3 sizes × 3 ratios on each of 5 levels
 * const sizes = [32, 64, 128, 256, 512].map((s) => [s, s * 2 ** (1 / 3), s * 2 ** (2 / 3)]);
 * const gen = new AnchorGenerator(sizes, sizes.map(() => [0.5, 1, 2]));
 * const anchors = gen.call(images, features);      // images [B, 3, H, W], features [B, C, Hi, Wi]
 * anchors[0].shape;                                // [sum of Hi·Wi·9, 4]
 * ```
 */
export class AnchorGenerator extends Module<[Tensor | ImageList, readonly Tensor[]], Tensor[]> {
  /** The sizes of each level's anchors (sqrt of their area), one list per level. */
  readonly sizes: number[][];
  /** The aspect ratios (height / width) of each level, one list per level. */
  readonly aspectRatios: number[][];
  /** Each level's [A, 4] base anchors centred on (0, 0) (torchvision's `cell_anchors`). */
  readonly cellAnchors: number[][][];
  /** Every level's anchors, concatenated, per (grids, strides, dtype, device): the most recent last. */
  private readonly made = new Map<string, Tensor>();

  /**
   * `sizes` and `aspectRatios` are lists per level; a flat `sizes` list gives one level per size
   * and a flat `aspectRatios` list is used on every level, as torchvision reads them.
   */
  constructor(sizes: readonly number[] | readonly (readonly number[])[] = [[128, 256, 512]], aspectRatios: readonly number[] | readonly (readonly number[])[] = [[0.5, 1, 2]]) {
    super();
    const nestedSizes = isNumberList(sizes) ? sizes.map((s) => [s]) : (sizes as number[][]);
    const nestedRatios = isNumberList(aspectRatios) ? nestedSizes.map(() => [...(aspectRatios)]) : (aspectRatios as number[][]);
    this.sizes = checkLevels('sizes', nestedSizes, true);
    this.aspectRatios = checkLevels('aspectRatios', nestedRatios, true);
    if (this.sizes.length !== this.aspectRatios.length) {
      throw new ValueError('AnchorGenerator', 'aspectRatios', `one list per level of sizes (${this.sizes.length})`, `${this.aspectRatios.length} lists`);
    }
    this.cellAnchors = this.sizes.map((s, i) => cellAnchors(s, this.aspectRatios[i]));
  }

  /** The number of anchors per grid cell of each level (sizes × ratios). */
  numAnchorsPerLocation(): number[] {
    return this.cellAnchors.map((a) => a.length);
  }

  /**
   * Each level's anchors for grids of (height, width) cells and strides of (y, x) pixels: [H·W·A, 4],
   * ordered (y, x, anchor).
   *
   * @example
   * ```ts
   * const [level] = new AnchorGenerator([[32]], [[1]]).gridAnchors([[2, 3]], [[8, 8]]);
   * level.shape;   // [6, 4]: the 2 × 3 cells, one anchor each
   * ```
   */
  gridAnchors(gridSizes: readonly (readonly [number, number])[], strides: readonly (readonly [number, number])[], placement: AnchorPlacement = {}): Tensor[] {
    const op = 'AnchorGenerator.gridAnchors';
    checkOptionKeys(op, placement, { dtype: true, device: true }, 'placement');
    if (gridSizes.length !== this.cellAnchors.length || strides.length !== gridSizes.length) {
      throw new ValueError(op, 'gridSizes', `one grid size and one stride per level (${this.cellAnchors.length} levels)`, `${gridSizes.length} grid sizes and ${strides.length} strides`);
    }
    // a NaN stride gave NaN anchors, a fractional grid a failure deep inside arange
    gridSizes.forEach((g, level) => {
      if (g.length !== 2 || !g.every((n) => Number.isSafeInteger(n) && n >= 1)) throw new ValueError(op, `gridSizes[${level}]`, 'two integers >= 1 (height, width)', describeValue(g));
    });
    strides.forEach((s, level) => {
      if (s.length !== 2 || !s.every((v) => Number.isFinite(v) && v > 0)) throw new ValueError(op, `strides[${level}]`, 'two finite numbers > 0 (y, x)', describeValue(s));
    });
    const dtype = placement.dtype ?? 'float32', device = placement.device ?? 'cpu';
    return gridSizes.map(([H, W], level) => tidy(() => {
      const [strideY, strideX] = strides[level];
      // shifts as exact integers, then in the anchors' dtype (torchvision: int64 shifts + base anchors)
      const xs = arange(0, W, 1, { dtype: 'int64', device }).mul(strideX).to(dtype).reshape([1, W]).expand([H, W]);
      const ys = arange(0, H, 1, { dtype: 'int64', device }).mul(strideY).to(dtype).reshape([H, 1]).expand([H, W]);
      const shifts = stack([xs, ys, xs, ys], -1).reshape([H * W, 1, 4]);
      const base = tensor(this.cellAnchors[level], { dtype, device }).reshape([1, -1, 4]);
      return shifts.add(base).reshape([-1, 4]);
    }));
  }

  /**
   * One anchor tensor per image of the batch: every level's anchors, levels concatenated, each a
   * copy of its own (torchvision's). The strides are `imageSize // featureSize` per dimension, from
   * the padded batch's size.
   */
  forward(images: Tensor | ImageList, featureMaps: readonly Tensor[]): Tensor[] {
    const { kept, count } = this.keptFor('AnchorGenerator.forward', images, featureMaps);
    return Array.from({ length: count }, () => kept.clone());
  }

  /**
   * @internal The batch's anchors [B, A, 4] without a copy: the kept set expanded over the images
   * (a view with stride 0 along B). For readers only, as RetinaNet's losses and detections: never
   * write into it (the kept set would change for every later call).
   */
  batchAnchors(images: Tensor | ImageList, featureMaps: readonly Tensor[]): Tensor {
    const { kept, count } = this.keptFor('AnchorGenerator.batchAnchors', images, featureMaps);
    return tidy(() => kept.unsqueeze(0).expand([count, ...kept.shape]));
  }

  /** The kept anchors of these feature maps' grids and strides (made when not kept), and the number of images. */
  private keptFor(op: string, images: Tensor | ImageList, featureMaps: readonly Tensor[]): { kept: Tensor; count: number } {
    const batch = 'tensors' in images ? images.tensors : images;
    if (batch.ndim !== 4) throw new ShapeError(op, 'images', 'a batch [B, C, H, W]', `[${batch.shape.join(', ')}]`);
    if (featureMaps.length === 0) throw new ValueError(op, 'featureMaps', 'at least one feature map', '[]');
    const [imageH, imageW] = batch.shape.slice(-2) as [number, number];
    const grids = featureMaps.map((f, i): [number, number] => {
      if (f.ndim < 2) throw new ShapeError(op, `featureMaps[${i}]`, 'a map [..., H, W]', `[${f.shape.join(', ')}]`);
      const [h, w] = f.shape.slice(-2) as [number, number];
      if (h === 0 || w === 0 || h > imageH || w > imageW) throw new ShapeError(op, `featureMaps[${i}]`, `a grid of 1 to ${imageH} × ${imageW} cells`, `${h} × ${w}`);
      return [h, w];
    });
    const strides = grids.map(([h, w]): [number, number] => [Math.floor(imageH / h), Math.floor(imageW / w)]);
    if ('tensors' in images && !Array.isArray(images.imageSizes)) throw new ValueError(op, 'images.imageSizes', 'a list of [height, width] per image', describeValue(images.imageSizes));
    const count = 'tensors' in images ? images.imageSizes.length : batch.shape[0];
    return { kept: this.allLevels(grids, strides, featureMaps[0].dtype, featureMaps[0].device), count };
  }

  /** Frees the anchors kept (see the class); the next forward makes them again. */
  clearCache(): void {
    for (const t of this.made.values()) t.dispose();
    this.made.clear();
  }

  /** Every level's anchors for these grids and strides, concatenated: made once per key and kept (see the class). */
  private allLevels(grids: [number, number][], strides: [number, number][], dtype: DType, device: DeviceLike): Tensor {
    const key = JSON.stringify([grids, strides, dtype, String(device)]);
    const kept = this.made.get(key);
    if (kept && !kept.isDisposed) {
      this.made.delete(key);   // most recent last
      this.made.set(key, kept);
      return kept;
    }
    const anchors = keep(tidy(() => cat(this.gridAnchors(grids, strides, { dtype, device }), 0)));
    this.made.set(key, anchors);
    if (this.made.size > AnchorGenerator.KEPT) {
      const [oldest, t] = this.made.entries().next().value as [string, Tensor];
      this.made.delete(oldest);
      t.dispose();
    }
    return anchors;
  }

  /** How many sets of anchors a generator keeps (image sizes of a multi-scale training, say). */
  private static readonly KEPT = 8;
}
