import assert from 'node:assert/strict';
import { noGrad } from '@kiln/autograd';
import { manualSeed, rand, tensor, tidy } from '@kiln/tensor';
import { SGD } from '@kiln/optim';
import { LastLevelP6P7, RetinaNet, resnet18, resnetFpnExtractor } from '@kiln/vision';

manualSeed(0);

// torchvision's retinanet_resnet50_fpn is retinanetResnet50Fpn({ numClasses }); the same
// architecture on a ResNet-18 is a few lines: P3..P5 from layer2..layer4, P6 and P7 from P5.
const backbone = resnetFpnExtractor(resnet18(), 5, { returnedLayers: [2, 3, 4], extraBlocks: new LastLevelP6P7(256, 256) });
// (A model this young scores every anchor near the head's prior, 0.01: a low threshold for the example.)
const model = new RetinaNet(backbone, 3, { scoreThresh: 0.001, detectionsPerImg: 100 });

// Images are pixels in [0, 1] ([3, H, W] each, sizes may differ); targets are boxes (x1, y1, x2, y2) and int64 labels.
const images = [rand([3, 64, 96], { seed: 1 }), rand([3, 64, 64], { seed: 2 })];
const targets = [
  { boxes: tensor([[10, 20, 40, 50], [50, 10, 90, 40]], { dtype: 'float32' }), labels: tensor([0, 2], { dtype: 'int64' }) },
  { boxes: tensor([[5, 5, 60, 50]], { dtype: 'float32' }), labels: tensor([1], { dtype: 'int64' }) },
];

// Training mode: the two losses (sigmoid focal loss, and L1 on the box deltas), each normalised by
// the number of foreground anchors as torchvision does.
const optimizer = new SGD(model.parameters().filter((p) => p.requiresGrad), { lr: 0.01, momentum: 0.9, weightDecay: 1e-4 });
const losses: number[] = [];
for (let step = 0; step < 2; step++) {
  tidy(() => {
    const { classification, bboxRegression } = model.train().computeLosses(images, targets);
    classification.add(bboxRegression).backward();
    optimizer.step();
    optimizer.zeroGrad();
    losses.push(classification.item());
  });
}
assert.ok(losses[1] < losses[0]);

// Evaluation mode: per image, per-level top-k above the score threshold, boxes decoded from the
// anchors and clipped, class-wise NMS, the best detectionsPerImg.
noGrad(() => tidy(() => {
  const detections = model.eval().detect(images);
  for (const [i, d] of detections.entries()) {
    const n = d.boxes.shape[0];
    assert.deepEqual([d.scores.shape, d.labels.shape], [[n], [n]]);
    assert.ok(n > 0 && n <= 100);
    const [h, w] = images[i].shape.slice(1) as [number, number];
    assert.ok(d.boxes.max().item() <= Math.max(h, w));   // clipped to the image
  }
}));
