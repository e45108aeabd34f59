/**
 * How each fixture family (tools/reference/make_loss_fixtures.py) calls its Kiln loss: the fixture's
 * options are passed through unchanged (so their names are the API's), the input tensors by name.
 */
import type { DType, Tensor } from '@kiln/tensor';
import {
  binaryCrossEntropyWithLogits, crossEntropy, distributionFocalLoss, giouLoss, huberLoss, l1Loss, qualityFocalLoss,
  smoothL1Loss, softmaxFocalLoss, varifocalLoss,
} from '@kiln/losses';
import { type FixtureCase, toTensor } from './fixture-cases.js';

/** Calls the family's loss on `input` (the tensor whose gradient the fixture records). */
export type FamilyCall = (input: Tensor, c: FixtureCase, tensorOf: (name: string) => Tensor | undefined) => Tensor;

/** The fixture's options and tensors as the options of the loss it is passed to (typed by the call). */
const opts = <T>(c: FixtureCase, extra: Record<string, Tensor | undefined> = {}): T => ({ ...c.options, ...extra }) as T;

export const FAMILIES: Record<string, FamilyCall> = {
  binary_cross_entropy_with_logits: (x, c, t) => binaryCrossEntropyWithLogits(x, t('target')!, opts(c, { weight: t('weight'), posWeight: t('posWeight') })),
  cross_entropy: (x, c, t) => crossEntropy(x, t('target')!, opts(c, { classWeight: t('classWeight') })),
  l1_loss: (x, c, t) => l1Loss(x, t('target')!, opts(c)),
  smooth_l1_loss: (x, c, t) => smoothL1Loss(x, t('target')!, opts(c)),
  huber_loss: (x, c, t) => huberLoss(x, t('target')!, opts(c)),
  giou_loss: (x, c, t) => giouLoss(x, t('target')!, opts(c)),
  softmax_focal_loss: (x, c, t) => softmaxFocalLoss(x, t('target')!, opts(c, { classWeight: t('classWeight') })),
  quality_focal_loss: (x, c, t) => qualityFocalLoss(x, [t('target')!, t('score')!], opts(c, { weight: t('weight') })),
  distribution_focal_loss: (x, c, t) => distributionFocalLoss(x, t('target')!, opts(c, { weight: t('weight') })),
  varifocal_loss: (x, c, t) => varifocalLoss(x, t('target')!, opts(c, { weight: t('weight') })),
};

/** A lookup of the case's tensors (other than `input`) on `device`, floats in `dtype`. */
export function tensorsOf(c: FixtureCase, device: string, dtype: DType): (name: string) => Tensor | undefined {
  return (name) => (c.inputs[name] ? toTensor(c.inputs[name], device, dtype) : undefined);
}
