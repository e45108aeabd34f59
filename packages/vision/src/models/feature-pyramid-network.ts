/**
 * FeaturePyramidNetwork (Lin et al., 2017) and its extra blocks, in torchvision's layout
 * (`torchvision.ops.FeaturePyramidNetwork`, `LastLevelMaxPool`, `LastLevelP6P7`).
 */
import { type Tensor, ValueError, checkOptionKeys, describeValue, maxPool2d, relu, upsampleNearest2d } from '@kiln/tensor';
import { Conv2d, Module, init } from '@kiln/nn';
import { Conv2dNormActivation, type NormLayer } from './conv-norm-activation.js';

/**
 * A block run after the pyramid's top-down pathway that appends levels (torchvision's
 * `ExtraFPNBlock`): it gets the pyramid's levels, the backbone's features and the level names,
 * and returns the extended lists.
 */
export abstract class ExtraFPNBlock extends Module<[Tensor[], Tensor[], string[]], [Tensor[], string[]]> {}

/**
 * Appends 'pool': the last level subsampled by 2 (a 1x1 max pool with stride 2), Faster R-CNN's
 * extra level.
 *
 * @example
 * ```ts
 * const fpn = new FeaturePyramidNetwork([256, 512], 256, { extraBlocks: new LastLevelMaxPool() });
 * ```
 */
export class LastLevelMaxPool extends ExtraFPNBlock {
  forward(results: Tensor[], _features: Tensor[], names: string[]): [Tensor[], string[]] {
    return [[...results, maxPool2d(results[results.length - 1], 1, 2, 0)], [...names, 'pool']];
  }
}

/**
 * Appends RetinaNet's P6 and P7: P6 = conv3x3/2(x), P7 = conv3x3/2(relu(P6)), where x is the
 * pyramid's last level P5 when `inChannels == outChannels` (torchvision's retinanet_resnet50_fpn)
 * and the backbone's last feature map C5 otherwise (the paper's, and torchvision's v2). Weights
 * He-uniform with a = 1, biases 0.
 *
 * @example
 * ```ts
 * const extra = new LastLevelP6P7(256, 256);   // from P5
 * ```
 */
export class LastLevelP6P7 extends ExtraFPNBlock {
  /** The stride-2 convolution making P6. */
  p6: Conv2d;
  /** The stride-2 convolution making P7 from relu(P6). */
  p7: Conv2d;
  /** Whether P6 is computed from P5 (else from C5). */
  readonly useP5: boolean;

  constructor(inChannels: number, outChannels: number) {
    super();
    this.p6 = new Conv2d(inChannels, outChannels, 3, { stride: 2, padding: 1 });
    this.p7 = new Conv2d(outChannels, outChannels, 3, { stride: 2, padding: 1 });
    for (const conv of [this.p6, this.p7]) {
      init.kaimingUniform_(conv.weight, { a: 1 });
      init.zeros_(conv.bias!);
    }
    this.useP5 = inChannels === outChannels;
  }

  forward(results: Tensor[], features: Tensor[], names: string[]): [Tensor[], string[]] {
    const x = this.useP5 ? results[results.length - 1] : features[features.length - 1];
    const p6 = this.p6.call(x);
    const p7 = this.p7.call(relu(p6));
    return [[...results, p6, p7], [...names, 'p6', 'p7']];
  }
}

/** Options of {@link FeaturePyramidNetwork}. */
export interface FeaturePyramidNetworkOptions {
  /** Levels appended after the top-down pathway (default none). */
  extraBlocks?: ExtraFPNBlock | null;
  /** A norm layer after each convolution (default none: convolutions with bias). */
  normLayer?: NormLayer | null;
}

/**
 * The feature pyramid: for features C_i (finest first), P_i = layer_i(inner_i(C_i) +
 * nearest-upsample(inner sum of level i + 1)), with 1x1 lateral convolutions `innerBlocks` and
 * 3x3 output convolutions `layerBlocks`, all `outChannels` wide, then the extra blocks. Input
 * and output are maps from level name to tensor, finest first; the convolutions are He-uniform
 * with a = 1 and zero biases, as torchvision's.
 *
 * @example
 * ```ts
 * const fpn = new FeaturePyramidNetwork([512, 1024, 2048], 256, { extraBlocks: new LastLevelP6P7(256, 256) });
 * const levels = fpn.call(new Map([['0', c3], ['1', c4], ['2', c5]]));   // '0', '1', '2', 'p6', 'p7'
 * ```
 */
export class FeaturePyramidNetwork extends Module<[Map<string, Tensor>], Map<string, Tensor>> {
  /** The 1x1 lateral convolution of each input level. */
  innerBlocks: Conv2dNormActivation[];
  /** The 3x3 output convolution of each level. */
  layerBlocks: Conv2dNormActivation[];
  /** Levels appended at the end (null: none). */
  extraBlocks: ExtraFPNBlock | null;
  /** Channels of every level. */
  readonly outChannels: number;

  constructor(inChannelsList: readonly number[], outChannels: number, options: FeaturePyramidNetworkOptions = {}) {
    super();
    checkOptionKeys('FeaturePyramidNetwork', options, { extraBlocks: true, normLayer: true });
    if (inChannelsList.length === 0 || !inChannelsList.every((c) => Number.isInteger(c) && c > 0)) {
      throw new ValueError('FeaturePyramidNetwork', 'inChannelsList', 'a non-empty list of positive channel counts', JSON.stringify(inChannelsList));
    }
    const normLayer = options.normLayer ?? null;
    this.innerBlocks = inChannelsList.map((c) => new Conv2dNormActivation(c, outChannels, { kernelSize: 1, padding: 0, normLayer, activationLayer: null }));
    this.layerBlocks = inChannelsList.map(() => new Conv2dNormActivation(outChannels, outChannels, { kernelSize: 3, normLayer, activationLayer: null }));
    for (const m of this.modules()) {
      if (!(m instanceof Conv2d)) continue;
      init.kaimingUniform_(m.weight, { a: 1 });
      if (m.bias) init.zeros_(m.bias);
    }
    this.extraBlocks = options.extraBlocks ?? null;
    this.outChannels = outChannels;
  }

  forward(x: Map<string, Tensor>): Map<string, Tensor> {
    if (!(x instanceof Map)) throw new ValueError('FeaturePyramidNetwork', 'x', 'a Map of feature maps by name (as the backbone returns)', describeValue(x));
    const names = [...x.keys()], features = [...x.values()];
    if (features.length !== this.innerBlocks.length) {
      throw new ValueError('FeaturePyramidNetwork', 'x', `${this.innerBlocks.length} feature maps (one per inChannelsList entry)`, `${features.length}`);
    }
    const last = features.length - 1;
    let lastInner = this.innerBlocks[last].call(features[last]);
    const results = new Array<Tensor>(features.length);
    results[last] = this.layerBlocks[last].call(lastInner);
    for (let i = last - 1; i >= 0; i--) {
      const lateral = this.innerBlocks[i].call(features[i]);
      const topDown = upsampleNearest2d(lastInner, { size: [lateral.shape[2], lateral.shape[3]] });
      lastInner = lateral.add(topDown);
      results[i] = this.layerBlocks[i].call(lastInner);
    }
    const [levels, levelNames] = this.extraBlocks ? this.extraBlocks.call(results, features, names) : [results, names];
    return new Map(levelNames.map((n, i) => [n, levels[i]]));
  }

  /** torchvision's version-1 keys (`innerBlocks.0.weight`) become today's (`innerBlocks.0.0.weight`). */
  protected override upgradeStateDict(state: Record<string, Tensor>, prefix: string): void {
    for (const block of ['innerBlocks', 'layerBlocks']) {
      this.innerBlocks.forEach((_, i) => {
        for (const kind of ['weight', 'bias']) {
          const old = `${prefix}${block}.${i}.${kind}`;
          if (old in state) {
            state[`${prefix}${block}.${i}.0.${kind}`] = state[old]!;
            delete state[old];
          }
        }
      });
    }
  }
}
