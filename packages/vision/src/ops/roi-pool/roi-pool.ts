/**
 * RoI max pooling (torchvision.ops.roi_pool, Fast R-CNN): the largest value of each bin of each
 * region of interest. The kernels are in this folder (roi_pool.h holds the geometry both devices
 * share); the gradient goes to each bin's argmax through roi_pool_backward (atomic-free on the
 * CPU), whose own gradient picks the upstream gradient at the same argmax.
 */
import { type Tensor, ValueError, checkOptionKeys, declareOp, emptyOn, needsRecording, recordOp, where, zeros } from '@kiln/tensor';
import { defineDerivative } from '@kiln/autograd';
import { type Rois, checkFeatures, checkFinite, launchContiguous, pooledSize, roisTensor } from '../rois.js';

const roiPoolOp = declareOp('roi_pool', ['input', 'rois']);
const roiPoolBackwardOp = declareOp('roi_pool_backward', ['grad', 'rois', 'argmax']);

/** Options of {@link roiPool}. */
export interface RoiPoolOptions {
  /** The pooled size: PH = PW = n, or [PH, PW]. */
  outputSize: number | readonly [number, number];
  /** Multiplies the roi coordinates into feature-map pixels (default 1). */
  spatialScale?: number;
}

interface RoiPoolAttrs {
  pooled: [number, number];
  spatialScale: number;
  inputShape: number[];
}

function checkOptions(op: string, options: RoiPoolOptions): Omit<RoiPoolAttrs, 'inputShape'> {
  if (typeof options !== 'object' || options === null) throw new ValueError(op, 'options', 'an object with outputSize', String(options));
  checkOptionKeys(op, options, { outputSize: true, spatialScale: true });
  return { pooled: pooledSize(op, options.outputSize), spatialScale: checkFinite(op, 'spatialScale', options.spatialScale ?? 1) };
}

/**
 * RoI max pooling (`torchvision.ops.roi_pool`): for each region of interest, the largest value of
 * each of PH × PW bins of `input` [N, C, H, W], as [K, C, PH, PW]. Roi corners are rounded to
 * feature-map pixels after scaling by `spatialScale`; an empty bin gives 0. `rois` is [K, 5] rows
 * (batch index, x1, y1, x2, y2) or one [Ki, 4] box tensor per image. Differentiable with respect
 * to `input` (the gradient goes to each bin's largest element; the rois get none).
 *
 * @example
 * ```ts
 * const pooled = roiPool(features, [boxesOfImage0, boxesOfImage1], { outputSize: [7, 7], spatialScale: 1 / 16 });
 * ```
 */
export function roiPool(input: Tensor, rois: Rois, options: RoiPoolOptions): Tensor {
  const op = 'roi_pool';
  checkFeatures(op, input, rois);
  const attrs = checkOptions(op, options);
  const r = roisTensor(op, rois, input.dtype);
  const shape = [r.shape[0], input.shape[1], ...attrs.pooled];
  const out = emptyOn(shape, input.dtype, input.device), argmax = emptyOn(shape, 'int64', input.device);
  launchContiguous(op, [input, r], [out, argmax], [attrs.spatialScale], r !== rois ? [r] : []);
  if (!needsRecording([input])) {
    argmax.dispose();
    if (r !== rois) r.dispose();
    return out;
  }
  return recordOp(roiPoolOp, [input, r], [out, argmax], { ...attrs, inputShape: [...input.shape] });
}

/**
 * The gradient of {@link roiPool} with respect to its input: each element of `grad`
 * [K, C, PH, PW] added at its bin's `argmax` (int64 offsets in the H × W plane, -1 for an empty
 * bin, as roi_pool's second output) of the roi's batch element, in a new tensor of `inputShape`.
 * Differentiable in `grad`.
 *
 * @example
 * ```ts
 * const gradInput = roiPoolBackward(gradOutput, rois, argmax, [2, 256, 50, 50]);
 * ```
 */
export function roiPoolBackward(grad: Tensor, rois: Tensor, argmax: Tensor, inputShape: readonly number[]): Tensor {
  const op = 'roi_pool_backward';
  checkFeatures(op, grad, rois);
  const r = roisTensor(op, rois, grad.dtype);
  if (inputShape.length !== 4 || !inputShape.every((s) => Number.isInteger(s) && s >= 0) || inputShape[1] !== grad.shape[1]) {
    throw new ValueError(op, 'inputShape', `[N, ${grad.shape[1]}, H, W] (the input's shape)`, JSON.stringify(inputShape));
  }
  if (argmax.dtype !== 'int64' || argmax.shape.join() !== grad.shape.join() || grad.shape[0] !== r.shape[0]) {
    throw new ValueError(op, 'argmax', `int64 of the gradient's shape [${grad.shape.join(', ')}] (one row per roi)`, `${argmax.dtype} [${argmax.shape.join(', ')}]`);
  }
  const work = grad.dtype === 'float16' || grad.dtype === 'bfloat16' ? 'float32' : grad.dtype;
  const g = grad.to(work), rw = r.to(work);
  const result = emptyOn(inputShape, work, grad.device);
  try {
    launchContiguous(op, [g, rw, argmax], [result], []);
  } finally {
    if (g !== grad) g.dispose();
    if (rw !== r) rw.dispose();
  }
  const out = work === grad.dtype ? result : result.to(grad.dtype);
  if (out !== result) result.dispose();
  return recordOp(roiPoolBackwardOp, [grad, r, argmax], [out], { inputShape: [...inputShape] });
}

// max pooling routes each bin's gradient to its argmax; the rois are constants
defineDerivative('roi_pool', {
  save: ['rois', 'output1'],
  grads: (c) => [c.needsGrad(0) ? roiPoolBackward(c.grad, c.saved('rois'), c.saved('output1'), (c.attrs as RoiPoolAttrs).inputShape) : undefined, null],
});

// the adjoint of adding at the argmax: reading the upstream gradient at the argmax (0 for an empty bin)
defineDerivative('roi_pool_backward', {
  save: ['rois', 'argmax'],
  grads: (c) => {
    if (!c.needsGrad(0)) return [undefined, null, null];
    const [n, ch, h, w] = (c.attrs as RoiPoolAttrs).inputShape as [number, number, number, number];
    const argmax = c.saved('argmax'), rois = c.saved('rois');
    const [k, , ph, pw] = argmax.shape as [number, number, number, number];
    if (h * w === 0) return [zeros([k, ch, ph, pw], { dtype: c.grad.dtype, device: c.grad.device }), null, null];   // no element: every bin was empty
    const planes = c.grad.reshape([n, ch, h * w]).indexSelect(0, rois.select(1, 0).to('int64'));
    const picked = planes.gather(2, argmax.clamp(0).reshape([k, ch, ph * pw])).reshape([k, ch, ph, pw]);
    return [where(argmax.ge(0), picked, 0), null, null];
  },
});
