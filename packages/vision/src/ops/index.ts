// The ops of @kiln/vision (torchvision.ops), one folder per op family.
export * from './boxes/index.js';
export * from './nms/nms.js';
export type { Rois } from './rois.js';
export * from './roi-align/roi-align.js';
export * from './roi-pool/roi-pool.js';
export * from './multi-scale-roi-align.js';
