import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { tensor } from '@kiln/tensor';
import { AnchorGenerator, CocoDetection, DataLoader, Matcher, compose, detectionCollate, normalize, randomHorizontalFlip, resize, toTensor } from '@kiln/vision';

// A tiny COCO folder: two 64 × 48 PNG images and an annotation file.
const root = mkdtempSync(join(tmpdir(), 'kiln-coco-'));
for (const name of ['a.png', 'b.png']) {
  await sharp({ create: { width: 64, height: 48, channels: 3, background: { r: 200, g: 80, b: 20 } } }).png().toFile(join(root, name));
}
writeFileSync(join(root, 'instances.json'), JSON.stringify({
  images: [{ id: 1, file_name: 'a.png' }, { id: 2, file_name: 'b.png' }],
  categories: [{ id: 1, name: 'thing' }],
  annotations: [
    { id: 1, image_id: 1, category_id: 1, bbox: [8, 8, 24, 16], area: 384, iscrowd: 0 },
    { id: 2, image_id: 2, category_id: 1, bbox: [30, 10, 20, 30], area: 600, iscrowd: 0 },
    { id: 3, image_id: 2, category_id: 1, bbox: [0, 0, 10, 10], area: 100, iscrowd: 0 },
  ],
}));

// Decode with sharp, resize (boxes follow), flip half the images, to a tensor, normalise.
const dataset = new CocoDetection(root, join(root, 'instances.json'), {
  transforms: compose([resize({ size: [96, 128] }), randomHorizontalFlip(0.5, { seed: 0 }), toTensor(), normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])]),
  categoryToLabel: (id) => id - 1,
});
const loader = new DataLoader(dataset, { batchSize: 2, shuffle: true, seed: 42, collate: detectionCollate });

// Anchors for a two-level pyramid and the matcher of RetinaNet.
const anchorGen = new AnchorGenerator([[16, 20], [32, 40]], [[0.5, 1, 2], [0.5, 1, 2]]);
const matcher = new Matcher(0.5, 0.4, true);

for await (const { images, targets } of loader) {
  assert.deepEqual(images.shape, [2, 3, 96, 128]);
  const features = [images.slice(2, 0, 96, 8).slice(3, 0, 128, 8), images.slice(2, 0, 96, 16).slice(3, 0, 128, 16)];  // stand-ins: 12 × 16 and 6 × 8 grids
  const anchors = anchorGen.call(images, features);
  assert.deepEqual(anchors[0].shape, [(12 * 16 + 6 * 8) * 6, 4]);
  for (const [i, target] of targets.entries()) {
    // the IoU matrix [boxes, anchors] (here by hand; @kiln/vision's boxIou computes it on the device)
    const iou = boxIouOnHost(target.boxes.toArray() as number[][], anchors[i].toArray() as number[][]);
    const matched = matcher.call(iou);
    assert.equal(matched.shape[0], anchors[i].shape[0]);
    assert.ok(matched.max().item() >= 0);          // every box has at least its best anchor
    matched.dispose(); iou.dispose(); target.boxes.dispose(); target.labels.dispose();
  }
  for (const t of [images, ...features, ...anchors]) t.dispose();
}

function boxIouOnHost(a: number[][], b: number[][]) {
  const area = (x: number[]) => (x[2] - x[0]) * (x[3] - x[1]);
  return tensor(a.map((p) => b.map((q) => {
    const w = Math.max(0, Math.min(p[2], q[2]) - Math.max(p[0], q[0])), h = Math.max(0, Math.min(p[3], q[3]) - Math.max(p[1], q[1]));
    return (w * h) / (area(p) + area(q) - w * h);
  })));
}
