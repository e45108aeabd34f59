/**
 * The COCO JSON formats, as the files spell them (snake_case keys): an annotation file
 * (`instances_val2017.json`) and a list of detection results.
 */

/** `[x, y, width, height]` in pixels, (x, y) the top-left corner: COCO's box format. */
export type CocoBox = [number, number, number, number];

/** One image of an annotation file. */
export interface CocoImageInfo {
  /** The image's id, which annotations and results refer to. */
  id: number;
  /** The image's file name, relative to the image folder. */
  file_name?: string;
  /** Width in pixels. */
  width?: number;
  /** Height in pixels. */
  height?: number;
  /** Other fields are kept as they are. */
  [key: string]: unknown;
}

/** One ground-truth object of an annotation file. */
export interface CocoAnnotation {
  /** The annotation's id (unique in the file; pycocotools starts at 1). */
  id: number;
  /** The id of the image it is in. */
  image_id: number;
  /** The id of its category. */
  category_id: number;
  /** Its box, `[x, y, w, h]`. */
  bbox: CocoBox;
  /**
   * Its area in pixels: the segmentation's area in COCO's files, which decides the small / medium /
   * large range it belongs to (not the box's area).
   */
  area: number;
  /** 1 for a crowd region: detections on it are neither true nor false positives. */
  iscrowd?: number;
  /** Other fields (segmentation, ...) are kept as they are. */
  [key: string]: unknown;
}

/** One category of an annotation file. */
export interface CocoCategory {
  /** The category's id (COCO's 80 classes have ids 1..90 with gaps). */
  id: number;
  /** Its name. */
  name: string;
  /** Its supercategory. */
  supercategory?: string;
  /** Other fields are kept as they are. */
  [key: string]: unknown;
}

/** A COCO annotation file. */
export interface CocoDatasetJson {
  /** The images. */
  images: CocoImageInfo[];
  /** The ground-truth objects. */
  annotations: CocoAnnotation[];
  /** The categories. */
  categories: CocoCategory[];
  /** Other top-level fields (info, licenses) are kept as they are. */
  [key: string]: unknown;
}

/** One detection of a results file (a JSON list of these). */
export interface CocoDetectionResult {
  /** The image it was found in. */
  image_id: number;
  /** Its category. */
  category_id: number;
  /** Its box, `[x, y, w, h]`. */
  bbox: CocoBox;
  /** Its confidence: higher is more confident. */
  score: number;
  /** Other fields are kept as they are. */
  [key: string]: unknown;
}
