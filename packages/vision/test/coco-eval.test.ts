// CocoEval against an independent numpy reference written from pycocotools' definition
// (tools/reference/coco_eval_reference.py, fixtures by make_coco_fixtures.py), against numbers
// pycocotools published, and its argument checks.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DTypeError, ValueError, ShapeError, tensor } from '@kiln/tensor';
import { expectError } from '@kiln/tensor/testing';
import { Coco, CocoEval, type CocoDatasetJson, type CocoDetectionResult, type CocoEvalParams, detectionsToCocoResults, evaluateCoco } from '@kiln/vision';
import { formatFixed } from '../src/coco/summarize.js';

interface FixtureCase {
  name: string;
  gt: CocoDatasetJson;
  results: CocoDetectionResult[];
  params: Partial<CocoEvalParams>;
  expected: { stats: number[]; perCategory: number[][]; iouThresholds: number[]; recall: number[]; precisionMean: number[]; text?: string[] };
}
const fixtures = JSON.parse(readFileSync(new URL('./fixtures/coco-eval-cases.json', import.meta.url), 'utf8')) as { cases: FixtureCase[] };

// Values agree to the last bits (the reference sums as numpy does); 1e-12 leaves room for nothing but rounding.
const close = (got: readonly number[], want: readonly number[], what: string) => {
  expect(got.length, what).toBe(want.length);
  got.forEach((g, i) => expect(Math.abs(g - want[i]), `${what}[${i}]: got ${g}, expected ${want[i]}`).toBeLessThanOrEqual(1e-12));
};

function run(c: { gt: CocoDatasetJson; results: CocoDetectionResult[]; params?: Partial<CocoEvalParams> }): CocoEval {
  const gt = new Coco(c.gt);
  const ev = new CocoEval(gt, gt.loadResults(c.results));
  ev.params = { ...ev.params, ...c.params };
  ev.evaluate();
  ev.accumulate();
  return ev;
}

describe('CocoEval against the numpy reference', () => {
  it('has fixtures covering crowds, empty images, categories without ground truth, maxDets overflow and score ties', () => {
    const names = fixtures.cases.map((c) => c.name);
    expect(names.length).toBeGreaterThan(40);
    for (const w of ['crowd', 'no ground truth', 'maxDets', 'ties', 'flood past 100', 'no categories']) expect(names.some((n) => n.includes(w)), w).toBe(true);
    const flood = fixtures.cases.find((c) => c.name.includes('flood'))!;
    expect(flood.results.filter((r) => r.image_id === flood.gt.images[0].id).length).toBeGreaterThan(100);
  });

  for (const c of fixtures.cases) {
    it(c.name, () => {
      const ev = run(c);
      const summary = ev.summarize({ print: false });
      close(summary.stats, c.expected.stats, 'stats');
      if (c.params.iouThresholds === undefined) expect(ev.params.iouThresholds).toEqual(c.expected.iouThresholds);  // numpy's linspace, bit for bit
      close(Array.from(ev.eval!.recall), c.expected.recall, 'recall');
      const [T, R, K, A, M] = ev.eval!.precisionShape;
      const mean: number[] = [];
      for (let t = 0; t < T; t++) for (let k = 0; k < K; k++) for (let a = 0; a < A; a++) for (let m = 0; m < M; m++) {
        let s = 0;
        for (let r = 0; r < R; r++) s += ev.eval!.precision[(((t * R + r) * K + k) * A + a) * M + m];
        mean.push(s / R);
      }
      close(mean, c.expected.precisionMean, 'precision averaged over recall points');
      if (c.expected.perCategory.length) {
        const per = ev.summarizePerCategory();
        expect(per.map((p) => p.categoryId)).toEqual([...new Set(c.params.categoryIds ?? c.gt.categories.map((x) => x.id))].sort((a, b) => a - b));
        per.forEach((p, k) => close(p.stats, c.expected.perCategory[k], `category ${p.categoryId}`));
      }
      if (c.expected.text) expect(summary.text.split('\n')).toEqual(c.expected.text);
    });
  }
});

// The four images of torchmetrics' `_inputs` (boxes xyxy, labels 0..5), whose 12 numbers and
// per-class AP / AR@100 its tests assert as pycocotools' output (3 decimals): torchmetrics
// 0.7-0.10, tests/detection/test_map.py, `_compare_fn`. The area of each object is its box's.
describe('pycocotools numbers published by torchmetrics', () => {
  const target: [number[][], number[]][] = [
    [[[214.15, 41.29, 562.41, 285.07]], [4]],
    [[[13.0, 22.75, 548.98, 632.42], [1.66, 3.32, 270.26, 275.23]], [2, 2]],
    [[[61.87, 276.25, 358.29, 379.43], [2.75, 3.66, 162.15, 316.06], [295.55, 93.96, 313.97, 152.79], [326.94, 97.05, 340.49, 122.98],
      [356.62, 95.47, 372.33, 147.55], [462.08, 105.09, 493.74, 146.99], [277.11, 103.84, 292.44, 150.72]], [4, 1, 0, 0, 0, 0, 0]],
    [[[13.99, 2.87, 640.0, 421.52]], [5]],
  ];
  const preds: [number[][], number[], number[]][] = [
    [[[258.15, 41.29, 606.41, 285.07]], [0.236], [4]],
    [[[61.0, 22.75, 565.0, 632.42], [12.66, 3.32, 281.26, 275.23]], [0.318, 0.726], [3, 2]],
    [[[87.87, 276.25, 384.29, 379.43], [0.0, 3.66, 142.15, 316.06], [296.55, 93.96, 314.97, 152.79], [328.94, 97.05, 342.49, 122.98],
      [356.62, 95.47, 372.33, 147.55], [464.08, 105.09, 495.74, 146.99], [276.11, 103.84, 291.44, 150.72]], [0.546, 0.3, 0.407, 0.611, 0.335, 0.805, 0.953], [4, 1, 0, 0, 0, 0, 0]],
    [[[0.0, 2.87, 601.0, 421.52]], [0.699], [5]],
  ];
  const xywh = ([x1, y1, x2, y2]: number[]): [number, number, number, number] => [x1, y1, x2 - x1, y2 - y1];
  const gt: CocoDatasetJson = {
    images: target.map((_, i) => ({ id: i })),
    categories: [0, 1, 2, 3, 4, 5].map((id) => ({ id, name: `class ${id}` })),
    annotations: target.flatMap(([boxes, labels], i) => boxes.map((b, j) => {
      const bbox = xywh(b);
      return { id: 0, image_id: i, category_id: labels[j], bbox, area: bbox[2] * bbox[3], iscrowd: 0 };
    })).map((a, n) => ({ ...a, id: n + 1 })),
  };
  const results: CocoDetectionResult[] = preds.flatMap(([boxes, scores, labels], i) =>
    boxes.map((b, j) => ({ image_id: i, category_id: labels[j], bbox: xywh(b), score: scores[j] })));

  it('gives the 12 numbers and the per-class AP and AR@100 to the 3 decimals published', () => {
    const { stats, perCategory } = evaluateCoco(new Coco(gt), results);
    const three = (v: number[]) => v.map((x) => formatFixed(x, 3));
    expect(three(stats)).toEqual(three([0.706, 0.901, 0.846, 0.689, 0.8, 0.701, 0.592, 0.716, 0.716, 0.767, 0.8, 0.7]));
    expect(three(perCategory.map((c) => c.metrics.ap))).toEqual(three([0.725, 0.8, 0.454, -1, 0.65, 0.9]));
    expect(three(perCategory.map((c) => c.metrics.ar100))).toEqual(three([0.78, 0.8, 0.45, -1, 0.65, 0.9]));
  });
});

describe('CocoEval details', () => {
  const gt: CocoDatasetJson = {
    images: [{ id: 1 }, { id: 2 }],
    categories: [{ id: 1, name: 'cat' }],
    annotations: [{ id: 1, image_id: 1, category_id: 1, bbox: [0, 0, 10, 10], area: 100, iscrowd: 0 }],
  };

  it('prints pycocotools\' 12 lines by default and rounds ties to even as Python does', () => {
    const lines: string[] = [];
    const log = console.log;
    console.log = (s: string) => lines.push(s);
    try {
      const ev = run({ gt, results: [{ image_id: 1, category_id: 1, bbox: [0, 0, 10, 10], score: 1 }] });
      ev.summarize();
      expect(ev.stats[0]).toBeCloseTo(1, 12);       // tp / (tp + fp + spacing(1)): just under 1, as pycocotools
    } finally {
      console.log = log;
    }
    expect(lines[0].split('\n')[0]).toBe(' Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 1.000');
    expect(lines[0].split('\n')[3]).toBe(' Average Precision  (AP) @[ IoU=0.50:0.95 | area= small | maxDets=100 ] = 1.000');
    expect(lines[0].split('\n')[4]).toBe(' Average Precision  (AP) @[ IoU=0.50:0.95 | area=medium | maxDets=100 ] = -1.000');
    expect([0.0625, 0.1875, 0.3125, 0.9375, -0.0625, 0.0626, 0.5].map((x) => formatFixed(x, 3))).toEqual(['0.062', '0.188', '0.312', '0.938', '-0.062', '0.063', '0.500']);
    expect(formatFixed(0.125, 2)).toBe('0.12');
  });

  it('keeps the matches per image as pycocotools\' evalImgs', () => {
    const ev = run({ gt, results: [{ image_id: 1, category_id: 1, bbox: [0, 0, 10, 10], score: 0.5 }, { image_id: 2, category_id: 1, bbox: [0, 0, 10, 10], score: 0.9 }] });
    expect(ev.evalImgs.length).toBe(4 * 2);                 // 1 category × 4 ranges × 2 images
    const e = ev.evalImgs[0]!;
    expect([e.imageId, e.categoryId, e.maxDet, e.dtIds, e.gtIds]).toEqual([1, 1, 100, [1], [1]]);
    expect(Array.from(e.dtMatches)).toEqual(Array(10).fill(1));
    expect(ev.evalImgs[1]!.dtIds).toEqual([2]);
    expect(Array.from(ev.evalImgs[1]!.dtMatches)).toEqual(Array(10).fill(0));
  });

  it('evaluateCoco takes results or a loaded Coco, and parameter changes', () => {
    const coco = new Coco(gt);
    const results = [{ image_id: 1, category_id: 1, bbox: [0, 0, 10, 5] as [number, number, number, number], score: 0.5 }];
    const a = evaluateCoco(coco, results), b = evaluateCoco(coco, coco.loadResults(results));
    expect(a.stats).toEqual(b.stats);
    expect(a.metrics.ap50).toBeCloseTo(1, 12);               // IoU exactly 0.5 is a match
    expect(a.metrics.ap75).toBe(0);
    expect(evaluateCoco(coco, results, { params: { iouThresholds: [0.5] } }).metrics.ap).toBeCloseTo(1, 12);
  });

  it('detectionsToCocoResults turns xyxy tensors into COCO results', () => {
    const results = detectionsToCocoResults([{
      imageId: 7, boxes: tensor([[1, 2, 4, 8], [0, 0, 2, 2]], { dtype: 'float32' }), scores: tensor([0.5, 0.25]), labels: tensor([0, 3], { dtype: 'int64' }),
    }], { labelToCategoryId: (l) => l + 1 });
    expect(results).toEqual([
      { image_id: 7, category_id: 1, bbox: [1, 2, 3, 6], score: 0.5 },
      { image_id: 7, category_id: 4, bbox: [0, 0, 2, 2], score: 0.25 },
    ]);
    expectError(() => detectionsToCocoResults([{ imageId: 1, boxes: tensor([[1, 2, 3]]), scores: tensor([1]), labels: tensor([1]) }]), ShapeError, { op: 'detectionsToCocoResults', argument: 'detections[0].boxes', expected: 'a shape [N, 4]', got: '[1, 3]' });
    expectError(() => detectionsToCocoResults([{ imageId: 1, boxes: tensor([[1, 2, 3, 4]]), scores: tensor([1, 2]), labels: tensor([1]) }]), ShapeError, { op: 'detectionsToCocoResults', argument: 'detections[0].scores', expected: 'a shape [1]', got: '[2]' });
    expectError(() => detectionsToCocoResults([{ imageId: 1, boxes: tensor([[1, 2, 3, 4]]), scores: tensor([1]), labels: tensor([1.5]) }]), DTypeError, { op: 'detectionsToCocoResults', argument: 'detections[0].labels', expected: 'int32 or int64 labels', got: 'float32' });
  });

  it('rejects bad input with errors naming the field', () => {
    const bad = (patch: object) => ({ ...gt, annotations: [{ ...gt.annotations[0], ...patch }] }) as CocoDatasetJson;
    expectError(() => new Coco(bad({ bbox: [0, 0, 10] })), ValueError, { op: 'Coco', argument: 'annotations[0].bbox', expected: 'a box [x, y, w, h] of 4 finite numbers', got: '[0,0,10]' });
    expectError(() => new Coco(bad({ area: undefined })), ValueError, { op: 'Coco', argument: 'annotations[0].area', expected: 'a finite number', got: 'undefined' });
    expectError(() => new Coco(bad({ bbox: [0, 0, NaN, 1] })), ValueError, { op: 'Coco', argument: 'annotations[0].bbox', expected: 'a box [x, y, w, h] of 4 finite numbers', got: '[0,0,null,1]' });
    expectError(() => new Coco({ ...gt, images: undefined } as unknown as CocoDatasetJson), ValueError, { op: 'Coco', argument: 'images', expected: 'an array', got: 'undefined' });
    const coco = new Coco(gt);
    expectError(() => coco.loadResults([{ image_id: 3, category_id: 1, bbox: [0, 0, 1, 1], score: 1 }]), ValueError, { op: 'Coco.loadResults', argument: 'results[0].image_id', expected: "the id of one of the dataset's images", got: '3' });
    expectError(() => coco.loadResults([{ image_id: 1, category_id: 1, bbox: [0, 0, 1, 1], score: NaN }]), ValueError, { op: 'Coco.loadResults', argument: 'results[0].score', expected: 'a finite number', got: 'null' });
    expectError(() => new CocoEval(coco, coco, 'segm' as 'bbox'), ValueError, { op: 'CocoEval', argument: 'iouType', expected: "'bbox'", got: '"segm"' });
    const ev = new CocoEval(coco, coco.loadResults([]));
    expectError(() => ev.accumulate(), ValueError, { op: 'CocoEval.accumulate', expected: 'evaluate() to have run first', got: 'no evaluation' });
    ev.evaluate();
    expectError(() => ev.summarize(), ValueError, { op: 'CocoEval.summarize', expected: 'accumulate() to have run after evaluate()', got: 'no accumulation' });
    ev.params.iouThresholds = [1.5];
    expectError(() => ev.evaluate(), ValueError, { op: 'CocoEval.evaluate', argument: 'params.iouThresholds', expected: 'values in [0, 1]', got: '1.5' });
    ev.params = { ...ev.params, iouThresholds: [0.5], maxDets: [1, 100] };
    ev.evaluate();
    ev.accumulate();
    expectError(() => ev.summarize(), ValueError, { op: 'CocoEval.summarize', argument: 'params.maxDets', expected: 'at least 3 values (AR@maxDets[0], [1], [2])', got: '[1,100]' });
    ev.params = { ...ev.params, areaRangeLabels: ['all'] };
    expectError(() => ev.evaluate(), ValueError, { op: 'CocoEval.evaluate', argument: 'params.areaRangeLabels', expected: 'one label per area range (4)', got: '1' });
    // empty threshold lists: summarize read past the end (a TypeError), or every AP was -1
    expectError(() => evaluateCoco(coco, [], { params: { iouThresholds: [] } }), ValueError, { op: 'CocoEval.evaluate', argument: 'params.iouThresholds', expected: 'at least one value', got: '[]' });
    expectError(() => evaluateCoco(coco, [], { params: { recallThresholds: [] } }), ValueError, { op: 'CocoEval.evaluate', argument: 'params.recallThresholds', expected: 'at least one value', got: '[]' });
    // a misspelt parameter or option was ignored: the defaults were evaluated
    expectError(() => evaluateCoco(coco, [], { params: { maxDet: [1, 10, 100] } as never }), ValueError, { op: 'CocoEval.evaluate', argument: 'params', got: '"maxDet"' });
    expectError(() => evaluateCoco(coco, [], { param: {} } as never), ValueError, { op: 'evaluateCoco', argument: 'options', expected: 'only the options params, print', got: '"param"' });
    expectError(() => ev.summarize({ verbose: true } as never), ValueError, { op: 'CocoEval.summarize', argument: 'options', expected: 'only the options print', got: '"verbose"' });
    expectError(() => evaluateCoco(coco, 3 as never), ValueError, { op: 'evaluateCoco', argument: 'results', expected: 'an array of detection results, or a Coco from gt.loadResults', got: '3' });
  });
});
