// A whole input pipeline (decode, resize, flip, toTensor, collate) over several epochs leaves
// allocated memory unchanged. Alone in its file: tensors left to the garbage collector by other
// tests would be freed during the measurement and hide or fake a leak.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { expect, it } from 'vitest';
import { memoryStats } from '@kiln/tensor';
import { CocoDetection, DataLoader, compose, detectionCollate, randomHorizontalFlip, resize, toTensor } from '@kiln/vision';
import { settleMemoryBeforeEach } from '@kiln/tensor/testing';

settleMemoryBeforeEach();

it('epochs of CocoDetection through a DataLoader leave allocated memory unchanged', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-vision-mem-'));
  const images = [];
  for (let i = 0; i < 6; i++) {
    await sharp({ create: { width: 20 + i, height: 14 + i, channels: 3, background: { r: 10 * i, g: 100, b: 200 } } }).png().toFile(join(dir, `${i}.png`));
    images.push({ id: i + 1, file_name: `${i}.png` });
  }
  writeFileSync(join(dir, 'ann.json'), JSON.stringify({
    images, categories: [{ id: 1, name: 'x' }],
    annotations: images.flatMap((im, i) => Array.from({ length: i % 3 }, (_, j) => ({ id: 10 * i + j + 1, image_id: im.id, category_id: 1, bbox: [1 + j, 2, 8, 6], area: 48, iscrowd: 0 }))),
  }));
  const ds = new CocoDetection(dir, join(dir, 'ann.json'), { transforms: compose([resize({ size: [16, 24] }), randomHorizontalFlip(0.5, { seed: 3 }), toTensor()]) });
  const loader = new DataLoader(ds, { batchSize: 4, shuffle: true, seed: 1, collate: detectionCollate });
  const runEpoch = async () => {
    for await (const { images: batch, targets } of loader) {
      batch.dispose();
      for (const t of targets) { t.boxes.dispose(); t.labels.dispose(); }
    }
  };
  await runEpoch();                                    // first use: caches warmed
  const before = memoryStats().allocated;
  for (let e = 0; e < 4; e++) await runEpoch();
  expect(memoryStats().allocated).toBe(before);
});
