/** Loading torchvision's state dicts (saved as safetensors) into Kiln's models. */
import type { Tensor } from '@kiln/tensor';
import { type LoadStateDictOptions, type LoadStateDictResult, type Module, fromTorchKeys, loadStateDictFile } from '@kiln/nn';

/**
 * Loads a torchvision `state_dict` into a Kiln model built with torchvision's layout (the
 * `resnet*`, `FeaturePyramidNetwork`, `retinanetResnet50Fpn` of this package): from a safetensors
 * file (`safetensors.torch.save_file(model.state_dict(), path)` in Python) or from tensors by
 * key. torchvision's snake_case names become Kiln's camelCase ones (`running_mean` ->
 * `runningMean`, `cls_logits` -> `clsLogits`), and each module adapts what it must, as in
 * torchvision: FrozenBatchNorm2d drops `num_batches_tracked`, and the pyramid's and RetinaNet
 * heads' version-1 keys are renamed. With `strict` (the default) every key must match: a missing
 * or unknown key is a ValueError listing them, and the model is left as it was; with
 * `{ strict: false }` the keys that match load and the result lists the others.
 *
 * @example
 * ```ts
 * const model = retinanetResnet50Fpn({ numClasses: 91 });
 * loadTorchvisionWeights(model, 'retinanet_resnet50_fpn_coco.safetensors');
 * const backbone = resnet50();
 * const { unexpectedKeys } = loadTorchvisionWeights(backbone, 'resnet50.safetensors', { strict: false });
 * ```
 */
export function loadTorchvisionWeights(model: Module<never[], unknown>, source: string | Readonly<Record<string, Tensor>>, options: LoadStateDictOptions = {}): LoadStateDictResult {
  if (typeof source !== 'string') return model.loadStateDict(fromTorchKeys(source), options);
  const state = loadStateDictFile(source);
  try {
    return model.loadStateDict(fromTorchKeys(state), options);
  } finally {
    for (const t of Object.values(state)) t.dispose();
  }
}
