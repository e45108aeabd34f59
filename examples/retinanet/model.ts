/**
 * The detector: @kiln/vision's RetinaNet on a small ResNet-FPN backbone, trained from scratch.
 *
 * Backbone: a ResNet of BasicBlocks (`blocks` per stage, `baseChannels` wide: torchvision's ResNet
 * layout at a fraction of its width) with BatchNorm, whose stages `returnedLayers` feed a feature
 * pyramid of `fpnChannels`, plus extra levels: RetinaNet's P6, P7 (`LastLevelP6P7`) where the image
 * is large enough for them to keep at least 2 x 2 cells, else a stride-2 pooled level
 * (`LastLevelMaxPool`). BatchNorm rather than GroupNorm: the batches (4 images and more, each
 * level's statistics over every position) give stable statistics, it is torchvision's ResNet
 * norm, and it costs less than GroupNorm on the CPU; under `--nproc` each rank normalises over its
 * own share, as torchvision's detection references do without SyncBatchNorm.
 *
 * Anchors: vision's AnchorGenerator with three sizes per level (`anchorSize` x 2^(level + k/3))
 * and the ratios 0.5, 1, 2, sized for the task's objects. Matching (Matcher 0.5 / 0.4 with
 * low-quality matches), box coding (BoxCoder), the losses (sigmoid focal loss with the variant's
 * gamma and alpha, smooth L1 with Detectron's beta 1/9) and post-processing (per-level top-k, score
 * threshold, decoding, batched NMS) are the RetinaNet's own. The head is RetinaNet's (four 3x3
 * convolutions per subnet; He-initialised here, see buildDetector) with the prior initialisation
 * of the classification bias, -log((1 - π) / π), π = 0.01.
 */
import { BatchNorm2d, Conv2d, GroupNorm, init } from '@kiln/nn';
import { manualSeed } from '@kiln/tensor';
import {
  AnchorGenerator, BackboneWithFPN, BasicBlock, type ExtraFPNBlock, LastLevelMaxPool, LastLevelP6P7, ResNet, RetinaNet, RetinaNetHead,
} from '@kiln/vision';
import type { LossVariant } from './loss.js';

export interface ModelConfig {
  /** BasicBlocks per ResNet stage (layer1 to layer4; stages after the last returned one are not built into the detector) */
  blocks: [number, number, number, number];
  /** channels of the ResNet's stem and layer1 (torchvision's 64), doubled by each stage */
  baseChannels: number;
  /** stages feeding the pyramid, 1 to 4 (strides 4, 8, 16, 32) */
  returnedLayers: number[];
  /** channels of every pyramid level and of the head */
  fpnChannels: number;
  /** levels after the pyramid: RetinaNet's P6 and P7, or one max-pooled level */
  extraLevels: 'p6p7' | 'pool';
  /** the first level's smallest anchor in pixels; each level doubles it, three sizes per level */
  anchorSize: number;
  /** the head's hidden convolutions: GroupNorm of this many groups after each (torchvision's RetinaNet v2), or none (the paper's) */
  headGroupNorm?: number;
  /** the box loss: smooth L1 of beta `smoothL1Beta` on the deltas (the paper's, beta 1/9) or GIoU on the decoded boxes */
  boxLoss?: 'smoothL1' | 'giou';
  smoothL1Beta?: number;
  /** the classifier's initial foreground probability (the paper's prior) */
  priorProbability: number;
  /** post-processing: score threshold, candidates per level, NMS IoU, detections kept per image */
  scoreThreshold: number;
  topkCandidates: number;
  nmsIou: number;
  maxDetections: number;
}

/** The pyramid's levels: the returned stages and the extra ones. */
export const levelCount = (m: ModelConfig): number => m.returnedLayers.length + (m.extraLevels === 'p6p7' ? 2 : 1);

/** The anchors of every level: sizes anchorSize · 2^(level + k/3), k = 0, 1, 2, ratios 0.5, 1, 2. */
export function anchorGenerator(m: ModelConfig): AnchorGenerator {
  const sizes = Array.from({ length: levelCount(m) }, (_, l) => [0, 1, 2].map((k) => m.anchorSize * 2 ** (l + k / 3)));
  return new AnchorGenerator(sizes, sizes.map(() => [0.5, 1, 2]));
}

/** The ResNet-FPN backbone (all of it trained: from scratch, no frozen stages). */
export function backbone(m: ModelConfig): BackboneWithFPN {
  const resnet = new ResNet(BasicBlock, m.blocks, { baseChannels: m.baseChannels, numClasses: 1, normLayer: (c) => new BatchNorm2d(c) });
  const returnLayers = Object.fromEntries(m.returnedLayers.map((k, i) => [`layer${k}`, String(i)]));
  const inChannels = m.returnedLayers.map((k) => m.baseChannels * 2 ** (k - 1));
  const extra: ExtraFPNBlock = m.extraLevels === 'p6p7' ? new LastLevelP6P7(m.fpnChannels, m.fpnChannels) : new LastLevelMaxPool();
  const body = new BackboneWithFPN(resnet, returnLayers, inChannels, m.fpnChannels, { extraBlocks: extra });
  // the stages after the last one returned and the classifier are left out of the body: free them now
  const kept = new Set([...body.parameters(), ...body.buffers()]);
  for (const t of [...resnet.parameters(), ...resnet.buffers()]) if (!kept.has(t)) t.dispose();
  return body;
}

/** A detector with the seeded initial weights `seed` (the same for every loss variant compared). */
export function buildDetector(m: ModelConfig, numClasses: number, variant: LossVariant, seed: number, device: string): RetinaNet<BackboneWithFPN> {
  manualSeed(seed);
  const body = backbone(m);
  const anchors = anchorGenerator(m);
  const head = new RetinaNetHead(body.outChannels, anchors.numAnchorsPerLocation()[0], numClasses, { priorProbability: m.priorProbability, normLayer: m.headGroupNorm ? (c) => new GroupNorm(m.headGroupNorm!, c) : null });
  // The paper's N(0, 0.01²) hidden head convolutions sit on a pre-trained backbone; trained from
  // scratch, four of them shrink the signal by ~0.01 · sqrt(9 · C) each and the head barely
  // learns, so they start He-normal (fan_in, ReLU), as the rest of the network. The output
  // convolutions keep the paper's N(0, 0.01²) and the prior bias.
  for (const tower of [head.classificationHead.conv, head.regressionHead.conv]) {
    for (const mod of tower.modules()) if (mod instanceof Conv2d) init.kaimingNormal_(mod.weight, { nonlinearity: 'relu' });
  }
  return new RetinaNet(body, numClasses, {
    anchorGenerator: anchors, head,
    // the synthetic images are centred near 0.5 with a spread of about 0.25 in every channel
    imageMean: [0.5, 0.5, 0.5], imageStd: [0.25, 0.25, 0.25],
    sizeDivisible: 2 ** (Math.max(...m.returnedLayers) + 1),
    boxLoss: m.boxLoss ?? 'smoothL1', smoothL1Beta: m.smoothL1Beta ?? 1 / 9,
    focalGamma: variant.gamma, focalAlpha: variant.alpha,
    scoreThresh: m.scoreThreshold, topkCandidates: m.topkCandidates, nmsThresh: m.nmsIou, detectionsPerImg: m.maxDetections,
  }).to(device);
}
