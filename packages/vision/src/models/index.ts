export { Conv2dNormActivation, type Conv2dNormActivationOptions, type NormLayer } from './conv-norm-activation.js';
export {
  BasicBlock, Bottleneck, ResNet, resnet18, resnet34, resnet50, resnet101, resnet152, type ResidualBlock, type ResidualBlockOptions, type ResNetOptions,
} from './resnet.js';
export { IntermediateLayerGetter } from './intermediate-layer-getter.js';
export { FeaturePyramidNetwork, ExtraFPNBlock, LastLevelMaxPool, LastLevelP6P7, type FeaturePyramidNetworkOptions } from './feature-pyramid-network.js';
export {
  BackboneWithFPN, resnetFpnExtractor, resnetFpnBackbone, type BackboneWithFPNOptions, type ResnetFpnExtractorOptions, type ResnetFpnBackboneOptions,
} from './backbone-with-fpn.js';
export { DetectionPreprocess, type DetectionPreprocessOptions } from './detection-preprocess.js';
export * from './retinanet/index.js';
export { loadTorchvisionWeights } from './torchvision-weights.js';
