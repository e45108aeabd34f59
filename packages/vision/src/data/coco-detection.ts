/** `CocoDetection`: a COCO annotation file and its image folder as a detection dataset. */
import { join } from 'node:path';
import { ValueError, checkOptionKeys, tensor, zeros } from '@kiln/tensor';
import { Coco } from '../coco/coco.js';
import { Dataset } from './dataset.js';
import { readImage } from './image.js';
import type { DetectionSample, DetectionTransform } from './sample.js';

/** Options of `CocoDetection`. */
export interface CocoDetectionOptions {
  /** Applied to each sample after decoding (e.g. `compose([...])`). */
  transforms?: DetectionTransform;
  /** The label of a category id (default: the id itself); e.g. COCO's 80 ids to 0..79. */
  categoryToLabel?: (categoryId: number) => number;
  /** Keep crowd annotations (default false: dropped, as torchvision's detection references do). */
  keepCrowd?: boolean;
}

/**
 * The images of a COCO annotation file with their boxes (torchvision's `CocoDetection` plus its
 * detection references' conversion): item i is the image of the i-th smallest id, decoded with
 * sharp, and a target of float32 boxes (x1, y1, x2, y2) clipped to the image, int64 labels and the
 * image id. Crowd annotations and boxes with no width or height after clipping are left out.
 *
 * @example
 * ```ts
 * const val = new CocoDetection('coco/val2017', 'coco/annotations/instances_val2017.json', {
 *   transforms: compose([resize({ size: [512, 512] }), toTensor()]),
 * });
 * const { image, target } = await val.get(0);
 * ```
 */
export class CocoDetection extends Dataset<DetectionSample> {
  /** The annotation file, indexed. */
  readonly coco: Coco;
  /** Image ids, sorted: item i is image `ids[i]`. */
  readonly ids: number[];

  /** The image folder. */
  readonly root: string;
  /** The options given. */
  readonly options: CocoDetectionOptions;

  /** `root` is the image folder; `annotations` a COCO annotation file or a loaded `Coco`. */
  constructor(root: string, annotations: string | Coco, options: CocoDetectionOptions = {}) {
    super();
    // torchvision's CocoDetection takes `transform` and `transforms`: the first was ignored here
    checkOptionKeys('CocoDetection', options, { transforms: true, categoryToLabel: true, keepCrowd: true });
    this.root = root;
    this.options = options;
    this.coco = typeof annotations === 'string' ? Coco.fromFile(annotations) : annotations;
    this.ids = this.coco.getImageIds().sort((a, b) => a - b);
  }

  /** The number of images. */
  get length(): number {
    return this.ids.length;
  }

  /** Image i and its target, transformed. */
  async get(index: number): Promise<DetectionSample> {
    if (!Number.isInteger(index) || index < 0 || index >= this.ids.length) {
      throw new ValueError('CocoDetection.get', 'index', `an integer in [0, ${this.ids.length})`, String(index));
    }
    const imageId = this.ids[index];
    const info = this.coco.images.get(imageId)!;
    const image = await readImage(join(this.root, String(info.file_name ?? '')));
    const toLabel = this.options.categoryToLabel ?? ((c: number) => c);
    const boxes: number[][] = [], labels: number[] = [];
    for (const a of this.coco.imageToAnnotations.get(imageId) ?? []) {
      if (a.iscrowd && !this.options.keepCrowd) continue;
      const [x, y, w, h] = a.bbox;
      const x1 = Math.min(Math.max(x, 0), image.width), x2 = Math.min(Math.max(x + w, 0), image.width);
      const y1 = Math.min(Math.max(y, 0), image.height), y2 = Math.min(Math.max(y + h, 0), image.height);
      if (x2 <= x1 || y2 <= y1) continue;
      boxes.push([x1, y1, x2, y2]);
      labels.push(toLabel(a.category_id));
    }
    const target = {
      boxes: boxes.length ? tensor(boxes, { dtype: 'float32' }) : zeros([0, 4], { dtype: 'float32' }),
      labels: tensor(labels, { dtype: 'int64' }),
      imageId,
    };
    const sample: DetectionSample = { image, target };
    return this.options.transforms ? this.options.transforms(sample) : sample;
  }
}
