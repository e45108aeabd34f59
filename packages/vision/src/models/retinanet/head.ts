/**
 * RetinaNet's head (torchvision's `RetinaNetHead`): a classification subnet and a box-regression
 * subnet, each four 3x3 convolutions + ReLU and an output convolution, shared by every pyramid level.
 */
import { type Tensor, ValueError, cat, checkOptionKeys } from '@kiln/tensor';
import { Conv2d, Module, Sequential, init, priorProbBias } from '@kiln/nn';
import { Conv2dNormActivation, type NormLayer } from '../conv-norm-activation.js';
import type { RetinaNetHeadOutputs } from './types.js';

/** Options of the RetinaNet head and its two subnets. */
export interface RetinaNetHeadOptions {
  /** The initial foreground probability of every anchor and class (default 0.01). */
  priorProbability?: number;
  /** A norm layer after each hidden convolution (default none; torchvision's v2 head uses GroupNorm(32)). */
  normLayer?: NormLayer | null;
}

/** Four 3x3 convolutions of `channels` (+ norm) + ReLU, weights N(0, 0.01²) and biases 0. */
function subnetTower(channels: number, normLayer: NormLayer | null): Sequential {
  const tower = new Sequential(...Array.from({ length: 4 }, () => new Conv2dNormActivation(channels, channels, { normLayer })));
  for (const m of tower.modules()) {
    if (!(m instanceof Conv2d)) continue;
    init.normal_(m.weight, 0, 0.01);
    if (m.bias) init.zeros_(m.bias);
  }
  return tower;
}

/** [N, A·k, H, W] per level -> [N, sum of H·W·A, k], rows ordered (level, y, x, anchor) as the anchors. */
function flattenLevels(outputs: readonly Tensor[], k: number): Tensor {
  const flat = outputs.map((o) => {
    const [n, , h, w] = o.shape as [number, number, number, number];
    return o.view([n, -1, k, h, w]).permute([0, 3, 4, 1, 2]).reshape([n, -1, k]);
  });
  return flat.length === 1 ? flat[0] : cat(flat, 1);
}

/** torchvision's version-1 subnet keys (`conv.2.weight`, ReLUs in between) become `conv.1.0.weight`. */
function upgradeTowerKeys(state: Record<string, Tensor>, prefix: string): void {
  for (let i = 0; i < 4; i++) {
    for (const kind of ['weight', 'bias']) {
      const old = `${prefix}conv.${2 * i}.${kind}`;
      if (old in state) {
        state[`${prefix}conv.${i}.0.${kind}`] = state[old]!;
        delete state[old];
      }
    }
  }
}

/**
 * The classification subnet: per level and anchor, one logit per class. The output convolution
 * starts at weights N(0, 0.01²) and bias -log((1 - π) / π), so every anchor starts at foreground
 * probability π (the paper's prior, section 3.3: without it the many easy negatives swamp the
 * first iterations).
 *
 * @example
 * ```ts
 * const cls = new RetinaNetClassificationHead(256, 9, 80);
 * cls.call([p3, p4]).shape;   // [N, (H3·W3 + H4·W4)·9, 80]
 * ```
 */
export class RetinaNetClassificationHead extends Module<[Tensor[]], Tensor> {
  /** The four hidden convolutions. */
  conv: Sequential;
  /** The output convolution: A · K channels. */
  clsLogits: Conv2d;
  /** Classes K. */
  readonly numClasses: number;
  /** Anchors per location A. */
  readonly numAnchors: number;

  constructor(inChannels: number, numAnchors: number, numClasses: number, options: RetinaNetHeadOptions = {}) {
    super();
    const prior = options.priorProbability ?? 0.01;
    for (const [arg, v] of [['numAnchors', numAnchors], ['numClasses', numClasses]] as const) {
      if (!Number.isInteger(v) || v < 1) throw new ValueError('RetinaNetClassificationHead', arg, 'a positive integer', String(v));
    }
    this.conv = subnetTower(inChannels, options.normLayer ?? null);
    this.clsLogits = new Conv2d(inChannels, numAnchors * numClasses, 3, { padding: 1 });
    init.normal_(this.clsLogits.weight, 0, 0.01);
    init.constant_(this.clsLogits.bias!, priorProbBias(prior));
    this.numClasses = numClasses;
    this.numAnchors = numAnchors;
  }

  forward(x: Tensor[]): Tensor {
    return flattenLevels(x.map((f) => this.clsLogits.call(this.conv.call(f))), this.numClasses);
  }

  protected override upgradeStateDict(state: Record<string, Tensor>, prefix: string): void {
    upgradeTowerKeys(state, prefix);
  }
}

/**
 * The box-regression subnet: per level and anchor, four box deltas (dx, dy, dw, dh) relative to the
 * anchor. Output convolution N(0, 0.01²) with bias 0.
 *
 * @example
 * ```ts
 * const box = new RetinaNetRegressionHead(256, 9);
 * box.call([p3, p4]).shape;   // [N, (H3·W3 + H4·W4)·9, 4]
 * ```
 */
export class RetinaNetRegressionHead extends Module<[Tensor[]], Tensor> {
  /** The four hidden convolutions. */
  conv: Sequential;
  /** The output convolution: A · 4 channels. */
  bboxReg: Conv2d;

  constructor(inChannels: number, numAnchors: number, options: Omit<RetinaNetHeadOptions, 'priorProbability'> = {}) {
    super();
    if (!Number.isInteger(numAnchors) || numAnchors < 1) throw new ValueError('RetinaNetRegressionHead', 'numAnchors', 'a positive integer', String(numAnchors));
    this.conv = subnetTower(inChannels, options.normLayer ?? null);
    this.bboxReg = new Conv2d(inChannels, numAnchors * 4, 3, { padding: 1 });
    init.normal_(this.bboxReg.weight, 0, 0.01);
    init.zeros_(this.bboxReg.bias!);
  }

  forward(x: Tensor[]): Tensor {
    return flattenLevels(x.map((f) => this.bboxReg.call(this.conv.call(f))), 4);
  }

  protected override upgradeStateDict(state: Record<string, Tensor>, prefix: string): void {
    upgradeTowerKeys(state, prefix);
  }
}

/**
 * Both subnets: `{ clsLogits: [N, anchors, K], bboxRegression: [N, anchors, 4] }`, rows in the
 * anchors' order (level, y, x, anchor).
 *
 * @example
 * ```ts
 * const head = new RetinaNetHead(256, 9, 91);
 * const { clsLogits, bboxRegression } = head.call(levels);
 * ```
 */
export class RetinaNetHead extends Module<[Tensor[]], RetinaNetHeadOutputs> {
  /** The classification subnet. */
  classificationHead: RetinaNetClassificationHead;
  /** The box-regression subnet. */
  regressionHead: RetinaNetRegressionHead;

  constructor(inChannels: number, numAnchors: number, numClasses: number, options: RetinaNetHeadOptions = {}) {
    super();
    checkOptionKeys('RetinaNetHead', options, { priorProbability: true, normLayer: true });
    this.classificationHead = new RetinaNetClassificationHead(inChannels, numAnchors, numClasses, options);
    this.regressionHead = new RetinaNetRegressionHead(inChannels, numAnchors, { normLayer: options.normLayer });
  }

  forward(x: Tensor[]): RetinaNetHeadOutputs {
    return { clsLogits: this.classificationHead.call(x), bboxRegression: this.regressionHead.call(x) };
  }
}
