export type { RetinaNetHeadOutputs, RetinaNetLosses, Detection } from './types.js';
export { RetinaNetHead, RetinaNetClassificationHead, RetinaNetRegressionHead, type RetinaNetHeadOptions } from './head.js';
export {
  type BoxLossType, type RetinaNetLossOptions, type PaddedTargets, matchAnchors, classificationLoss, boxRegressionLoss, padTargets, matchAnchorsBatched,
  classificationLossBatched, boxRegressionLossBatched,
} from './losses.js';
export { type PostprocessOptions, postprocessDetections } from './postprocess.js';
export {
  RetinaNet, retinanetResnet50Fpn, retinanetAnchorGenerator, type RetinaNetOptions, type RetinanetResnet50FpnOptions, type DetectionBackbone,
  type DetectionImages,
} from './retinanet.js';
