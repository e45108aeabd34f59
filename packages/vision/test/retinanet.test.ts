// RetinaNet's parts on a tiny model: the head's layout and initialisation, normalisation and
// batching, losses (an image without boxes, a batch as the mean of its images, every box loss),
// post-processing against a reference written here from torchvision's definition, argument
// checks, and memory over training steps.
import { expect, it } from 'vitest';
import { type Tensor, DTypeError, ShapeError, ValueError, memoryStats, randn, tensor, tidy, zeros } from '@kiln/tensor';
import { SGD } from '@kiln/optim';
import { sigmoidFocalLoss } from '@kiln/losses';
import { BoxCoder, DetectionPreprocess, type DetectionTarget, RetinaNetHead, boxRegressionLoss, classificationLoss, matchAnchors, padTargets, postprocessDetections } from '@kiln/vision';
import { expectClose, expectError, forEachDevice, randomValues, toNumbers, settleMemoryBeforeEach } from '@kiln/tensor/testing';
import { tinyRetinaNet } from './support/tiny-detector.js';

settleMemoryBeforeEach();

const nums = (t: Tensor): number[] => toNumbers(t.toTypedArray());

it('head: [N, sum H·W·A, K] and [N, sum H·W·A, 4] in (level, y, x, anchor) order; the prior bias; version-1 keys', () => {
  const head = new RetinaNetHead(4, 2, 3, { priorProbability: 0.01 });
  const bias = nums(head.classificationHead.clsLogits.bias!);
  bias.forEach((b) => expect(b).toBeCloseTo(-Math.log(99), 5));
  const w = nums(head.classificationHead.clsLogits.weight);
  expect(Math.sqrt(w.reduce((a, x) => a + x * x, 0) / w.length)).toBeCloseTo(0.01, 2);
  tidy(() => {
    const levels = [randn([2, 4, 3, 5], { seed: 1 }), randn([2, 4, 2, 2], { seed: 2 })];
    const out = head.call(levels);
    expect(out.clsLogits.shape).toEqual([2, (15 + 4) * 2, 3]);
    expect(out.bboxRegression.shape).toEqual([2, (15 + 4) * 2, 4]);
    // row (y = 1, x = 2, anchor 1) of level 0, class 2 is channel 1·3 + 2 of the map at (1, 2)
    const map = head.classificationHead.clsLogits.call(head.classificationHead.conv.call(levels[0]));
    expect(nums(out.clsLogits.select(0, 1).select(0, (1 * 5 + 2) * 2 + 1).select(0, 2))).toEqual(nums(map.select(0, 1).select(0, 5).select(0, 1).select(0, 2)));
  });
  const src = new RetinaNetHead(4, 2, 3), dst = new RetinaNetHead(4, 2, 3);
  const v1 = Object.fromEntries(Object.entries(src.stateDict()).map(([k, t]) => [k.replace(/conv\.(\d)\.0\./, (_, i: string) => `conv.${2 * Number(i)}.`), t]));
  expect(Object.keys(v1)).toContain('classificationHead.conv.6.weight');
  dst.loadStateDict(v1);
  expect(nums(dst.regressionHead.conv.at(3).stateDict()['0.bias'])).toEqual(nums(src.regressionHead.conv.at(3).stateDict()['0.bias']));
});

forEachDevice('DetectionPreprocess', (dev) => {
  it('normalises per channel and pads the batch with zeros to a multiple of sizeDivisible', () => {
    const pre = new DetectionPreprocess({ imageMean: [0.5, 0.25], imageStd: [2, 4], sizeDivisible: 8 });
    const a = tensor(randomValues(1, 2 * 5 * 9), { dtype: 'float64', device: dev }).reshape([2, 5, 9]);
    const b = tensor(randomValues(2, 2 * 7 * 3), { dtype: 'float64', device: dev }).reshape([2, 7, 3]);
    const { tensors, imageSizes } = pre.call([a, b]);
    expect(tensors.shape).toEqual([2, 2, 8, 16]);
    expect(imageSizes).toEqual([[5, 9], [7, 3]]);
    const got = nums(tensors), av = nums(a);
    for (let c = 0; c < 2; c++) for (let y = 0; y < 8; y++) for (let x = 0; x < 16; x++) {
      const v = got[(c * 8 + y) * 16 + x];
      const want = y < 5 && x < 9 ? (av[(c * 5 + y) * 9 + x] - [0.5, 0.25][c]) / [2, 4][c] : 0;
      expect(v).toBeCloseTo(want, 12);
    }
    const batch = pre.call(a.unsqueeze(0));
    expect(batch.tensors.shape).toEqual([1, 2, 8, 16]);
    expect(batch.imageSizes).toEqual([[5, 9]]);
    expect(() => pre.call([a.narrow(0, 0, 1)])).toThrow(/an image \[C = 2, H, W\]/);
    expect(() => pre.call([zeros([2, 4, 4], { dtype: 'int64', device: dev })])).toThrow(DTypeError);
    expect(() => pre.call([])).toThrow(ValueError);
  });
});

/** Boxes [M, 4] and int64 labels on `dev`. */
const target = (dev: 'cpu' | 'cuda', boxes: number[][], labels: number[], dtype: 'float32' | 'float64' = 'float64'): DetectionTarget => ({
  boxes: boxes.length ? tensor(boxes, { dtype, device: dev }) : zeros([0, 4], { dtype, device: dev }),
  labels: tensor(labels, { dtype: 'int64', device: dev }),
});

forEachDevice('RetinaNet (tiny)', (dev) => {
  const images = () => [randn([3, 40, 48], { seed: 11, dtype: 'float64', device: dev }), randn([3, 36, 30], { seed: 12, dtype: 'float64', device: dev })];
  const targets = () => [target(dev, [[2, 3, 20, 30], [18, 4, 46, 22]], [0, 2]), target(dev, [], [])];

  it('losses of a batch are the mean of its images; an image without boxes is all background', () => {
    const model = tinyRetinaNet(dev);
    tidy(() => {
      const [ims, tg] = [images(), targets()];
      const both = model.computeLosses(ims, tg);
      const one = model.computeLosses([ims[0]], [tg[0]]);
      // alone, the second image is padded to its own size: its anchors and outputs differ, so compare it in the batch's padding
      const padded = [ims[1], zeros([3, 40, 48], { dtype: 'float64', device: dev })];
      const bg = model.computeLosses(padded.slice(0, 1).map((t) => t.clone()), [tg[1]]);
      expect(nums(both.classification)[0]).toBeGreaterThan(0);
      expect(nums(bg.bboxRegression)).toEqual([0]);
      // the background-only image: the focal loss of every anchor against class "none", over 1
      const batch = model.transform.call([ims[1]]);
      const levels = [...model.backbone.call(batch.tensors).values()];
      const logits = model.head.call(levels).clsLogits.select(0, 0);
      const expected = sigmoidFocalLoss(logits, zeros([logits.shape[0]], { dtype: 'int64', device: dev }), { reduction: 'sum' });
      expectClose(bg.classification, nums(expected), { rtol: 1e-12, atol: 0 });
      expect(one.bboxRegression.item()).toBeGreaterThan(0);
    });
  });

  it('the batched losses: padding changes nothing (a batch is the mean of its images alone); background anchors get no box gradient', () => {
    const model = tinyRetinaNet(dev);
    const A = 40, K = 3;
    // anchors on a 5 x 8 grid of 12-pixel squares, the same for every image (as the generator's)
    const anchors = tensor(Array.from({ length: A }, (_, i) => [12 * (i % 8), 12 * Math.floor(i / 8), 12 * (i % 8) + 14, 12 * Math.floor(i / 8) + 14]), { dtype: 'float64', device: dev });
    const tg = [target(dev, [[2, 3, 20, 30], [40, 4, 70, 22], [10, 30, 50, 58]], [0, 2, 1]), target(dev, [], []), target(dev, [[60, 20, 90, 50]], [1])];
    const logits = randn([3, A, K], { seed: 3, dtype: 'float64', device: dev });
    const deltas = randn([3, A, 4], { seed: 4, dtype: 'float64', device: dev }).mul(0.2).requiresGrad_();
    for (const boxLoss of ['l1', 'smoothL1', 'giou'] as const) tidy(() => {
      const o = { ...model.lossOptions, boxLoss };
      const anchorList = [anchors, anchors, anchors];
      const matched = matchAnchors(tg, anchorList, model.proposalMatcher);
      const outputs = { clsLogits: logits, bboxRegression: deltas };
      const cls = classificationLoss(tg, outputs, matched, o), box = boxRegressionLoss(tg, outputs, anchorList, matched, model.boxCoder, o);
      const alone = [0, 1, 2].map((b) => {
        const one = { clsLogits: logits.narrow(0, b, 1), bboxRegression: deltas.narrow(0, b, 1) };
        const m = matchAnchors([tg[b]], [anchors], model.proposalMatcher);
        expect(nums(m[0]), `image ${b}'s matches alone and in the batch`).toEqual(nums(matched[b]));
        return [classificationLoss([tg[b]], one, m, o).item(), boxRegressionLoss([tg[b]], one, [anchors], m, model.boxCoder, o).item()];
      });
      expectClose(cls, [(alone[0][0] + alone[1][0] + alone[2][0]) / 3], { rtol: 1e-12, atol: 0 });
      expectClose(box, [(alone[0][1] + alone[1][1] + alone[2][1]) / 3], { rtol: 1e-12, atol: 0 });
      expect(alone[1][1]).toBe(0);
      deltas.grad = null;
      box.backward();
      const fg = matched.map((m) => nums(m.ge(0)));
      const grad = nums(deltas.grad!.abs().sum(2));
      for (let b = 0; b < 3; b++) for (let a = 0; a < A; a++) {
        if (fg[b][a]) expect(grad[b * A + a], `${boxLoss}: foreground anchor ${a} of image ${b}`).toBeGreaterThan(0);
        else expect(grad[b * A + a], `${boxLoss}: background anchor ${a} of image ${b}`).toBe(0);
      }
      expect(fg[0].some(Boolean) && fg[2].some(Boolean)).toBe(true);
    });
    for (const t of [anchors, logits, deltas, ...tg.flatMap((x) => [x.boxes, x.labels])]) t.dispose();
  });

  it('batched box loss: a background anchor whose deltas overflow float16 when decoded still gets a zero gradient, not NaN', () => tidy(() => {
    const model = tinyRetinaNet(dev);
    // anchor 0 matches the box; anchor 1 is a 1000-pixel background anchor with dx = 100 (dx · w overflows float16)
    const anchors = tensor([[10, 10, 30, 30], [2000, 2000, 3000, 3000]], { dtype: 'float32', device: dev });
    const tg = [target(dev, [[10, 10, 30, 30]], [0], 'float32')];
    const deltas = tensor([[[0.1, 0, 0, 0], [100, 0, 0, 0]]], { dtype: 'float16', device: dev }).requiresGrad_();
    const matched = matchAnchors(tg, [anchors], model.proposalMatcher);
    expect(nums(matched[0])).toEqual([0, -1]);
    for (const boxLoss of ['giou', 'l1', 'smoothL1'] as const) {
      const loss = boxRegressionLoss(tg, { clsLogits: zeros([1, 2, 3], { device: dev }), bboxRegression: deltas }, [anchors], matched, model.boxCoder, { ...model.lossOptions, boxLoss });
      deltas.grad = null;
      loss.backward();
      const g = nums(deltas.grad!.to('float32'));
      expect(g.every(Number.isFinite), `${boxLoss}: ${g.join(', ')}`).toBe(true);
      expect(g.slice(4), boxLoss).toEqual([0, 0, 0, 0]);
    }
  }));

  it('batched losses: arguments of different batches or anchor counts are ShapeErrors naming the argument', () => tidy(() => {
    const model = tinyRetinaNet(dev);
    const anchors = tensor([[10, 10, 30, 30], [40, 40, 60, 60]], { dtype: 'float64', device: dev });
    const tg = [target(dev, [[10, 10, 30, 30]], [0])];
    const matched = matchAnchors(tg, [anchors], model.proposalMatcher);
    const two = { clsLogits: zeros([2, 2, 3], { dtype: 'float64', device: dev }), bboxRegression: zeros([2, 2, 4], { dtype: 'float64', device: dev }) };
    expectError(() => boxRegressionLoss(tg, two, [anchors], matched, model.boxCoder, model.lossOptions), ShapeError, { op: 'boxRegressionLossBatched', argument: 'bboxRegression', expected: '[1, 2, 4] (B images and A anchors as matched)', got: '[2, 2, 4]' });
    expectError(() => classificationLoss(tg, two, matched, model.lossOptions), ShapeError, { op: 'classificationLossBatched', argument: 'clsLogits', got: '[2, 2, 3]' });
    expectError(() => classificationLoss([tg[0], tg[0]], two, matched, model.lossOptions), ShapeError, { op: 'classificationLossBatched', argument: 'padded', got: 'targets of 2 images' });
    expectError(() => padTargets([{ boxes: tg[0].boxes, labels: tensor([0, 1], { dtype: 'int64', device: dev }) }]), ShapeError, { op: 'padTargets', argument: 'targets[0].labels', expected: 'one label per box ([1])', got: '[2]' });
  }));

  it('the three box losses are finite and differ; training-mode call returns losses, evaluation-mode call detections', () => {
    const model = tinyRetinaNet(dev);
    const values = (['l1', 'smoothL1', 'giou'] as const).map((boxLoss) => tidy(() => {
      model.lossOptions = { ...model.lossOptions, boxLoss };
      return model.computeLosses(images(), targets()).bboxRegression.item();
    }));
    expect(values.every(Number.isFinite)).toBe(true);
    expect(new Set(values).size).toBe(3);
    tidy(() => {
      const losses = model.train().call(images(), targets()) as { classification: Tensor };
      expect(losses.classification.shape).toEqual([]);
      expect(() => model.call(images())).toThrow(/targets in training mode/);
      const dets = model.eval().call(images()) as { boxes: Tensor; scores: Tensor; labels: Tensor }[];
      expect(dets.length).toBe(2);
      for (const d of dets) {
        expect(d.boxes.shape[1]).toBe(4);
        expect(d.labels.dtype).toBe('int64');
      }
    });
  });

  it('refuses bad targets before computing anything', () => {
    const model = tinyRetinaNet(dev);
    tidy(() => {
      const ims = images();
      expect(() => model.computeLosses(ims, [targets()[0]])).toThrow(/one target per image \(2\)/);
      expect(() => model.computeLosses(ims, [target(dev, [[5, 5, 5, 9]], [1]), targets()[1]])).toThrow(/box 0: \[5, 5, 5, 9\]/);
      // a NaN or infinite corner passed the degenerate-box check and made the box loss NaN
      expectError(() => model.computeLosses(ims, [target(dev, [[1, 1, 5, 9], [2, NaN, 6, 8]], [1, 0]), targets()[1]]), ValueError, { op: 'RetinaNet', argument: 'targets[0].boxes', expected: 'finite boxes with positive width and height (x1 < x2, y1 < y2)', got: 'box 1: [2, NaN, 6, 8]' });
      expectError(() => model.computeLosses(ims, [target(dev, [[1, 1, Infinity, 9]], [1]), targets()[1]]), ValueError, { op: 'RetinaNet', argument: 'targets[0].boxes', got: 'box 0: [1, 1, Infinity, 9]' });
      expectError(() => model.computeLosses(ims, [{ boxes: tensor([[1, 1, 5, 9]], { device: dev }) } as never, targets()[1]]), ValueError, { op: 'RetinaNet', argument: 'targets[0].labels', expected: 'a Tensor', got: 'undefined' });
      expect(() => model.computeLosses(ims, [target(dev, [[1, 1, 5, 9]], [3]), targets()[1]])).toThrow(/labels in \[0, 3\)/);
      expect(() => model.computeLosses(ims, [{ boxes: tensor([[1, 1, 5, 9]], { device: dev }), labels: tensor([1], { dtype: 'int32', device: dev }) }, targets()[1]])).toThrow(DTypeError);
      expect(() => model.computeLosses(ims, [{ boxes: tensor([1, 1, 5, 9], { device: dev }), labels: tensor([1], { dtype: 'int64', device: dev }) }, targets()[1]])).toThrow(/boxes \[M, 4\]/);
      model.lossOptions = { ...model.lossOptions, boxLoss: 'l2' as 'l1' };
      expect(() => model.computeLosses(ims, targets())).toThrow(/'l1', 'smoothL1' or 'giou'/);
    });
    expect(() => tinyRetinaNet(dev, { detectionsPerImg: -1 })).toThrow(ValueError);
    // torchvision's spellings were ignored: the default thresholds were used
    expectError(() => tinyRetinaNet(dev, { score_thresh: 0.5 } as never), ValueError, { op: 'RetinaNet', argument: 'options', got: '"score_thresh"' });
    expectError(() => new DetectionPreprocess({ image_mean: [0, 0, 0] } as never), ValueError, { op: 'DetectionPreprocess', argument: 'options', expected: 'only the options imageMean, imageStd, sizeDivisible', got: '"image_mean"' });
    // a NaN score threshold kept no detection, silently
    expectError(() => tinyRetinaNet(dev, { scoreThresh: NaN }), ValueError, { op: 'RetinaNet', argument: 'scoreThresh', expected: 'a finite number', got: 'NaN' });
    expectError(() => tinyRetinaNet(dev, { nmsThresh: '0.5' as unknown as number }), DTypeError, { op: 'RetinaNet', argument: 'nmsThresh', expected: 'a number', got: '"0.5"' });
  });

  it('keeps memory flat over training steps and detections', () => {
    const model = tinyRetinaNet(dev, {}, 'float32');
    const opt = new SGD(model.parameters(), { lr: 1e-3, momentum: 0.9 });
    const step = () => tidy(() => {
      const ims = images().map((t) => t.to('float32'));
      const tg = targets().map((t) => ({ boxes: t.boxes.to('float32'), labels: t.labels }));
      const l = model.train().computeLosses(ims, tg);
      l.classification.add(l.bboxRegression).backward();
      opt.step();
      opt.zeroGrad();
      model.eval().detect(ims);
    });
    for (let i = 0; i < 3; i++) step();
    const before = memoryStats(dev).allocated;
    for (let i = 0; i < 10; i++) step();
    expect(memoryStats(dev).allocated).toBe(before);
  });
});

/** torchvision's post-processing written out for one image: threshold, per-level top-k, decode, clip, class-wise greedy NMS, cap. */
function referenceDetections(levels: { logits: number[][]; deltas: number[][]; anchors: number[][] }[], [h, w]: [number, number], o: { scoreThresh: number; topk: number; nms: number; perImg: number }) {
  const coder = Math.log(1000 / 16);
  const cands: { score: number; label: number; box: number[] }[] = [];
  for (const { logits, deltas, anchors } of levels) {
    const K = logits[0].length;
    const scored: { score: number; flat: number }[] = [];
    logits.forEach((row, a) => row.forEach((x, c) => {
      const s = 1 / (1 + Math.exp(-x));
      if (s > o.scoreThresh) scored.push({ score: s, flat: a * K + c });
    }));
    scored.sort((p, q) => q.score - p.score || p.flat - q.flat);
    for (const { score, flat } of scored.slice(0, o.topk)) {
      const a = Math.floor(flat / K), [x1, y1, x2, y2] = anchors[a], [dx, dy, dw, dh] = deltas[a];
      const aw = x2 - x1, ah = y2 - y1, cx = x1 + 0.5 * aw, cy = y1 + 0.5 * ah;
      const px = dx * aw + cx, py = dy * ah + cy, pw = Math.exp(Math.min(dw, coder)) * aw, ph = Math.exp(Math.min(dh, coder)) * ah;
      const clip = (v: number, hi: number) => Math.min(Math.max(v, 0), hi);
      cands.push({ score, label: flat % K, box: [clip(px - 0.5 * pw, w), clip(py - 0.5 * ph, h), clip(px + 0.5 * pw, w), clip(py + 0.5 * ph, h)] });
    }
  }
  const order = cands.map((_, i) => i).sort((i, j) => cands[j].score - cands[i].score || i - j);
  const area = (b: number[]) => (b[2] - b[0]) * (b[3] - b[1]);
  const kept: number[] = [];
  for (const i of order) {
    const b = cands[i];
    const suppressed = kept.some((k) => {
      const c = cands[k];
      if (c.label !== b.label) return false;
      const iw = Math.max(0, Math.min(b.box[2], c.box[2]) - Math.max(b.box[0], c.box[0])), ih = Math.max(0, Math.min(b.box[3], c.box[3]) - Math.max(b.box[1], c.box[1]));
      const inter = iw * ih;
      return inter / (area(b.box) + area(c.box) - inter) > o.nms;
    });
    if (!suppressed) kept.push(i);
  }
  return kept.slice(0, o.perImg).map((i) => cands[i]);
}

forEachDevice('postprocessDetections', (dev) => {
  it("matches torchvision's definition: per-level thresholds and top-k, decoding, clipping, class-wise NMS, the cap", () => {
    const K = 4, sizes = [30, 9], image: [number, number] = [50, 60];
    const o = { scoreThresh: 0.3, topk: 12, nms: 0.4, perImg: 15 };
    // level 1's logits are all below the threshold: a level without candidates
    const logits = sizes.map((n, l) => randomValues(20 + l, n * K, l === 0 ? -3 : -9, l === 0 ? 3 : -8));
    const deltas = sizes.map((n, l) => randomValues(30 + l, n * 4, -0.6, 0.6));
    const anchors = sizes.map((n, l) => Array.from({ length: n }, (_, a) => {
      const [x, y, s] = [(a * 7) % 50, (a * 11) % 40, 8 + ((a * 5) % 20)];
      return [x, y, x + s, y + s * 0.75 + l];
    }));
    const t = (v: number[], shape: number[]) => tensor(v, { dtype: 'float64', device: dev }).reshape(shape);
    const [det] = postprocessDetections(
      sizes.map((n, l) => t(logits[l], [1, n, K])), sizes.map((n, l) => t(deltas[l], [1, n, 4])), [sizes.map((n, l) => t(anchors[l].flat(), [n, 4]))],
      [image], new BoxCoder([1, 1, 1, 1]), { scoreThresh: o.scoreThresh, nmsThresh: o.nms, detectionsPerImg: o.perImg, topkCandidates: o.topk },
    );
    const chunk = (v: number[], k: number) => Array.from({ length: v.length / k }, (_, i) => v.slice(i * k, i * k + k));
    const ref = referenceDetections(sizes.map((_, l) => ({ logits: chunk(logits[l], K), deltas: chunk(deltas[l], 4), anchors: anchors[l] })), image, o);
    expect(ref.length).toBeGreaterThan(3);
    expect(ref.length).toBeLessThanOrEqual(o.perImg);
    expect(nums(det.labels)).toEqual(ref.map((r) => r.label));
    expectClose(det.scores, ref.map((r) => r.score), { rtol: 1e-12, atol: 1e-12 });
    expectClose(det.boxes, ref.flatMap((r) => r.box), { rtol: 1e-12, atol: 1e-12 });
  });

  it('gives empty detections for an image without candidates', () => {
    const t = (shape: number[], v: number) => tensor(new Array(shape.reduce((a, b) => a * b, 1)).fill(v), { dtype: 'float32', device: dev }).reshape(shape);
    const [det] = postprocessDetections([t([1, 6, 2], -20)], [t([1, 6, 4], 0)], [[t([6, 4], 1).add(tensor([0, 0, 4, 4], { dtype: 'float32', device: dev }))]], [[10, 10]],
      new BoxCoder([1, 1, 1, 1]), { scoreThresh: 0.05, nmsThresh: 0.5, detectionsPerImg: 10, topkCandidates: 5 });
    expect([det.boxes.shape, det.scores.shape, det.labels.shape]).toEqual([[0, 4], [0], [0]]);
  });
});
