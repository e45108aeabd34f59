/**
 * The files tools/bench/example_twin.py (the PyTorch twin of the RetinaNet example's step) reads:
 * the seed-0 focal detector's initial weights, one training batch and the settings, with Kiln's
 * float32 losses on that batch at those weights, which the twin must reproduce before it times
 * anything (example-step.ts --export DIR writes them).
 *
 *   DIR/model.safetensors   the detector's state dict (Kiln's keys: torchvision's in camelCase)
 *   DIR/batch.safetensors   images [N, 3, S, S] in [0, 1], boxes [T, 4], labels [T] (int64) and
 *                           offsets [N + 1] (int64: image i owns rows offsets[i] to offsets[i + 1])
 *   DIR/meta.json           model settings, anchors, normalisation, losses, learning rate, Kiln's losses
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Tensor, fromTypedArray, setFloat32MatmulPrecision, tidy } from '@kiln/tensor';
import { noGrad } from '@kiln/autograd';
import { saveStateDict } from '@kiln/nn';
import type { RetinaNetLosses } from '@kiln/vision';
import type { Settings } from '../../examples/retinanet/config.js';
import { type Batch, batchTensors } from '../../examples/retinanet/batches.js';
import { classNamesOf } from '../../examples/retinanet/data.js';
import { FOCAL } from '../../examples/retinanet/loss.js';
import { buildModel, disposeDetector } from '../../examples/retinanet/train.js';

export function exportExampleForTwin(s: Settings, batch: Batch, dir: string): { classification: number; box: number } {
  mkdirSync(dir, { recursive: true });
  setFloat32MatmulPrecision('highest');
  const model = buildModel(s, FOCAL, 0).train();
  try {
    // the weights before the forward below (which moves the batch norms' running statistics)
    // (saveStateDict copies each tensor to the host itself)
    saveStateDict(model.stateDict(), join(dir, 'model.safetensors'));
    const n = batch.offsets.length - 1, size = s.scenes.imageSize;
    const host: Record<string, Tensor> = {
      images: fromTypedArray(batch.images, [n, 3, size, size]),
      boxes: fromTypedArray(batch.boxes, [batch.labels.length, 4]),
      labels: fromTypedArray(batch.labels),
      offsets: fromTypedArray(BigInt64Array.from(batch.offsets, BigInt)),
    };
    saveStateDict(host, join(dir, 'batch.safetensors'));
    for (const t of Object.values(host)) t.dispose();
    const losses = noGrad(() => tidy(() => {
      const { images, targets } = batchTensors(batch, size, s.device);
      const l = model.call(images, targets) as RetinaNetLosses;
      return { classification: l.classification.item(), box: l.bboxRegression.item() };
    }));
    const anchors = model.anchorGenerator;
    const meta = {
      preset: s.preset,
      batchSize: n,
      imageSize: size,
      numClasses: classNamesOf(s.scenes).length,
      model: s.model,
      anchorSizes: anchors.sizes,
      aspectRatios: anchors.aspectRatios,
      imageMean: model.transform.imageMean,
      imageStd: model.transform.imageStd,
      loss: { ...model.lossOptions, variant: FOCAL.name },
      lr: s.lr,
      kilnLosses: losses,
    };
    writeFileSync(join(dir, 'meta.json'), `${JSON.stringify(meta, null, 1)}\n`);
    return losses;
  } finally {
    disposeDetector(model);
  }
}
