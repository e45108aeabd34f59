// Checks CocoEval on pycocotools' own demo: the first 100 images of instances_val2014 and
// cocoapi's results/instances_val2014_fakebbox100_results.json, whose 12 numbers pycocotools
// prints in its pycocoEvalDemo (0.505 0.697 0.573 ...; to 16 digits in faster_coco_eval's
// tests/test_cocoapi_fake_data.py). The data are not in this repository (COCO's annotations):
//
//   node --conditions=@kiln/source --import tsx tools/reference/check-cocoapi-demo.ts GT.json RESULTS.json
//
// Prints our 12 numbers, the published ones and the differences; exit status 1 if any differs.
import { Coco, CocoEval, cocoMetricNames } from '@kiln/vision';

const published = [
  0.5045806987249628, 0.6969727247299577, 0.5729816669904824, 0.5856257209410443, 0.5193996948036719, 0.5013978986347466,
  0.38681277964578054, 0.5936795762842003, 0.595352982877607, 0.6398109626113442, 0.5664205978994309, 0.5642905982905982,
];
const [gtPath, resultsPath] = process.argv.slice(2);
if (!gtPath || !resultsPath) {
  console.error('usage: check-cocoapi-demo.ts instances_val2014_100.json instances_val2014_fakebbox100_results.json');
  process.exit(2);
}
const gt = Coco.fromFile(gtPath);
const start = performance.now();
const ev = new CocoEval(gt, gt.loadResults(resultsPath));
ev.evaluate();
ev.accumulate();
const { stats } = ev.summarize();
const ms = performance.now() - start;
console.log(`\n${'metric'.padEnd(9)} ${'kiln'.padEnd(20)} ${'pycocotools'.padEnd(20)} difference`);
stats.forEach((s, i) => console.log(`${cocoMetricNames[i].padEnd(9)} ${String(s).padEnd(20)} ${String(published[i]).padEnd(20)} ${s - published[i]}`));
console.log(`\nload results + evaluate + accumulate + summarize: ${ms.toFixed(0)} ms`);
process.exit(stats.every((s, i) => s === published[i]) ? 0 : 1);
