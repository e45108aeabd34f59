/**
 * The training-step benchmark's fixed model (it was the RetinaNet example's until the example moved
 * to @kiln/vision's RetinaNet; retinanet_twin.py is its PyTorch twin, and every number of
 * docs/benchmarks.md's training-step tables was measured on it): a small RetinaNet (Lin et al., 2017): a convolutional backbone, a feature pyramid (lateral 1x1
 * convolutions plus the upsampled coarser level), and two subnets shared by every pyramid level —
 * classification (A x K sigmoid logits per position) and box regression (A x 4 deltas per
 * position).
 *
 * Initialisation follows the paper where it matters for the comparison: the last classification
 * convolution has weights N(0, 0.01²) and the bias b = -log((1 - pi) / pi), pi = 0.01, so every
 * anchor starts out predicting foreground with probability ~0.01 — without this "prior" the
 * ~1000x more numerous negatives swamp the loss in the first iterations, whatever the loss
 * (paper, section 3.3). The box output is N(0, 0.01²) with bias 0. The paper's other head
 * convolutions are N(0, 0.01²) too because they sit on a pre-trained ResNet; ours are trained
 * from scratch with the rest of the network, so they get He (Kaiming) initialisation instead.
 */
import { type Tensor, cat, relu, upsampleNearest2d } from '@kiln/tensor';
import { Conv2d, Module, init, priorProbBias } from '@kiln/nn';

export interface ModelConfig {
  /** input channels (1: grayscale) */
  inChannels: number;
  /** channels of the pyramid and of the subnets (RetinaNet: 256) */
  width: number;
  /** hidden 3x3 convolutions in each subnet (RetinaNet: 4) */
  headDepth: number;
  numClasses: number;
  /** anchors per position (A) */
  anchorsPerLocation: number;
  /** strides of the pyramid levels, consecutive powers of two, e.g. [2, 4] */
  strides: readonly number[];
  /** the classification prior pi */
  priorProbability: number;
}

/** Outputs for all anchors of a batch, rows in the anchors' order (anchors.ts). */
export interface DetectorOutput {
  /** [N, anchors, K] classification logits */
  logits: Tensor;
  /** [N, anchors, 4] box deltas */
  deltas: Tensor;
}

const conv3 = (cin: number, cout: number, stride = 1): Conv2d => new Conv2d(cin, cout, 3, { padding: 1, stride });

/** A conv stack that halves the resolution step by step, returning the maps at the wanted strides. */
class Backbone extends Module<[Tensor], Tensor[]> {
  stem: Conv2d;
  downs: Conv2d[] = [];
  constructor(inChannels: number, width: number, readonly strides: readonly number[]) {
    super();
    const last = strides[strides.length - 1];
    strides.forEach((s, i) => {
      if (!Number.isInteger(Math.log2(s)) || s < 2 || (i > 0 && s !== 2 * strides[i - 1])) {
        throw new RangeError(`Backbone: strides must be consecutive powers of two from 2 up, got [${strides.join(', ')}]`);
      }
    });
    this.stem = conv3(inChannels, width / 2);
    for (let s = 2; s <= last; s *= 2) this.downs.push(conv3(s === 2 ? width / 2 : width, width, 2));
  }

  forward(x: Tensor): Tensor[] {
    let y = relu(this.stem.call(x));
    const out: Tensor[] = [];
    this.downs.forEach((d, i) => {
      y = relu(d.call(y));
      if (this.strides.includes(2 ** (i + 1))) out.push(y);
    });
    return out;
  }
}

/** Top-down pathway: P_i = lateral_i(C_i) + upsample2(P_(i+1)). */
class Pyramid extends Module<[Tensor[]], Tensor[]> {
  laterals: Conv2d[];
  constructor(width: number, levels: number) {
    super();
    this.laterals = Array.from({ length: levels }, () => new Conv2d(width, width, 1));
  }

  forward(features: Tensor[]): Tensor[] {
    const out = new Array<Tensor>(features.length);
    for (let i = features.length - 1; i >= 0; i--) {
      const lateral = this.laterals[i].call(features[i]);
      out[i] = i === features.length - 1 ? lateral : lateral.add(upsampleNearest2d(out[i + 1], { scaleFactor: 2 }));
    }
    return out;
  }
}

/** A subnet: headDepth 3x3 conv + ReLU, then a 3x3 conv to A x `perAnchor` outputs. */
class Subnet extends Module {
  hidden: Conv2d[];
  out: Conv2d;
  constructor(width: number, depth: number, readonly anchors: number, readonly perAnchor: number, outBias: number) {
    super();
    this.hidden = Array.from({ length: depth }, () => conv3(width, width));
    for (const c of this.hidden) {
      init.kaimingNormal_(c.weight, { nonlinearity: 'relu' });
      init.zeros_(c.bias!);
    }
    this.out = conv3(width, anchors * perAnchor);
    init.normal_(this.out.weight, 0, 0.01);
    init.constant_(this.out.bias!, outBias);
  }

  /** [N, C, H, W] -> [N, H W A, perAnchor]: rows ordered (y, x, a), as the anchors. */
  forward(x: Tensor): Tensor {
    let y = x;
    for (const c of this.hidden) y = relu(c.call(y));
    const [n, , h, w] = y.shape as [number, number, number, number];
    return this.out.call(y).permute([0, 2, 3, 1]).reshape([n, h * w * this.anchors, this.perAnchor]);
  }
}

export class RetinaNet extends Module<[Tensor], DetectorOutput> {
  backbone: Backbone;
  pyramid: Pyramid;
  classification: Subnet;
  box: Subnet;

  constructor(readonly config: ModelConfig) {
    super();
    const { width, headDepth, anchorsPerLocation: A } = config;
    if (width % 2 !== 0) throw new RangeError(`RetinaNet: width must be even, got ${width}`);
    this.backbone = new Backbone(config.inChannels, width, config.strides);
    this.pyramid = new Pyramid(width, config.strides.length);
    this.classification = new Subnet(width, headDepth, A, config.numClasses, priorProbBias(config.priorProbability));
    this.box = new Subnet(width, headDepth, A, 4, 0);
  }

  forward(images: Tensor): DetectorOutput {
    const levels = this.pyramid.call(this.backbone.call(images));
    const logits = levels.map((p) => this.classification.call(p));
    const deltas = levels.map((p) => this.box.call(p));
    return {
      logits: logits.length === 1 ? logits[0] : cat(logits, 1),
      deltas: deltas.length === 1 ? deltas[0] : cat(deltas, 1),
    };
  }
}
