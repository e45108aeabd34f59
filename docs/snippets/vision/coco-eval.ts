import assert from 'node:assert/strict';
import { tensor } from '@kiln/tensor';
import { Coco, CocoEval, detectionsToCocoResults, evaluateCoco } from '@kiln/vision';

// A COCO annotation file (normally Coco.fromFile('instances_val2017.json')): two images, one category.
const gt = new Coco({
  images: [{ id: 1, width: 100, height: 100 }, { id: 2, width: 100, height: 100 }],
  categories: [{ id: 1, name: 'person' }],
  annotations: [
    { id: 1, image_id: 1, category_id: 1, bbox: [10, 10, 40, 40], area: 1600, iscrowd: 0 },
    { id: 2, image_id: 2, category_id: 1, bbox: [50, 50, 20, 30], area: 600, iscrowd: 0 },
    { id: 3, image_id: 2, category_id: 1, bbox: [0, 0, 30, 30], area: 900, iscrowd: 1 },   // a crowd region
  ],
});

// A detector's output per image: (x1, y1, x2, y2) boxes, scores, labels, on any device.
const results = detectionsToCocoResults([
  { imageId: 1, boxes: tensor([[12, 10, 50, 52], [60, 60, 90, 90]]), scores: tensor([0.9, 0.3]), labels: tensor([1, 1], { dtype: 'int64' }) },
  { imageId: 2, boxes: tensor([[50, 52, 70, 80], [5, 5, 20, 20]]), scores: tensor([0.8, 0.7]), labels: tensor([1, 1], { dtype: 'int64' }) },
]);

// pycocotools' three steps; summarize() prints its 12 lines and returns the numbers.
const ev = new CocoEval(gt, gt.loadResults(results));
ev.evaluate();
ev.accumulate();
const { metrics, stats } = ev.summarize();
assert.equal(stats[1], metrics.ap50);
assert.ok(metrics.ap50 > 0.99);          // both objects found at IoU 0.5; the box inside the crowd counts for nothing
assert.equal(metrics.apLarge, -1);       // no large object: undefined, as pycocotools says -1

// The same in one call, with each category's numbers.
const { perCategory } = evaluateCoco(gt, results);
assert.equal(perCategory[0].name, 'person');
assert.equal(perCategory[0].metrics.ap, metrics.ap);
