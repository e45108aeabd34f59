/**
 * @packageDocumentation
 * `@kiln/vision`: what a detection engineer reaches for besides the network: the detection ops
 * of torchvision.ops (box utilities and IoUs, box coding, NMS, RoI align and pooling, with native
 * CPU and CUDA kernels beside their TypeScript, one folder per op under src/ops/), COCO evaluation
 * (pycocotools' 12 metrics), anchors and the IoU matcher, datasets, a data loader and box-aware
 * transforms, and the detection models (ResNet, feature pyramid, RetinaNet; torchvision's weights
 * load into them), in torchvision's and pycocotools' semantics with camelCase names.
 *
 * ```ts
 * import { tensor } from '@kiln/tensor';
 * import { Coco, CocoEval, nms } from '@kiln/vision';
 * const gt = Coco.fromFile('instances_val2017.json');
 * const ev = new CocoEval(gt, gt.loadResults('detections.json'), 'bbox');
 * ev.evaluate(); ev.accumulate(); ev.summarize();   // prints pycocotools' 12 lines
 *
 * const boxes = tensor([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]], { dtype: 'float32' });
 * nms(boxes, tensor([0.9, 0.8, 0.7]), 0.5).toArray();   // [0, 2]
 * ```
 */
export * from './coco/index.js';
export * from './anchors/index.js';
export * from './data/index.js';
export * from './ops/index.js';
export * from './models/index.js';
