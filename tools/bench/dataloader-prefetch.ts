// DataLoader prefetch: one epoch over JPEG files decoded and resized with sharp, while the loop
// "trains" on each batch for a fixed time during which the host is free (what waiting on queued
// GPU work looks like to the event loop). Prints epoch time and batches/s per prefetch depth,
// median of --runs runs.
//
//   node --conditions=@kiln/source --import tsx tools/bench/dataloader-prefetch.ts [--images 64] [--batch 8] [--step-ms 40] [--runs 3]
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { CocoDetection, DataLoader, compose, detectionCollate, resize, toTensor } from '@kiln/vision';
import { parseOptions } from './cli-options.js';

const { images: nImages, batch: batchSize, 'step-ms': stepMs, runs } = parseOptions(process.argv.slice(2), {
  images: { type: 'number', default: '64' },
  batch: { type: 'number', default: '8' },
  'step-ms': { type: 'number', default: '40' },
  runs: { type: 'number', default: '3' },
});

const root = mkdtempSync(join(tmpdir(), 'kiln-bench-loader-'));
const W = 640, H = 480;
const images = [];
for (let i = 0; i < nImages; i++) {
  const px = Buffer.alloc(W * H * 3);
  for (let p = 0; p < px.length; p++) px[p] = (p * 7 + i * 13 + ((p / 3) % W) * (p % 5)) & 255;   // busy content: a real decode cost
  await sharp(px, { raw: { width: W, height: H, channels: 3 } }).jpeg({ quality: 90 }).toFile(join(root, `${i}.jpg`));
  images.push({ id: i + 1, file_name: `${i}.jpg`, width: W, height: H });
}
writeFileSync(join(root, 'ann.json'), JSON.stringify({
  images, categories: [{ id: 1, name: 'x' }],
  annotations: images.map((im, i) => ({ id: i + 1, image_id: im.id, category_id: 1, bbox: [10, 20, 200, 100], area: 20000, iscrowd: 0 })),
}));
const dataset = new CocoDetection(root, join(root, 'ann.json'), { transforms: compose([resize({ size: [512, 512] }), toTensor()]) });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function epochMs(prefetch: number): Promise<number> {
  const loader = new DataLoader(dataset, { batchSize, prefetch, collate: detectionCollate });
  const start = performance.now();
  for await (const { images: batch, targets } of loader) {
    await sleep(stepMs);                                // the step: the host waits on the device
    batch.dispose();
    for (const t of targets) { t.boxes.dispose(); t.labels.dispose(); }
  }
  return performance.now() - start;
}

const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
await epochMs(2);                                       // warm-up: sharp's first load, JIT
const batches = Math.ceil(nImages / batchSize);
console.log(`${nImages} JPEGs ${W}×${H} -> resize 512×512 -> float32 tensors, batch ${batchSize}, step ${stepMs} ms, UV_THREADPOOL_SIZE=${process.env.UV_THREADPOOL_SIZE ?? 4}, median of ${runs}`);
console.log(`| prefetch | epoch ms | batches/s | step time alone ms |`);
console.log(`|---:|---:|---:|---:|`);
for (const prefetch of [0, 1, 2, 4]) {
  const times: number[] = [];
  for (let r = 0; r < runs; r++) times.push(await epochMs(prefetch));
  const t = median(times);
  console.log(`| ${prefetch} | ${t.toFixed(0)} | ${(batches / (t / 1000)).toFixed(2)} | ${batches * stepMs} |`);
}
rmSync(root, { recursive: true, force: true });
