/**
 * `Coco`: a COCO annotation file indexed by image and category (pycocotools' `COCO`), and detection
 * results loaded against it (`loadResults`, pycocotools' `loadRes`).
 */
import { readFileSync } from 'node:fs';
import { ValueError } from '@kiln/tensor';
import type { CocoAnnotation, CocoCategory, CocoDatasetJson, CocoDetectionResult, CocoImageInfo } from './types.js';

/** Filters of `Coco.getAnnotations` (pycocotools' `getAnnIds`). */
export interface CocoAnnotationFilter {
  /** Only annotations of these images (all images when absent or empty). */
  imageIds?: readonly number[];
  /** Only annotations of these categories (all when absent or empty). */
  categoryIds?: readonly number[];
}

const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

function checkNumber(op: string, arg: string, v: unknown): number {
  if (!isNumber(v)) throw new ValueError(op, arg, 'a finite number', JSON.stringify(v) ?? String(v));
  return v;
}

function checkBox(op: string, arg: string, v: unknown): void {
  if (!Array.isArray(v) || v.length !== 4 || !v.every(isNumber)) {
    throw new ValueError(op, arg, 'a box [x, y, w, h] of 4 finite numbers', JSON.stringify(v) ?? String(v));
  }
}

function checkList(op: string, arg: string, v: unknown): unknown[] {
  if (!Array.isArray(v)) throw new ValueError(op, arg, 'an array', v === null ? 'null' : typeof v);
  return v;
}

/**
 * A COCO annotation file with pycocotools' indexes: images, categories and annotations by id, and
 * each image's annotations in file order.
 *
 * @example
 * ```ts
 * const gt = Coco.fromFile('annotations/instances_val2017.json');
 * gt.getImageIds().length;                                  // 5000
 * gt.getAnnotations({ imageIds: [139] }).map((a) => a.bbox);
 * const dt = gt.loadResults('detections.json');             // results of a detector on those images
 * ```
 */
export class Coco {
  /** The file's content, as given. */
  readonly dataset: CocoDatasetJson;
  /** Images by id, in file order. */
  readonly images = new Map<number, CocoImageInfo>();
  /** Categories by id, in file order. */
  readonly categories = new Map<number, CocoCategory>();
  /** Annotations by id. */
  readonly annotations = new Map<number, CocoAnnotation>();
  /** Each image's annotations, in file order. */
  readonly imageToAnnotations = new Map<number, CocoAnnotation[]>();

  /** Indexes `dataset`, checking the fields the evaluation reads (a `ValueError` names the bad one). */
  constructor(dataset: CocoDatasetJson) {
    const op = 'Coco';
    if (dataset === null || typeof dataset !== 'object') throw new ValueError(op, 'dataset', 'a COCO annotation object', String(dataset));
    const images = checkList(op, 'images', dataset.images) as CocoImageInfo[];
    const anns = checkList(op, 'annotations', dataset.annotations ?? []) as CocoAnnotation[];
    const cats = checkList(op, 'categories', dataset.categories ?? []) as CocoCategory[];
    this.dataset = dataset;
    images.forEach((img, i) => {
      this.images.set(checkNumber(op, `images[${i}].id`, img?.id), img);
    });
    cats.forEach((cat, i) => {
      this.categories.set(checkNumber(op, `categories[${i}].id`, cat?.id), cat);
    });
    anns.forEach((a, i) => {
      const where = `annotations[${i}]`;
      checkNumber(op, `${where}.id`, a?.id);
      checkNumber(op, `${where}.image_id`, a.image_id);
      checkNumber(op, `${where}.category_id`, a.category_id);
      checkBox(op, `${where}.bbox`, a.bbox);
      checkNumber(op, `${where}.area`, a.area);
      if (a.iscrowd !== undefined) checkNumber(op, `${where}.iscrowd`, a.iscrowd);
      this.annotations.set(a.id, a);
      const list = this.imageToAnnotations.get(a.image_id);
      if (list) list.push(a);
      else this.imageToAnnotations.set(a.image_id, [a]);
    });
  }

  /**
   * Reads an annotation file.
   *
   * @example
   * ```ts
   * const gt = Coco.fromFile('annotations/instances_val2017.json');
   * ```
   */
  static fromFile(path: string): Coco {
    return new Coco(JSON.parse(readFileSync(path, 'utf8')) as CocoDatasetJson);
  }

  /**
   * The image ids in file order (pycocotools' `getImgIds()`).
   *
   * @example
   * ```ts
   * const ids = gt.getImageIds();
   * ```
   */
  getImageIds(): number[] {
    return [...this.images.keys()];
  }

  /**
   * The category ids in file order (pycocotools' `getCatIds()`).
   *
   * @example
   * ```ts
   * const names = gt.getCategoryIds().map((id) => gt.categories.get(id)!.name);
   * ```
   */
  getCategoryIds(): number[] {
    return [...this.categories.keys()];
  }

  /**
   * The annotations of some images and categories, in pycocotools' order: image by image in the
   * order of `imageIds` (file order without it), each image's in file order.
   *
   * @example
   * ```ts
   * const people = gt.getAnnotations({ imageIds: [139, 285], categoryIds: [1] });
   * ```
   */
  getAnnotations(filter: CocoAnnotationFilter = {}): CocoAnnotation[] {
    const { imageIds = [], categoryIds = [] } = filter;
    let anns: CocoAnnotation[];
    if (imageIds.length === 0) anns = this.dataset.annotations ?? [];
    else anns = imageIds.flatMap((id) => this.imageToAnnotations.get(id) ?? []);
    if (categoryIds.length === 0) return [...anns];
    const cats = new Set(categoryIds);
    return anns.filter((a) => cats.has(a.category_id));
  }

  /**
   * Detection results on this dataset's images as a `Coco` (pycocotools' `loadRes`, boxes only):
   * each result gets `id` = its position + 1, `area` = w·h of its box and `iscrowd` = 0; the
   * categories and images are this dataset's. A result on an image this dataset does not have is a
   * `ValueError`. An empty list gives a dataset with no annotations (pycocotools fails on one).
   *
   * @example
   * ```ts
   * const dt = gt.loadResults([{ image_id: 139, category_id: 1, bbox: [412, 157, 53, 138], score: 0.98 }]);
   * ```
   */
  loadResults(results: readonly CocoDetectionResult[] | string): Coco {
    const op = 'Coco.loadResults';
    const list = checkList(op, 'results', typeof results === 'string' ? JSON.parse(readFileSync(results, 'utf8')) : results) as CocoDetectionResult[];
    const annotations = list.map((r, i): CocoAnnotation => {
      const where = `results[${i}]`;
      const imageId = checkNumber(op, `${where}.image_id`, r?.image_id);
      checkNumber(op, `${where}.category_id`, r.category_id);
      checkBox(op, `${where}.bbox`, r.bbox);
      checkNumber(op, `${where}.score`, r.score);
      if (!this.images.has(imageId)) throw new ValueError(op, `${where}.image_id`, "the id of one of the dataset's images", String(imageId));
      const [x, y, w, h] = r.bbox;
      return { ...r, bbox: [x, y, w, h], area: w * h, id: i + 1, iscrowd: 0 };
    });
    return new Coco({ images: [...this.images.values()], categories: [...this.categories.values()], annotations });
  }
}
