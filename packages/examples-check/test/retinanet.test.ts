/**
 * The RetinaNet example (examples/retinanet) in its fast settings: training lowers the loss of
 * every classification loss compared, memory stays flat across steps and nothing is left allocated,
 * the models are scored with COCO's 12 metrics, and the pictures, checkpoints and results.json are
 * written as valid PNG / JSON files.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cpuThreads, memoryStats } from '@kiln/tensor';
import { settleMemoryBeforeEach, toNumbers } from '@kiln/tensor/testing';
import { Conv2d, GroupNorm } from '@kiln/nn';
import { cocoMetricNames } from '@kiln/vision';
import { PRESETS } from '../../../examples/retinanet/config.js';
import { runExperiment } from '../../../examples/retinanet/experiment.js';
import { buildModel, disposeDetector, trainDetector } from '../../../examples/retinanet/train.js';
import { FOCAL } from '../../../examples/retinanet/loss.js';

settleMemoryBeforeEach();

const mean = (v: readonly number[]) => v.reduce((a, b) => a + b, 0) / v.length;
const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

describe('examples/retinanet in fast mode', () => {
  const out = mkdtempSync(join(tmpdir(), 'kiln-retinanet-'));
  // as main.ts does: the preset's threads (null: Kiln's default)
  let threads = 0;
  beforeAll(() => { threads = cpuThreads(); cpuThreads(PRESETS.fast().threads ?? threads); });
  afterAll(() => {
    cpuThreads(threads);
    rmSync(out, { recursive: true, force: true });
  });

  it('trains each loss (the loss falls), scores it with the 12 COCO metrics and writes the outputs', async () => {
    const settings = PRESETS.fast();
    const result = await runExperiment({ settings, outDir: out });
    expect(result.comparison.map((r) => r.variant.name)).toEqual(['focal', 'ce', 'ce-alpha']);
    for (const r of result.comparison) {
      expect(r.runs).toHaveLength(1);
      const { log, scores } = r.runs[0];
      const total = log.classification.map((c, i) => c + log.box[i]);
      expect(total).toHaveLength(settings.steps);
      expect(total.every(Number.isFinite)).toBe(true);
      const window = Math.floor(settings.steps / 5);
      // the mean loss of the last fifth of training is below that of the first fifth
      expect(mean(total.slice(-window)), r.variant.name).toBeLessThan(mean(total.slice(0, window)));
      expect(Object.keys(scores.metrics).sort()).toEqual([...cocoMetricNames].sort());
      for (const name of cocoMetricNames) {
        const v = scores.metrics[name];
        // -1: no ground truth in the range (no object of a 64 x 64 image is large, area > 96²)
        if (name === 'apLarge' || name === 'arLarge') expect(v, name).toBe(-1);
        else expect(v >= 0 && v <= 1, `${r.variant.name} ${name} = ${v}`).toBe(true);
      }
      expect(existsSync(r.runs[0].checkpoint)).toBe(true);
    }
    for (const name of ['loss-curves.png', 'focal-loss-figure1.png', 'detections.png', 'results.json']) {
      expect(result.files).toContain(join(out, name));
      expect(existsSync(join(out, name))).toBe(true);
    }
    for (const f of result.files.filter((f) => f.endsWith('.png'))) expect([...readFileSync(f).subarray(0, 8)]).toEqual(PNG_SIGNATURE);
    const json = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as { comparison: { ap: { mean: number }; runs: { metrics: Record<string, number> }[] }[] };
    expect(json.comparison).toHaveLength(3);
    for (const v of json.comparison) expect(Object.keys(v.runs[0].metrics).sort()).toEqual([...cocoMetricNames].sort());
    expect(json.comparison[0].ap.mean).toBe(result.comparison[0].runs[0].scores.metrics.ap);
  }, 180_000);

  it("starts from the paper's prior (classification bias -log((1 - pi) / pi)) and He-initialised hidden head convolutions", () => {
    const s = PRESETS.fast();
    const model = buildModel(s, FOCAL, 0);
    const bias = toNumbers(model.head.classificationHead.clsLogits.bias!.toTypedArray());
    const prior = -Math.log((1 - s.model.priorProbability) / s.model.priorProbability);
    expect(bias.every((b) => Math.abs(b - prior) < 1e-5)).toBe(true);
    // He-normal (fan_in, ReLU): std sqrt(2 / (9 · C)), where N(0, 0.01²) would give 0.01
    const first = model.head.classificationHead.conv.modules().find((m) => m instanceof Conv2d) as Conv2d;
    const w = toNumbers(first.weight.toTypedArray());
    const std = Math.sqrt(w.reduce((a, x) => a + x * x, 0) / w.length);
    expect(std / Math.sqrt(2 / (9 * s.model.fpnChannels))).toBeCloseTo(1, 1);
    disposeDetector(model);
  });

  it('puts GroupNorm after each hidden head convolution when headGroupNorm is set (the cpu presets), none otherwise', () => {
    const norms = (headGroupNorm: number | undefined) => {
      const s = PRESETS.fast();
      const model = buildModel({ ...s, model: { ...s.model, headGroupNorm } }, FOCAL, 0);
      const found = [model.head.classificationHead.conv, model.head.regressionHead.conv].map((t) => t.modules().filter((m): m is GroupNorm => m instanceof GroupNorm));
      disposeDetector(model);
      return found.map((f) => f.map((g) => g.numGroups));
    };
    expect(PRESETS.cpu().model.headGroupNorm).toBe(8);
    expect(norms(8)).toEqual([[8, 8, 8, 8], [8, 8, 8, 8]]);
    expect(norms(undefined)).toEqual([[], []]);
  });

  it('keeps memory flat across training steps (every step tidied) and frees everything after', () => {
    const before = memoryStats('cpu').allocated;
    const { log, model } = trainDetector(FOCAL, 0, { ...PRESETS.fast(), steps: 12 });
    // after the first steps (Adam's moments are allocated at the first update) nothing grows
    expect(new Set(log.allocated.slice(2)).size).toBe(1);
    disposeDetector(model);
    expect(memoryStats('cpu').allocated).toBe(before);
  }, 60_000);

  for (const amp of ['bf16', 'fp16'] as const) {
    it(`trains with --amp ${amp} (autocast${amp === 'fp16' ? ' and a GradScaler' : ''}): float32 weights, the loss falls, memory stays flat`, () => {
      const { log, model } = trainDetector(FOCAL, 0, { ...PRESETS.fast(), steps: 16, amp });
      const total = log.classification.map((c, i) => c + log.box[i]);
      expect(total.every(Number.isFinite)).toBe(true);
      expect(mean(total.slice(-4))).toBeLessThan(mean(total.slice(0, 4)));
      expect(new Set(log.allocated.slice(4)).size).toBe(1);
      for (const p of model.parameters()) expect(p.dtype).toBe('float32');
      disposeDetector(model);
    }, 120_000);
  }
});
