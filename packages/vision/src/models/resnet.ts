/**
 * ResNet (He et al., 2016) in torchvision's layout: `resnet18`, `resnet34` (BasicBlock),
 * `resnet50`, `resnet101`, `resnet152` (Bottleneck, the stride on the 3x3 convolution: "ResNet
 * v1.5"), with torchvision's module names, so its state dicts load (see `loadTorchvisionWeights`),
 * and its initialisation.
 */
import { type Tensor, ValueError, checkOptionKeys } from '@kiln/tensor';
import { AdaptiveAvgPool2d, BatchNorm2d, Conv2d, Linear, MaxPool2d, Module, ReLU, Sequential, init } from '@kiln/nn';
import type { NormLayer } from './conv-norm-activation.js';

/** What a residual block is built from (torchvision's block arguments). */
export interface ResidualBlockOptions {
  /** Stride of the block (on its 3x3 convolution). */
  stride?: number;
  /** The shortcut's projection (1x1 conv + norm) when the shape changes, else null. */
  downsample?: Sequential | null;
  /** Channel groups of the 3x3 convolution (ResNeXt; Bottleneck only). */
  groups?: number;
  /** Channels per group at planes = 64 (Wide ResNet / ResNeXt; Bottleneck only). */
  baseWidth?: number;
  /** Dilation of the 3x3 convolution (Bottleneck only). */
  dilation?: number;
  /** The norm layer (default BatchNorm2d). */
  normLayer?: NormLayer;
}

const defaultNorm: NormLayer = (c) => new BatchNorm2d(c);
const conv3x3 = (cin: number, cout: number, stride = 1, groups = 1, dilation = 1): Conv2d =>
  new Conv2d(cin, cout, 3, { stride, padding: dilation, groups, bias: false, dilation });
const conv1x1 = (cin: number, cout: number, stride = 1): Conv2d => new Conv2d(cin, cout, 1, { stride, bias: false });

/**
 * Two 3x3 convolutions with a shortcut: relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)), the
 * block of ResNet-18 and -34.
 *
 * @example
 * ```ts
 * const block = new BasicBlock(64, 64);
 * block.call(randn([1, 64, 8, 8])).shape;   // [1, 64, 8, 8]
 * ```
 */
export class BasicBlock extends Module {
  /** Output channels per `planes`. */
  static readonly expansion = 1;
  /** First 3x3 convolution (carries the stride). */
  conv1: Conv2d;
  /** Norm after conv1. */
  bn1: Module;
  /** The activation. */
  relu = new ReLU();
  /** Second 3x3 convolution. */
  conv2: Conv2d;
  /** Norm after conv2 (zeroed by `zeroInitResidual`). */
  bn2: Module;
  /** The shortcut's projection, or null for the identity. */
  downsample: Sequential | null;
  /** The block's stride. */
  readonly stride: number;

  constructor(inplanes: number, planes: number, options: ResidualBlockOptions = {}) {
    super();
    if ((options.groups ?? 1) !== 1 || (options.baseWidth ?? 64) !== 64) {
      throw new ValueError('BasicBlock', 'groups', 'groups 1 and baseWidth 64 (BasicBlock has no grouped form)', `groups ${options.groups ?? 1}, baseWidth ${options.baseWidth ?? 64}`);
    }
    if ((options.dilation ?? 1) > 1) throw new ValueError('BasicBlock', 'dilation', 'dilation 1 (BasicBlock has no dilated form)', String(options.dilation));
    const norm = options.normLayer ?? defaultNorm;
    this.stride = options.stride ?? 1;
    this.conv1 = conv3x3(inplanes, planes, this.stride);
    this.bn1 = norm(planes);
    this.conv2 = conv3x3(planes, planes);
    this.bn2 = norm(planes);
    this.downsample = options.downsample ?? null;
  }

  forward(x: Tensor): Tensor {
    const out = this.bn2.call(this.conv2.call(this.relu.call(this.bn1.call(this.conv1.call(x)))));
    const identity = this.downsample ? this.downsample.call(x) : x;
    return this.relu.call(out.add(identity));
  }
}

/**
 * 1x1 reduce, 3x3 (carrying the stride), 1x1 expand by 4, with a shortcut: the block of ResNet-50
 * and deeper (torchvision's "v1.5", stride on the 3x3 convolution).
 *
 * @example
 * ```ts
 * const block = new Bottleneck(256, 64);
 * block.call(randn([1, 256, 8, 8])).shape;   // [1, 256, 8, 8]
 * ```
 */
export class Bottleneck extends Module {
  /** Output channels per `planes`. */
  static readonly expansion = 4;
  /** 1x1 reduction. */
  conv1: Conv2d;
  /** Norm after conv1. */
  bn1: Module;
  /** 3x3 convolution (carries the stride, groups and dilation). */
  conv2: Conv2d;
  /** Norm after conv2. */
  bn2: Module;
  /** 1x1 expansion to planes · 4. */
  conv3: Conv2d;
  /** Norm after conv3 (zeroed by `zeroInitResidual`). */
  bn3: Module;
  /** The activation. */
  relu: ReLU;
  /** The shortcut's projection, or null for the identity. */
  downsample: Sequential | null;
  /** The block's stride. */
  readonly stride: number;

  constructor(inplanes: number, planes: number, options: ResidualBlockOptions = {}) {
    super();
    const norm = options.normLayer ?? defaultNorm;
    const groups = options.groups ?? 1;
    const width = Math.floor(planes * ((options.baseWidth ?? 64) / 64)) * groups;
    this.stride = options.stride ?? 1;
    this.conv1 = conv1x1(inplanes, width);
    this.bn1 = norm(width);
    this.conv2 = conv3x3(width, width, this.stride, groups, options.dilation ?? 1);
    this.bn2 = norm(width);
    this.conv3 = conv1x1(width, planes * Bottleneck.expansion);
    this.bn3 = norm(planes * Bottleneck.expansion);
    this.relu = new ReLU();
    this.downsample = options.downsample ?? null;
  }

  forward(x: Tensor): Tensor {
    let out = this.relu.call(this.bn1.call(this.conv1.call(x)));
    out = this.relu.call(this.bn2.call(this.conv2.call(out)));
    out = this.bn3.call(this.conv3.call(out));
    const identity = this.downsample ? this.downsample.call(x) : x;
    return this.relu.call(out.add(identity));
  }
}

// Fields are declared in torchvision's order, which is the order of the state dict's keys (class
// fields are defined in declaration order when the instance is made).

/** A residual block class: BasicBlock or Bottleneck. */
export type ResidualBlock = typeof BasicBlock | typeof Bottleneck;

/** Options of {@link ResNet} and the `resnet*` builders (torchvision's, camelCased). */
export interface ResNetOptions {
  /** Outputs of the final linear layer (default 1000). */
  numClasses?: number;
  /** Start each residual branch's last norm at 0, so every block starts as the identity (default false). */
  zeroInitResidual?: boolean;
  /** Channel groups of the Bottleneck's 3x3 convolutions (ResNeXt; default 1). */
  groups?: number;
  /** Channels per group (Wide ResNet / ResNeXt; default 64). */
  widthPerGroup?: number;
  /**
   * Channels of the stem and planes of layer1 (default 64, torchvision's fixed `inplanes`); layer k
   * has `baseChannels · 2^(k-1)` planes, so 16 makes a ResNet a quarter as wide, for small images
   * and models trained from scratch. Only the default loads torchvision's weights.
   */
  baseChannels?: number;
  /** For layer2..layer4: replace the stride 2 by dilation (default none). */
  replaceStrideWithDilation?: readonly [boolean, boolean, boolean];
  /** The norm layer (default BatchNorm2d; detection backbones pass FrozenBatchNorm2d). */
  normLayer?: NormLayer;
}

/**
 * A ResNet: a 7x7 stem with max pooling, four stages of residual blocks (layer1 to layer4,
 * strides 4, 8, 16, 32), global average pooling and a linear classifier, in torchvision's layout
 * and initialisation (convolutions He-normal with fan_out, norms at weight 1 and bias 0).
 *
 * @example
 * ```ts
 * const net = new ResNet(Bottleneck, [3, 4, 6, 3], { numClasses: 10 });   // resnet50's stages
 * net.call(randn([2, 3, 64, 64])).shape;                                  // [2, 10]
 * const small = resnet18({ baseChannels: 16 });                           // 16, 32, 64, 128 channels
 * small.outChannels;                                                      // 128
 * ```
 */
export class ResNet extends Module {
  /** The stem's 7x7 convolution, stride 2. */
  conv1: Conv2d;
  /** The stem's norm. */
  bn1: Module;
  /** The activation. */
  relu = new ReLU();
  /** The stem's 3x3 max pooling, stride 2. */
  maxpool = new MaxPool2d(3, { stride: 2, padding: 1 });
  /** Stage 1 (stride 4 from the input). */
  layer1: Sequential;
  /** Stage 2 (stride 8). */
  layer2: Sequential;
  /** Stage 3 (stride 16). */
  layer3: Sequential;
  /** Stage 4 (stride 32). */
  layer4: Sequential;
  /** Global average pooling. */
  avgpool = new AdaptiveAvgPool2d([1, 1]);
  /** The classifier. */
  fc: Linear;
  /** Channels out of the last stage. */
  readonly outChannels: number;

  constructor(block: ResidualBlock, layers: readonly [number, number, number, number], options: ResNetOptions = {}) {
    super();
    checkOptionKeys('ResNet', options, {
      numClasses: true, zeroInitResidual: true, groups: true, widthPerGroup: true, baseChannels: true, replaceStrideWithDilation: true, normLayer: true,
    });
    const norm = options.normLayer ?? defaultNorm;
    const dilate = options.replaceStrideWithDilation ?? [false, false, false];
    if (dilate.length !== 3) throw new ValueError('ResNet', 'replaceStrideWithDilation', 'three booleans (for layer2, layer3, layer4)', JSON.stringify(dilate));
    if (layers.length !== 4 || !layers.every((n) => Number.isInteger(n) && n >= 1)) {
      throw new ValueError('ResNet', 'layers', 'four positive block counts', JSON.stringify(layers));
    }
    const groups = options.groups ?? 1, baseWidth = options.widthPerGroup ?? 64;
    const base = options.baseChannels ?? 64;
    if (!Number.isInteger(base) || base < 1) throw new ValueError('ResNet', 'baseChannels', 'a positive integer', String(base));
    this.conv1 = new Conv2d(3, base, 7, { stride: 2, padding: 3, bias: false });
    this.bn1 = norm(base);
    let inplanes = base, dilation = 1;
    const stage = (planes: number, blocks: number, stride: number, dilateStage: boolean): Sequential => {
      const previousDilation = dilation;
      if (dilateStage) {
        dilation *= stride;
        stride = 1;
      }
      const out = planes * block.expansion;
      const downsample = stride !== 1 || inplanes !== out ? new Sequential(conv1x1(inplanes, out, stride), norm(out)) : null;
      const list: Module[] = [new block(inplanes, planes, { stride, downsample, groups, baseWidth, dilation: previousDilation, normLayer: norm })];
      inplanes = out;
      for (let i = 1; i < blocks; i++) list.push(new block(inplanes, planes, { groups, baseWidth, dilation, normLayer: norm }));
      return new Sequential(...list);
    };
    this.layer1 = stage(base, layers[0], 1, false);
    this.layer2 = stage(2 * base, layers[1], 2, dilate[0]);
    this.layer3 = stage(4 * base, layers[2], 2, dilate[1]);
    this.layer4 = stage(8 * base, layers[3], 2, dilate[2]);
    this.outChannels = 8 * base * block.expansion;
    this.fc = new Linear(this.outChannels, options.numClasses ?? 1000);
    for (const m of this.modules()) {
      if (m instanceof Conv2d) init.kaimingNormal_(m.weight, { mode: 'fan_out', nonlinearity: 'relu' });
    }
    if (options.zeroInitResidual) {
      for (const m of this.modules()) {
        const last = m instanceof Bottleneck ? m.bn3 : m instanceof BasicBlock ? m.bn2 : null;
        const weight = (last as { weight?: Tensor | null } | null)?.weight;
        if (weight) init.zeros_(weight);
      }
    }
  }

  forward(x: Tensor): Tensor {
    let y = this.maxpool.call(this.relu.call(this.bn1.call(this.conv1.call(x))));
    y = this.layer4.call(this.layer3.call(this.layer2.call(this.layer1.call(y))));
    return this.fc.call(this.avgpool.call(y).flatten(1));
  }
}

/**
 * ResNet-18: BasicBlocks [2, 2, 2, 2] (11.7 M parameters with 1000 classes).
 *
 * @example
 * ```ts
 * const net = resnet18({ numClasses: 10 });
 * ```
 */
export const resnet18 = (options: ResNetOptions = {}): ResNet => new ResNet(BasicBlock, [2, 2, 2, 2], options);
/** ResNet-34: BasicBlocks [3, 4, 6, 3]. See {@link resnet18}. */
export const resnet34 = (options: ResNetOptions = {}): ResNet => new ResNet(BasicBlock, [3, 4, 6, 3], options);
/**
 * ResNet-50: Bottlenecks [3, 4, 6, 3] (25.6 M parameters with 1000 classes).
 *
 * @example
 * ```ts
 * const backbone = resnet50({ normLayer: (c) => new FrozenBatchNorm2d(c) });
 * loadTorchvisionWeights(backbone, 'resnet50.safetensors');
 * ```
 */
export const resnet50 = (options: ResNetOptions = {}): ResNet => new ResNet(Bottleneck, [3, 4, 6, 3], options);
/** ResNet-101: Bottlenecks [3, 4, 23, 3]. See {@link resnet50}. */
export const resnet101 = (options: ResNetOptions = {}): ResNet => new ResNet(Bottleneck, [3, 4, 23, 3], options);
/** ResNet-152: Bottlenecks [3, 8, 36, 3]. See {@link resnet50}. */
export const resnet152 = (options: ResNetOptions = {}): ResNet => new ResNet(Bottleneck, [3, 8, 36, 3], options);
