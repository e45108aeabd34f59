/**
 * RetinaNet (Lin et al., 2017, "Focal Loss for Dense Object Detection") as torchvision's
 * `RetinaNet`: a backbone with a feature pyramid, anchors on every level, a classification and a
 * box-regression subnet shared by the levels; in training it returns its two losses, in
 * evaluation its post-processed detections.
 */
import { DTypeError, ShapeError, Tensor, ValueError, checkFinite, checkOptionKeys, describeValue, isFloating, tidy } from '@kiln/tensor';
import { BatchNorm2d, Module } from '@kiln/nn';
import { AnchorGenerator } from '../../anchors/anchor-generator.js';
import { Matcher } from '../../anchors/matcher.js';
import { BoxCoder } from '../../ops/index.js';
import { DetectionPreprocess, type DetectionPreprocessOptions } from '../detection-preprocess.js';
import { LastLevelP6P7 } from '../feature-pyramid-network.js';
import { type BackboneWithFPN, resnetFpnExtractor } from '../backbone-with-fpn.js';
import type { NormLayer } from '../conv-norm-activation.js';
import { resnet50 } from '../resnet.js';
import { RetinaNetHead } from './head.js';
import { type BoxLossType, type PaddedTargets, type RetinaNetLossOptions, boxRegressionLossBatched, checkBoxLoss, classificationLossBatched, matchAnchorsBatched, padTargets } from './losses.js';
import { type PostprocessOptions, postprocessDetections } from './postprocess.js';
import type { Detection, DetectionTarget, RetinaNetHeadOutputs, RetinaNetLosses } from './types.js';

/** A backbone RetinaNet can use: feature maps by level name (or one map), all `outChannels` wide. */
export type DetectionBackbone = Module<[Tensor], Map<string, Tensor> | Tensor> & {
  /** Channels of every feature map. */
  readonly outChannels: number;
};

/** Options of {@link RetinaNet} (torchvision's arguments, camelCased; its defaults). */
export interface RetinaNetOptions extends DetectionPreprocessOptions {
  /** Anchors per level (default RetinaNet's: sizes 32..512 × 2^(0, 1/3, 2/3), ratios 0.5, 1, 2, on 5 levels). */
  anchorGenerator?: AnchorGenerator;
  /** The head (default a RetinaNetHead for the backbone's channels and the anchors per location). */
  head?: RetinaNetHead;
  /** Matches anchors to ground truths (default Matcher(fgIouThresh, bgIouThresh, low-quality matches on)). */
  proposalMatcher?: Matcher;
  /** Scores at or below it are dropped (default 0.05). */
  scoreThresh?: number;
  /** NMS IoU threshold (default 0.5). */
  nmsThresh?: number;
  /** Detections kept per image (default 300). */
  detectionsPerImg?: number;
  /** IoU from which an anchor is foreground (default 0.5). */
  fgIouThresh?: number;
  /** IoU below which an anchor is background; between the two it is ignored (default 0.4). */
  bgIouThresh?: number;
  /** Candidates kept per level before NMS (default 1000). */
  topkCandidates?: number;
  /** The box loss (default 'l1', torchvision's RetinaNet v1; 'giou' is its v2's). */
  boxLoss?: BoxLossType;
  /** Smooth L1's beta with boxLoss 'smoothL1' (default 1, torchvision's; Detectron's RetinaNet uses 1/9). */
  smoothL1Beta?: number;
  /** The focal loss's alpha (default 0.25). */
  focalAlpha?: number;
  /** The focal loss's gamma (default 2). */
  focalGamma?: number;
}

/** RetinaNet's default anchors: torchvision's `_default_anchorgen` (sizes truncated to integers as it does). */
export function retinanetAnchorGenerator(): AnchorGenerator {
  const sizes = [32, 64, 128, 256, 512].map((x) => [x, Math.trunc(x * 2 ** (1 / 3)), Math.trunc(x * 2 ** (2 / 3))]);
  return new AnchorGenerator(sizes, sizes.map(() => [0.5, 1, 2]));
}

/** RetinaNet's input: images [C, H, W] each (sizes may differ), or one batch [N, C, H, W]. */
export type DetectionImages = Tensor | readonly Tensor[];

/**
 * RetinaNet: `call(images, targets)` in training mode returns `{ classification, bboxRegression }`
 * (0-d tensors to add and backpropagate); in evaluation mode `call(images)` returns one
 * `{ boxes, scores, labels }` per image. `computeLosses` and `detect` do either in any mode.
 * Images are pixels in [0, 1]; the model normalises and batches them (see DetectionPreprocess)
 * but does not resize them. Labels index the classifier's columns: class c is column c, as
 * torchvision's (whose COCO models keep column 0 for the background and never train it).
 *
 * @example
 * ```ts
 * const model = retinanetResnet50Fpn({ numClasses: 3 });
 * const losses = model.train().computeLosses(images, [{ boxes, labels }]);
 * losses.classification.add(losses.bboxRegression).backward();
 * const [det] = model.eval().detect(images);       // det.boxes [D, 4], det.scores [D], det.labels [D]
 * ```
 */
export class RetinaNet<B extends DetectionBackbone = DetectionBackbone> extends Module<[DetectionImages, (readonly DetectionTarget[])?], RetinaNetLosses | Detection[]> {
  /** Feature maps of the images. */
  backbone: B;
  /** Anchors on every feature map. */
  anchorGenerator: AnchorGenerator;
  /** Classification and box subnets. */
  head: RetinaNetHead;
  /** Normalisation and batching. */
  transform: DetectionPreprocess;
  /** Anchor-to-box assignment for the losses. */
  readonly proposalMatcher: Matcher;
  /** Box encoding relative to anchors (weights 1, 1, 1, 1). */
  readonly boxCoder = new BoxCoder([1, 1, 1, 1]);
  /** Post-processing thresholds and counts. */
  readonly postprocess: Readonly<PostprocessOptions>;
  /** Loss settings (assign another object to change them, as torchvision's `_loss_type`). */
  lossOptions: Readonly<RetinaNetLossOptions>;

  constructor(backbone: B, numClasses: number, options: RetinaNetOptions = {}) {
    super();
    // torchvision's spellings (score_thresh, nms_thresh) were ignored: the defaults were used
    checkOptionKeys('RetinaNet', options, {
      anchorGenerator: true, head: true, proposalMatcher: true, scoreThresh: true, nmsThresh: true, detectionsPerImg: true, fgIouThresh: true,
      bgIouThresh: true, topkCandidates: true, boxLoss: true, smoothL1Beta: true, focalAlpha: true, focalGamma: true,
      imageMean: true, imageStd: true, sizeDivisible: true,
    });
    if (!Number.isInteger(backbone.outChannels) || backbone.outChannels < 1) {
      throw new ValueError('RetinaNet', 'backbone', 'a backbone with outChannels (the channels of every feature map)', String(backbone.outChannels));
    }
    this.backbone = backbone;
    this.anchorGenerator = options.anchorGenerator ?? retinanetAnchorGenerator();
    this.head = options.head ?? new RetinaNetHead(backbone.outChannels, this.anchorGenerator.numAnchorsPerLocation()[0], numClasses);
    this.transform = new DetectionPreprocess({ imageMean: options.imageMean, imageStd: options.imageStd, sizeDivisible: options.sizeDivisible });
    this.proposalMatcher = options.proposalMatcher ?? new Matcher(options.fgIouThresh ?? 0.5, options.bgIouThresh ?? 0.4, true);
    this.postprocess = {
      scoreThresh: options.scoreThresh ?? 0.05, nmsThresh: options.nmsThresh ?? 0.5,
      detectionsPerImg: options.detectionsPerImg ?? 300, topkCandidates: options.topkCandidates ?? 1000,
    };
    // a NaN score threshold kept no detection at all, silently
    for (const k of ['scoreThresh', 'nmsThresh'] as const) checkFinite('RetinaNet', k, this.postprocess[k]);
    for (const k of ['detectionsPerImg', 'topkCandidates'] as const) {
      if (!Number.isInteger(this.postprocess[k]) || this.postprocess[k] < 0) throw new ValueError('RetinaNet', k, 'a non-negative integer', String(this.postprocess[k]));
    }
    this.lossOptions = {
      boxLoss: checkBoxLoss('RetinaNet', options.boxLoss ?? 'l1'), smoothL1Beta: options.smoothL1Beta ?? 1,
      focalAlpha: options.focalAlpha ?? 0.25, focalGamma: options.focalGamma ?? 2,
    };
  }

  /** Training mode: the losses (targets required); evaluation mode: the detections (torchvision's). */
  forward(images: DetectionImages, targets?: readonly DetectionTarget[]): RetinaNetLosses | Detection[] {
    if (this.training) {
      if (!targets) throw new ValueError('RetinaNet', 'targets', 'targets in training mode (or call eval() to detect)', 'none');
      return this.computeLosses(images, targets);
    }
    return this.detect(images);
  }

  /**
   * The backbone's feature maps, the head's outputs and the anchors [B, A, 4] of a normalised,
   * batched input (the generator's kept set, expanded: read only).
   */
  private features(images: DetectionImages): { levels: Tensor[]; outputs: RetinaNetHeadOutputs; anchors: Tensor; imageSizes: [number, number][] } {
    const batch = this.transform.call(images);
    const f = this.backbone.call(batch.tensors);
    const levels = f instanceof Map ? [...f.values()] : [f];
    const outputs = this.head.call(levels);
    const anchors = this.anchorGenerator.batchAnchors(batch, levels);
    return { levels, outputs, anchors, imageSizes: batch.imageSizes };
  }

  /**
   * The two training losses for images and their targets (boxes in the images' pixels), in the
   * current mode (batch norms in training mode use batch statistics).
   */
  computeLosses(images: DetectionImages, targets: readonly DetectionTarget[]): RetinaNetLosses {
    const count = Array.isArray(images) ? images.length : (images as Tensor).shape[0];
    if (targets.length !== count) throw new ValueError('RetinaNet', 'targets', `one target per image (${count})`, String(targets.length));
    targets.forEach((t, i) => this.checkTargetShape(t, i));
    checkBoxLoss('RetinaNet', this.lossOptions.boxLoss);
    const padded = padTargets(targets);
    this.checkTargetValues(targets, padded);
    const { outputs, anchors: batchAnchors } = this.features(images);
    const matched = matchAnchorsBatched(padded, batchAnchors, this.proposalMatcher);
    return {
      classification: classificationLossBatched(padded, outputs.clsLogits, matched, this.lossOptions),
      bboxRegression: boxRegressionLossBatched(padded, outputs.bboxRegression, batchAnchors, matched, this.boxCoder, this.lossOptions),
    };
  }

  /** The detections of each image, in the current mode (call `eval()` first, as for torchvision). */
  detect(images: DetectionImages): Detection[] {
    const { levels, outputs, anchors, imageSizes } = this.features(images);
    const A = this.anchorGenerator.numAnchorsPerLocation()[0];
    const split = levels.map((l) => l.shape[2] * l.shape[3] * A);
    return postprocessDetections(
      outputs.clsLogits.split(split, 1), outputs.bboxRegression.split(split, 1), anchors.unbind(0).map((a) => a.split(split, 0)),
      imageSizes, this.boxCoder, this.postprocess,
    );
  }

  /** A target's boxes [M, 4] (floating) and int64 labels [M]: what can be checked without reading the device. */
  private checkTargetShape(t: DetectionTarget, i: number): void {
    const op = 'RetinaNet', { boxes, labels } = t;
    for (const [key, v] of [['boxes', boxes], ['labels', labels]] as const) {
      if (!(v instanceof Tensor)) throw new ValueError(op, `targets[${i}].${key}`, 'a Tensor', describeValue(v));
    }
    if (boxes.ndim !== 2 || boxes.shape[1] !== 4) throw new ShapeError(op, `targets[${i}].boxes`, 'boxes [M, 4] (x1, y1, x2, y2)', `shape [${boxes.shape.join(', ')}]`);
    if (!isFloating(boxes.dtype)) throw new DTypeError(op, `targets[${i}].boxes`, 'a floating dtype', boxes.dtype);
    if (labels.ndim !== 1 || labels.shape[0] !== boxes.shape[0]) throw new ShapeError(op, `targets[${i}].labels`, `one label per box ([${boxes.shape[0]}])`, `shape [${labels.shape.join(', ')}]`);
    if (labels.dtype !== 'int64') throw new DTypeError(op, `targets[${i}].labels`, 'int64 labels', labels.dtype);
  }

  /**
   * Every box finite with positive width and height, every label in [0, K): checked for the whole
   * batch with one read back (torchvision reads back per image); when something is wrong, the
   * images are checked one by one for the error that names the image and the box.
   */
  private checkTargetValues(targets: readonly DetectionTarget[], padded: PaddedTargets): void {
    const K = this.head.classificationHead.numClasses;
    const { boxes, labels, valid } = padded;
    const allGood = tidy(() => properBoxes(boxes).logicalAnd(labelsIn(labels, K)).logicalOr(valid.logicalNot()).all().item());
    if (!allGood) targets.forEach((t, i) => this.checkTargetValuesOf(t, i, K));
  }

  /** One image's check of {@link checkTargetValues}, with its errors. */
  private checkTargetValuesOf(t: DetectionTarget, i: number, K: number): void {
    const op = 'RetinaNet', { boxes, labels } = t;
    if (boxes.shape[0] === 0) return;
    const proper = properBoxes(boxes);
    if (!proper.all().item()) {
      const k = (proper.toArray() as boolean[]).indexOf(false);
      throw new ValueError(op, `targets[${i}].boxes`, 'finite boxes with positive width and height (x1 < x2, y1 < y2)', `box ${k}: [${(boxes.select(0, k).toArray() as number[]).join(', ')}]`);
    }
    if (!labelsIn(labels, K).all().item()) {
      throw new ValueError(op, `targets[${i}].labels`, `labels in [0, ${K})`, `[${(labels.toArray() as number[]).join(', ')}]`);
    }
  }
}

/**
 * Which boxes of [..., M, 4] are proper targets, [..., M] bool: x1 < x2, y1 < y2 and every corner
 * finite (a NaN or infinite corner passes the comparisons and made the box loss NaN).
 */
const properBoxes = (boxes: Tensor): Tensor => boxes.narrow(-1, 2, 2).gt(boxes.narrow(-1, 0, 2)).all(-1).logicalAnd(boxes.isfinite().all(-1));

/** Which labels are classes of the model, in [0, K): bool of the labels' shape. */
const labelsIn = (labels: Tensor, K: number): Tensor => labels.ge(0).logicalAnd(labels.lt(K));

/** Options of {@link retinanetResnet50Fpn}. */
export interface RetinanetResnet50FpnOptions extends RetinaNetOptions {
  /** Classes K (default 91, torchvision's COCO layout). */
  numClasses?: number;
  /** The backbone's norm layer (default BatchNorm2d, torchvision's without pretrained weights; FrozenBatchNorm2d to fine-tune from ImageNet weights). */
  normLayer?: NormLayer;
  /** Trainable backbone stages from the last, 0 to 5 (default 5, torchvision's without pretrained weights; 3 to fine-tune). */
  trainableBackboneLayers?: number;
}

/**
 * torchvision's `retinanet_resnet50_fpn`: ResNet-50 (layer2..layer4) with a 256-channel pyramid
 * and P6, P7 from P5 (`LastLevelP6P7(256, 256)`), RetinaNet's anchors and head. Its state dict
 * has torchvision's keys (camelCased): `loadTorchvisionWeights(model, file)` loads torchvision's.
 *
 * @example
 * ```ts
 * const model = retinanetResnet50Fpn({ numClasses: 91 }).eval();
 * loadTorchvisionWeights(model, 'retinanet_resnet50_fpn.safetensors');
 * const detections = model.detect([image]);
 * ```
 */
export function retinanetResnet50Fpn(options: RetinanetResnet50FpnOptions = {}): RetinaNet<BackboneWithFPN> {
  const backbone = resnet50({ normLayer: options.normLayer ?? ((c) => new BatchNorm2d(c)) });
  const body = resnetFpnExtractor(backbone, options.trainableBackboneLayers ?? 5, { returnedLayers: [2, 3, 4], extraBlocks: new LastLevelP6P7(256, 256) });
  const { numClasses, normLayer: _normLayer, trainableBackboneLayers: _layers, ...retinaNetOptions } = options;
  return new RetinaNet(body, numClasses ?? 91, retinaNetOptions);
}
