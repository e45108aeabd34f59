export * from './box-utils.js';
export * from './box-iou.js';
export * from './box-coder.js';
