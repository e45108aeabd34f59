// CocoEval at COCO val2017's scale on synthetic data: 5000 images, 80 categories, about 7 ground
// truths and 100 detections per image. Prints the time of each step, median of --runs runs.
//
//   node --conditions=@kiln/source --import tsx tools/bench/coco-eval.ts [--images 5000] [--runs 3]
import { Coco, CocoEval, type CocoAnnotation, type CocoDetectionResult } from '@kiln/vision';
import { testRng } from '@kiln/tensor/testing';
import { parseOptions } from './cli-options.js';

const { images: nImages, runs } = parseOptions(process.argv.slice(2), {
  images: { type: 'number', default: '5000' },
  runs: { type: 'number', default: '3' },
});
const rng = testRng(2024);
const images = Array.from({ length: nImages }, (_, i) => ({ id: i + 1, width: 640, height: 480 }));
const categories = Array.from({ length: 80 }, (_, i) => ({ id: i + 1, name: `c${i + 1}` }));
const annotations: CocoAnnotation[] = [];
const results: CocoDetectionResult[] = [];
for (const img of images) {
  const gts = Math.floor(rng() * 15);
  for (let g = 0; g < gts; g++) {
    const w = 4 + rng() * 300, h = 4 + rng() * 300, x = rng() * (640 - w), y = rng() * (480 - h);
    annotations.push({ id: annotations.length + 1, image_id: img.id, category_id: 1 + Math.floor(rng() * 80), bbox: [x, y, w, h], area: w * h * (0.5 + rng() / 2), iscrowd: rng() < 0.01 ? 1 : 0 });
  }
  for (let d = 0; d < 100; d++) {
    const near = annotations.length && rng() < 0.3 ? annotations[annotations.length - 1 - Math.floor(rng() * Math.min(gts, annotations.length))] : undefined;
    const [x, y, w, h] = near ? near.bbox.map((v) => v * (0.9 + rng() * 0.2)) as [number, number, number, number] : [rng() * 500, rng() * 400, 10 + rng() * 200, 10 + rng() * 200];
    results.push({ image_id: img.id, category_id: near && rng() < 0.8 ? near.category_id : 1 + Math.floor(rng() * 80), bbox: [x, y, w, h], score: rng() });
  }
}
const gt = new Coco({ images, categories, annotations });
const dt = gt.loadResults(results);
const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
const steps: Record<string, number[]> = { evaluate: [], accumulate: [], summarize: [] };
for (let r = 0; r < runs; r++) {
  const ev = new CocoEval(gt, dt);
  let t = performance.now();
  ev.evaluate(); steps.evaluate.push(performance.now() - t); t = performance.now();
  ev.accumulate(); steps.accumulate.push(performance.now() - t); t = performance.now();
  ev.summarize({ print: false }); steps.summarize.push(performance.now() - t);
}
console.log(`${nImages} images, 80 categories, ${annotations.length} ground truths, ${results.length} detections; median of ${runs} runs`);
console.log('| step | ms |\n|---|---:|');
for (const [name, v] of Object.entries(steps)) console.log(`| ${name} | ${median(v).toFixed(0)} |`);
