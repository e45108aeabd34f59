/**
 * BackboneWithFPN and the ResNet-FPN builders (torchvision's `backbone_utils`): a backbone's
 * intermediate feature maps fed to a feature pyramid.
 */
import { type Tensor, ValueError, checkOptionKeys } from '@kiln/tensor';
import { FrozenBatchNorm2d, Module } from '@kiln/nn';
import type { NormLayer } from './conv-norm-activation.js';
import { type ExtraFPNBlock, FeaturePyramidNetwork, LastLevelMaxPool } from './feature-pyramid-network.js';
import { IntermediateLayerGetter } from './intermediate-layer-getter.js';
import { type ResNet, resnet101, resnet152, resnet18, resnet34, resnet50 } from './resnet.js';

/** Options of {@link BackboneWithFPN}. */
export interface BackboneWithFPNOptions {
  /** Levels after the pyramid (default LastLevelMaxPool, torchvision's default). */
  extraBlocks?: ExtraFPNBlock;
  /** A norm layer in the pyramid (default none). */
  normLayer?: NormLayer | null;
}

/**
 * A backbone's intermediate feature maps (`body`, an IntermediateLayerGetter) through a feature
 * pyramid (`fpn`): a map from level name to [N, outChannels, H, W], finest first.
 *
 * @example
 * ```ts
 * const net = new BackboneWithFPN(resnet50(), { layer2: '0', layer3: '1', layer4: '2' }, [512, 1024, 2048], 256);
 * net.call(randn([1, 3, 64, 64]));   // Map { '0', '1', '2', 'pool' }
 * ```
 */
export class BackboneWithFPN extends Module<[Tensor], Map<string, Tensor>> {
  /** The backbone's layers up to the last one returned. */
  body: IntermediateLayerGetter;
  /** The feature pyramid. */
  fpn: FeaturePyramidNetwork;
  /** Channels of every level. */
  readonly outChannels: number;

  constructor(backbone: Module<never[], unknown>, returnLayers: Readonly<Record<string, string>>, inChannelsList: readonly number[], outChannels: number, options: BackboneWithFPNOptions = {}) {
    super();
    checkOptionKeys('BackboneWithFPN', options, { extraBlocks: true, normLayer: true });
    this.body = new IntermediateLayerGetter(backbone, returnLayers);
    this.fpn = new FeaturePyramidNetwork(inChannelsList, outChannels, { extraBlocks: options.extraBlocks ?? new LastLevelMaxPool(), normLayer: options.normLayer });
    this.outChannels = outChannels;
  }

  forward(x: Tensor): Map<string, Tensor> {
    return this.fpn.call(this.body.call(x));
  }
}

/** Options of {@link resnetFpnExtractor}. */
export interface ResnetFpnExtractorOptions {
  /** Stages whose outputs feed the pyramid, each in 1..4 (default [1, 2, 3, 4]). */
  returnedLayers?: readonly number[];
  /** Levels after the pyramid (default LastLevelMaxPool). */
  extraBlocks?: ExtraFPNBlock;
  /** A norm layer in the pyramid (default none). */
  normLayer?: NormLayer | null;
}

/**
 * A ResNet as a BackboneWithFPN (torchvision's `_resnet_fpn_extractor`): the parameters of all
 * but the last `trainableLayers` of (layer4, layer3, layer2, layer1, conv1) stop requiring grad
 * (5 trains everything, bn1 included), and the stages in `returnedLayers` feed a 256-channel pyramid.
 *
 * @example
 * ```ts
 * const backbone = resnetFpnExtractor(resnet50(), 3, { returnedLayers: [2, 3, 4], extraBlocks: new LastLevelP6P7(256, 256) });
 * ```
 */
export function resnetFpnExtractor(backbone: ResNet, trainableLayers: number, options: ResnetFpnExtractorOptions = {}): BackboneWithFPN {
  checkOptionKeys('resnetFpnExtractor', options, { returnedLayers: true, extraBlocks: true, normLayer: true });
  if (!Number.isInteger(trainableLayers) || trainableLayers < 0 || trainableLayers > 5) {
    throw new ValueError('resnetFpnExtractor', 'trainableLayers', 'an integer in [0, 5]', String(trainableLayers));
  }
  const train = ['layer4', 'layer3', 'layer2', 'layer1', 'conv1'].slice(0, trainableLayers);
  if (trainableLayers === 5) train.push('bn1');
  for (const [name, p] of backbone.namedParameters()) {
    if (!train.some((layer) => name.startsWith(layer))) p.requiresGrad = false;
  }
  const returned = options.returnedLayers ?? [1, 2, 3, 4];
  if (returned.length === 0 || !returned.every((k) => Number.isInteger(k) && k >= 1 && k <= 4)) {
    throw new ValueError('resnetFpnExtractor', 'returnedLayers', 'stage numbers in [1, 4]', JSON.stringify(returned));
  }
  const returnLayers = Object.fromEntries(returned.map((k, v) => [`layer${k}`, String(v)]));
  const stage2 = backbone.outChannels / 8;
  const inChannelsList = returned.map((k) => stage2 * 2 ** (k - 1));
  return new BackboneWithFPN(backbone, returnLayers, inChannelsList, 256, { extraBlocks: options.extraBlocks, normLayer: options.normLayer });
}

const RESNETS = { resnet18, resnet34, resnet50, resnet101, resnet152 };

/** Options of {@link resnetFpnBackbone}. */
export interface ResnetFpnBackboneOptions extends Omit<ResnetFpnExtractorOptions, 'normLayer'> {
  /** Which ResNet. */
  backboneName: keyof typeof RESNETS;
  /** The backbone's norm layer (default FrozenBatchNorm2d, torchvision's). */
  normLayer?: NormLayer;
  /** Trainable stages from the last (default 3). */
  trainableLayers?: number;
}

/**
 * A ResNet-FPN backbone by name (torchvision's `resnet_fpn_backbone`), FrozenBatchNorm2d by
 * default, 3 trainable stages.
 *
 * @example
 * ```ts
 * const backbone = resnetFpnBackbone({ backboneName: 'resnet18', trainableLayers: 5 });
 * ```
 */
export function resnetFpnBackbone(options: ResnetFpnBackboneOptions): BackboneWithFPN {
  checkOptionKeys('resnetFpnBackbone', options, { backboneName: true, normLayer: true, trainableLayers: true, returnedLayers: true, extraBlocks: true });
  const make = RESNETS[options.backboneName];
  if (!make) throw new ValueError('resnetFpnBackbone', 'backboneName', `one of ${Object.keys(RESNETS).join(', ')}`, String(options.backboneName));
  const backbone = make({ normLayer: options.normLayer ?? ((c) => new FrozenBatchNorm2d(c)) });
  return resnetFpnExtractor(backbone, options.trainableLayers ?? 3, { returnedLayers: options.returnedLayers, extraBlocks: options.extraBlocks });
}
