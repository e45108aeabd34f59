/**
 * MultiScaleRoIAlign (torchvision.ops.MultiScaleRoIAlign): RoI Align over a feature pyramid, each
 * box pooled from the level its size maps to (FPN, Lin et al. 2017, eq. 1).
 */
import { type Tensor, ValueError, argsort, cat, checkOptionKeys, commonDevice, nonzero } from '@kiln/tensor';
import { Module } from '@kiln/nn';
import { boxArea } from './boxes/box-utils.js';
import { roiAlign } from './roi-align/roi-align.js';
import { roisTensor } from './rois.js';

/** Options of {@link MultiScaleRoIAlign}. */
export interface MultiScaleRoIAlignOptions {
  /** The names of the feature maps to pool from, finest first in the features' own order. */
  featmapNames: readonly string[];
  /** The pooled size: PH = PW = n, or [PH, PW]. */
  outputSize: number | readonly [number, number];
  /** Samples per bin along each axis (0 or less: adaptive), as roiAlign's. */
  samplingRatio: number;
  /** A box of this size (the square root of its area) maps to `canonicalLevel` (default 224). */
  canonicalScale?: number;
  /** The pyramid level of a canonical box (default 4, FPN's P4). */
  canonicalLevel?: number;
}

/** Rounds half to even, as torch.round. */
/** Features given as a Map (instanceof alone narrows to Map<any, any>). */
const isMap = (f: Readonly<Record<string, Tensor>> | ReadonlyMap<string, Tensor>): f is ReadonlyMap<string, Tensor> => f instanceof Map;

function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * RoI Align over the levels of a feature pyramid, as torchvision's `MultiScaleRoIAlign`. The
 * levels' scales are inferred from the feature maps' sizes against the largest image (each a
 * power of two), once, on the first call. A box of size s = sqrt(area) is pooled from level
 * `floor(canonicalLevel + log2(s / canonicalScale) + 1e-6)`, clamped to the pyramid, with roiAlign
 * (`aligned: false`). The result is [K, C, PH, PW] for the K boxes of all images, in order, and
 * differentiable with respect to the features. Each level's boxes are found with nonzero (one
 * count read back per level, as torchvision's torch.where).
 *
 * @example
 * ```ts
 * const pooler = new MultiScaleRoIAlign({ featmapNames: ['p2', 'p3', 'p4', 'p5'], outputSize: 7, samplingRatio: 2 });
 * const pooled = pooler.call(fpnFeatures, [proposalsOfImage0, proposalsOfImage1], [[800, 800], [800, 800]]);
 * ```
 */
export class MultiScaleRoIAlign extends Module<[Readonly<Record<string, Tensor>> | ReadonlyMap<string, Tensor>, readonly Tensor[], readonly (readonly [number, number])[]], Tensor> {
  /** The feature maps pooled from. */
  readonly featmapNames: readonly string[];
  /** The pooled size [PH, PW]. */
  readonly outputSize: readonly [number, number];
  /** Samples per bin along each axis (0 or less: adaptive). */
  readonly samplingRatio: number;
  /** The size of a box that maps to the canonical level. */
  readonly canonicalScale: number;
  /** The canonical level. */
  readonly canonicalLevel: number;
  /** Each level's scale (feature size / image size), inferred on the first call; null before. */
  scales: number[] | null = null;
  private levelRange: [number, number] | null = null;

  constructor(options: MultiScaleRoIAlignOptions) {
    super();
    const op = 'MultiScaleRoIAlign';
    checkOptionKeys(op, options, { featmapNames: true, outputSize: true, samplingRatio: true, canonicalScale: true, canonicalLevel: true });
    if (!Array.isArray(options.featmapNames) || options.featmapNames.length === 0 || !options.featmapNames.every((n) => typeof n === 'string')) {
      throw new ValueError(op, 'featmapNames', 'a non-empty list of feature map names', JSON.stringify(options.featmapNames));
    }
    const size = typeof options.outputSize === 'number' ? [options.outputSize, options.outputSize] : options.outputSize;
    if (!Array.isArray(size) || size.length !== 2 || !size.every((s) => Number.isInteger(s) && s > 0)) {
      throw new ValueError(op, 'outputSize', 'a positive integer or [height, width] of positive integers', JSON.stringify(options.outputSize));
    }
    if (!Number.isInteger(options.samplingRatio)) throw new ValueError(op, 'samplingRatio', 'an integer (0 or less: adaptive)', String(options.samplingRatio));
    const canonicalScale = options.canonicalScale ?? 224, canonicalLevel = options.canonicalLevel ?? 4;
    if (!(canonicalScale > 0) || !Number.isFinite(canonicalScale)) throw new ValueError(op, 'canonicalScale', 'a positive number', String(canonicalScale));
    if (!Number.isInteger(canonicalLevel)) throw new ValueError(op, 'canonicalLevel', 'an integer', String(canonicalLevel));
    this.featmapNames = [...options.featmapNames];
    this.outputSize = [size[0], size[1]];
    this.samplingRatio = options.samplingRatio;
    this.canonicalScale = canonicalScale;
    this.canonicalLevel = canonicalLevel;
  }

  /** The named maps, in the order of `features` (as torchvision's _filter_input). */
  private levels(features: Readonly<Record<string, Tensor>> | ReadonlyMap<string, Tensor>): Tensor[] {
    const entries: [string, Tensor][] = isMap(features) ? [...features.entries()] : Object.entries(features);
    const maps = entries.filter(([k]) => this.featmapNames.includes(k)).map(([, v]) => v);
    if (maps.length === 0) throw new ValueError('MultiScaleRoIAlign', 'features', `maps named ${JSON.stringify(this.featmapNames)}`, JSON.stringify(entries.map(([k]) => k)));
    return maps;
  }

  /** torchvision's _setup_scales: each map's scale 2^round(log2(map size / image size)), and the level range. */
  private setupScales(maps: readonly Tensor[], imageShapes: readonly (readonly [number, number])[]): void {
    const op = 'MultiScaleRoIAlign';
    if (imageShapes.length === 0) throw new ValueError(op, 'imageShapes', 'one [height, width] per image', 'an empty list');
    const maxH = Math.max(...imageShapes.map((s) => s[0])), maxW = Math.max(...imageShapes.map((s) => s[1]));
    if (!(maxH > 0) || !(maxW > 0)) throw new ValueError(op, 'imageShapes', 'positive image sizes', JSON.stringify(imageShapes));
    // torchvision takes the scale from the height: 2 ** round(log2(feature height / image height))
    this.scales = maps.map((m) => 2 ** roundHalfEven(Math.log2(m.shape[m.ndim - 2] / maxH)));
    this.levelRange = [Math.trunc(-Math.log2(this.scales[0])), Math.trunc(-Math.log2(this.scales[this.scales.length - 1]))];
  }

  /**
   * Pools every box of every image from its level: `features` maps names to [N, C, Hl, Wl] maps,
   * `boxes` holds one [Ki, 4] tensor (x1, y1, x2, y2, in image pixels) per image, `imageShapes`
   * each image's [height, width] before batching.
   */
  forward(features: Readonly<Record<string, Tensor>> | ReadonlyMap<string, Tensor>, boxes: readonly Tensor[], imageShapes: readonly (readonly [number, number])[]): Tensor {
    const op = 'MultiScaleRoIAlign';
    const maps = this.levels(features);
    commonDevice(op, [...maps.map((_, i) => `features[${i}]`), ...boxes.map((_, i) => `boxes[${i}]`)], [...maps, ...boxes]);
    if (this.scales === null) this.setupScales(maps, imageShapes);
    const scales = this.scales!;
    const options = { outputSize: this.outputSize, samplingRatio: this.samplingRatio, aligned: false };
    const rois = roisTensor(op, boxes, maps[0].dtype);
    if (maps.length === 1) return roiAlign(maps[0], rois, { ...options, spatialScale: scales[0] });
    // FPN's eq. 1: level = floor(k0 + log2(sqrt(area) / 224)), in the boxes' dtype as torchvision
    const [kMin, kMax] = this.levelRange!;
    const area = boxArea(rois.slice(1, 1, 5));
    const target = area.sqrt().div(this.canonicalScale).log2().add(this.canonicalLevel).add(1e-6).floor().clamp(kMin, kMax).sub(kMin);
    const pooled: Tensor[] = [], order: Tensor[] = [];
    maps.forEach((map, level) => {
      const inLevel = nonzero(target.eq(level)).reshape([-1]);
      order.push(inLevel);
      pooled.push(roiAlign(map, rois.indexSelect(0, inLevel), { ...options, spatialScale: scales[level] }));
    });
    // the levels' results in box order: the inverse of the permutation that grouped the boxes
    return cat(pooled, 0).indexSelect(0, argsort(cat(order, 0)));
  }
}
