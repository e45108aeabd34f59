export { Dataset } from './dataset.js';
export { DataLoader, type DataLoaderOptions } from './dataloader.js';
export { type Sampler, epochOrder } from './sampler.js';
export { type DetectionSample, type DetectionTarget, type DetectionTransform } from './sample.js';
export { detectionCollate, type DetectionBatch } from './collate.js';
export { type RawImage, MissingDependencyError, readImage, imageToTensor } from './image.js';
export {
  compose, resize, resizedSize, horizontalFlip, randomHorizontalFlip, toTensor, normalize, imageSize,
  type ResizeOptions, type RandomFlipOptions,
} from './transforms.js';
export { CocoDetection, type CocoDetectionOptions } from './coco-detection.js';
