/**
 * The argument handling shared by the RoI ops (roiAlign, roiPool): rois as one [K, 5] tensor or as
 * per-image box lists, the pooled size, and the checks on the feature map.
 */
import { type Tensor, DTypeError, ShapeError, ValueError, cat, commonDevice, fmtShape, full, isArrayMember, isFloating, launchKernel, tidy } from '@kiln/tensor';
import '@kiln/autograd';

/** Regions of interest: [K, 5] rows (batch index, x1, y1, x2, y2), or one [Ki, 4] box tensor per image. */
export type Rois = Tensor | readonly Tensor[];

/**
 * torchvision's convert_boxes_to_roi_format: per-image [Ki, 4] boxes as [sum Ki, 5] rows whose
 * first column is the image's index (a new tensor). A tensor is checked to be [K, 5] and returned
 * as it is.
 */
export function roisTensor(op: string, rois: Rois, dtype: Tensor['dtype']): Tensor {
  if (!Array.isArray(rois)) {
    const r = rois as Tensor;
    if (r.ndim !== 2 || r.shape[1] !== 5) throw new ShapeError(op, 'rois', 'a [K, 5] tensor (batch index, x1, y1, x2, y2) or a list of [Ki, 4] boxes', `shape ${fmtShape(r.shape)}`);
    if (r.dtype !== dtype) throw new DTypeError(op, 'rois', `the input's dtype (${dtype})`, r.dtype);
    return r;
  }
  const list = rois as readonly Tensor[];
  if (list.length === 0) throw new ValueError(op, 'rois', 'a [K, 5] tensor or a non-empty list of [Ki, 4] boxes', 'an empty list');
  list.forEach((b, i) => {
    if (b.ndim !== 2 || b.shape[1] !== 4) throw new ShapeError(op, `rois[${i}]`, 'boxes of shape [Ki, 4] (x1, y1, x2, y2)', `shape ${fmtShape(b.shape)}`);
    if (b.dtype !== dtype) throw new DTypeError(op, `rois[${i}]`, `the input's dtype (${dtype})`, b.dtype);
  });
  // the boxes as constants: the RoI ops give rois no gradient
  return tidy(() => cat(list.map((b, i) => cat([full([b.shape[0], 1], i, { dtype, device: b.device }), b.detach()], 1)), 0));
}

/** The pooled size [height, width] from a number or a pair of positive integers. */
export function pooledSize(op: string, outputSize: number | readonly [number, number]): [number, number] {
  const size = typeof outputSize === 'number' ? [outputSize, outputSize] : outputSize;
  if (!Array.isArray(size) || size.length !== 2 || !size.every((s) => Number.isInteger(s) && s > 0)) {
    throw new ValueError(op, 'outputSize', 'a positive integer or [height, width] of positive integers', JSON.stringify(outputSize));
  }
  return [size[0], size[1]];
}

/** The feature map: a floating [N, C, H, W] tensor on the rois' device. */
export function checkFeatures(op: string, input: Tensor, rois: Rois): void {
  commonDevice(op, ['input', ...(isArrayMember(rois) ? rois.map((_, i) => `rois[${i}]`) : ['rois'])], [input, ...(isArrayMember(rois) ? rois : [rois])]);
  if (input.ndim !== 4) throw new ShapeError(op, 'input', 'a feature map of shape [N, C, H, W]', `shape ${fmtShape(input.shape)}`);
  if (!isFloating(input.dtype)) throw new DTypeError(op, 'input', 'a floating-point tensor', input.dtype);
}

/** A finite number option. */
export function checkFinite(op: string, arg: string, v: number): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new ValueError(op, arg, 'a finite number', String(v));
  return v;
}

/**
 * Runs kernel `name` on contiguous copies of the inputs that are not contiguous (the RoI kernels
 * index their operands directly), into `outputs`, which are released if the kernel throws (a roi's
 * batch index out of range), with `temporaries`: what the caller made for this call (the rows of a
 * list of boxes).
 */
export function launchContiguous(name: string, inputs: readonly Tensor[], outputs: readonly Tensor[], attrs: readonly number[], temporaries: readonly Tensor[] = []): void {
  const operands = inputs.map((t) => (t.isContiguous ? t : t.contiguous()));
  try {
    if (outputs[0].numel > 0) launchKernel(name, operands, outputs, attrs);
  } catch (e) {
    for (const o of [...outputs, ...temporaries]) o.dispose();
    throw e;
  } finally {
    operands.forEach((t, i) => t !== inputs[i] && t.dispose());
  }
}
