/**
 * @packageDocumentation
 * `@kiln/vision`: what a detection engineer reaches for besides the network: COCO evaluation
 * (pycocotools' 12 metrics), anchors and the IoU matcher, datasets, a data loader and box-aware
 * transforms, in torchvision's and pycocotools' semantics with camelCase names.
 *
 * ```ts
 * import { Coco, CocoEval } from '@kiln/vision';
 * const gt = Coco.fromFile('instances_val2017.json');
 * const ev = new CocoEval(gt, gt.loadResults('detections.json'), 'bbox');
 * ev.evaluate(); ev.accumulate(); ev.summarize();   // prints pycocotools' 12 lines
 * ```
 */
export * from './coco/index.js';
export * from './anchors/index.js';
export * from './data/index.js';
