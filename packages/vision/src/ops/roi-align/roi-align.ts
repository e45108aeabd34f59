/**
 * RoI Align (torchvision.ops.roi_align, Mask R-CNN): bilinear samples of a feature map averaged
 * over the bins of each region of interest. The kernels are in this folder (roi_align.h holds the
 * formulas both devices share); the gradient with respect to the feature map is a kernel of its
 * own (roi_align_backward: atomic-free on the CPU, atomics on CUDA), itself differentiable (its
 * gradient is roi_align of the upstream gradient: the two are adjoint linear maps).
 */
import { type Tensor, ValueError, checkOptionKeys, declareOp, emptyOn, needsRecording, recordOp } from '@kiln/tensor';
import { defineDerivative } from '@kiln/autograd';
import { type Rois, checkFeatures, checkFinite, launchContiguous, pooledSize, roisTensor } from '../rois.js';

const roiAlignOp = declareOp('roi_align', ['input', 'rois']);
const roiAlignBackwardOp = declareOp('roi_align_backward', ['grad', 'rois']);

/** Options of {@link roiAlign}. */
export interface RoiAlignOptions {
  /** The pooled size: PH = PW = n, or [PH, PW]. */
  outputSize: number | readonly [number, number];
  /** Multiplies the roi coordinates into feature-map pixels (1 / the feature map's stride; default 1). */
  spatialScale?: number;
  /**
   * Samples per bin along each axis; 0 or less (default -1) takes ceil(bin size) samples, as
   * torchvision's adaptive sampling.
   */
  samplingRatio?: number;
  /**
   * Shift the roi by -0.5 pixel so that sample points line up with pixel centers (Detectron2's
   * RoIAlignV2); false (default) keeps torchvision's original behaviour, including forcing rois
   * to at least 1 × 1.
   */
  aligned?: boolean;
}

interface RoiAlignAttrs {
  pooled: [number, number];
  spatialScale: number;
  samplingRatio: number;
  aligned: boolean;
  inputShape: number[];
}

function checkOptions(op: string, options: RoiAlignOptions): Omit<RoiAlignAttrs, 'inputShape'> {
  if (typeof options !== 'object' || options === null) throw new ValueError(op, 'options', 'an object with outputSize', String(options));
  checkOptionKeys(op, options, { outputSize: true, spatialScale: true, samplingRatio: true, aligned: true });
  const samplingRatio = options.samplingRatio ?? -1;
  // the kernels take an int32, and loop over ratio² samples per bin: beyond 2^16 a call would not end
  if (!Number.isInteger(samplingRatio) || samplingRatio > 65536 || samplingRatio < -(2 ** 31)) {
    throw new ValueError(op, 'samplingRatio', 'an integer up to 65536 (0 or less: adaptive)', String(samplingRatio));
  }
  const aligned = options.aligned ?? false;
  if (typeof aligned !== 'boolean') throw new ValueError(op, 'aligned', 'a boolean', String(aligned));
  return { pooled: pooledSize(op, options.outputSize), spatialScale: checkFinite(op, 'spatialScale', options.spatialScale ?? 1), samplingRatio, aligned };
}

const kernelAttrs = (a: Omit<RoiAlignAttrs, 'inputShape'>): number[] => [a.spatialScale, a.samplingRatio, a.aligned ? 1 : 0];
const isHalf = (t: Tensor): boolean => t.dtype === 'float16' || t.dtype === 'bfloat16';

/**
 * RoI Align (`torchvision.ops.roi_align`): for each region of interest, a [C, PH, PW] grid of
 * bilinearly sampled averages of `input` [N, C, H, W]. `rois` is [K, 5] rows (batch index, x1, y1,
 * x2, y2) in the input image's coordinates, or one [Ki, 4] box tensor per image; they are scaled
 * by `spatialScale` into the feature map. Returns [K, C, PH, PW]. Differentiable with respect to
 * `input` (the rois get no gradient, as in torchvision). A batch index that is not an integer in
 * [0, N) is a ValueError (on CUDA, at the next synchronisation).
 *
 * @example
 * ```ts
 * const features = randn([2, 256, 50, 50]);                    // stride 16 of an 800 × 800 image
 * const rois = tensor([[0, 64, 64, 256, 320], [1, 0, 0, 799, 799]], { dtype: 'float32' });
 * const pooled = roiAlign(features, rois, { outputSize: 7, spatialScale: 1 / 16, samplingRatio: 2 });
 * pooled.shape;                                                // [2, 256, 7, 7]
 * ```
 */
export function roiAlign(input: Tensor, rois: Rois, options: RoiAlignOptions): Tensor {
  const op = 'roi_align';
  checkFeatures(op, input, rois);
  const attrs = checkOptions(op, options);
  const r = roisTensor(op, rois, input.dtype);
  const [ph, pw] = attrs.pooled;
  const out = emptyOn([r.shape[0], input.shape[1], ph, pw], input.dtype, input.device);
  launchContiguous(op, [input, r], [out], kernelAttrs(attrs), r !== rois ? [r] : []);
  // rows made from a list of boxes are the graph's to keep when it saves them
  if (r !== rois && !needsRecording([input])) r.dispose();
  return recordOp(roiAlignOp, [input, r], [out], { ...attrs, inputShape: [...input.shape] });
}

/**
 * The gradient of {@link roiAlign} with respect to its input: `grad` [K, C, PH, PW] sent back
 * through the bilinear weights into a new [N, C, H, W] tensor of `inputShape`. float16 and
 * bfloat16 gradients are accumulated in float32. Differentiable (its gradient is roiAlign).
 *
 * @example
 * ```ts
 * const gradInput = roiAlignBackward(gradOutput, rois, [2, 256, 50, 50], { outputSize: 7, spatialScale: 1 / 16 });
 * ```
 */
export function roiAlignBackward(grad: Tensor, rois: Tensor, inputShape: readonly number[], options: RoiAlignOptions): Tensor {
  const op = 'roi_align_backward';
  checkFeatures(op, grad, rois);
  const attrs = checkOptions(op, options);
  const r = roisTensor(op, rois, grad.dtype);
  const [ph, pw] = attrs.pooled;
  const k = r.shape[0];
  if (inputShape.length !== 4 || !inputShape.every((s) => Number.isInteger(s) && s >= 0) || inputShape[1] !== grad.shape[1]) {
    throw new ValueError(op, 'inputShape', `[N, ${grad.shape[1]}, H, W] (the input's shape)`, JSON.stringify(inputShape));
  }
  if (grad.shape[0] !== k || grad.shape[2] !== ph || grad.shape[3] !== pw) {
    throw new ValueError(op, 'grad', `shape [${k}, ${grad.shape[1]}, ${ph}, ${pw}] (one pooled map per roi)`, `[${grad.shape.join(', ')}]`);
  }
  // the kernels accumulate in float32 or float64
  const work = isHalf(grad) ? 'float32' : grad.dtype;
  const g = grad.to(work), rw = r.to(work);
  const result = emptyOn(inputShape, work, grad.device);
  try {
    launchContiguous(op, [g, rw], [result], kernelAttrs(attrs));
  } finally {
    if (g !== grad) g.dispose();
    if (rw !== r) rw.dispose();
  }
  const out = work === grad.dtype ? result : result.to(grad.dtype);
  if (out !== result) result.dispose();
  recordOp(roiAlignBackwardOp, [grad, r], [out], { ...attrs, inputShape: [...inputShape] });
  return out;
}

const optionsOf = (a: RoiAlignAttrs): RoiAlignOptions => ({ outputSize: a.pooled, spatialScale: a.spatialScale, samplingRatio: a.samplingRatio, aligned: a.aligned });

// roi_align is linear in its input: the gradient is its adjoint, roi_align_backward; the rois are
// constants (torchvision gives them no gradient either)
defineDerivative('roi_align', {
  save: ['rois'],
  grads: (c) => {
    const a = c.attrs as RoiAlignAttrs;
    return [c.needsGrad(0) ? roiAlignBackward(c.grad, c.saved('rois'), a.inputShape, optionsOf(a)) : undefined, null];
  },
});

defineDerivative('roi_align_backward', {
  save: ['rois'],
  grads: (c) => [c.needsGrad(0) ? roiAlign(c.grad, c.saved('rois'), optionsOf(c.attrs as RoiAlignAttrs)) : undefined, null],
});
