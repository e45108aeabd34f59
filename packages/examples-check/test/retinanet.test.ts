/**
 * The RetinaNet example (examples/retinanet) in its fast settings: training lowers the loss of
 * every classification loss compared, memory stays flat across steps, the models are scored, and
 * the pictures and results.json are written as valid PNG / JSON files.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cpuThreads } from '@kiln/tensor';
import { PRESETS } from '../../../examples/retinanet/config.js';
import { runExperiment } from '../../../examples/retinanet/experiment.js';
import { trainDetector } from '../../../examples/retinanet/train.js';
import { FOCAL } from '../../../examples/retinanet/loss.js';

const mean = (v: readonly number[]) => v.reduce((a, b) => a + b, 0) / v.length;

describe('examples/retinanet in fast mode', () => {
  const out = mkdtempSync(join(tmpdir(), 'kiln-retinanet-'));
  // as main.ts does: the preset's threads (null: Kiln's default)
  let threads = 0;
  beforeAll(() => { threads = cpuThreads(); cpuThreads(PRESETS.fast().threads ?? threads); });
  afterAll(() => {
    cpuThreads(threads);
    rmSync(out, { recursive: true, force: true });
  });

  it('trains each loss (the loss falls), scores it and writes the outputs', async () => {
    const settings = PRESETS.fast();
    const result = await runExperiment({ settings, outDir: out });
    expect(result.comparison.map((r) => r.variant.name)).toEqual(['focal', 'ce', 'ce-alpha']);
    for (const r of result.comparison) {
      const total = r.log.classification.map((c, i) => c + r.log.box[i]);
      expect(total).toHaveLength(settings.steps);
      expect(total.every(Number.isFinite)).toBe(true);
      const window = Math.floor(settings.steps / 5);
      // the mean loss of the last fifth of training is below that of the first fifth
      expect(mean(total.slice(-window))).toBeLessThan(mean(total.slice(0, window)));
      expect(r.ap.mean).toBeGreaterThanOrEqual(0);
      expect(r.ap.mean).toBeLessThanOrEqual(1);
      expect(r.log.anchors.positives).toBeGreaterThan(0);
    }
    for (const name of ['loss-curves.png', 'focal-loss-figure1.png', 'detections.png', 'results.json']) {
      expect(result.files).toContain(join(out, name));
      expect(existsSync(join(out, name))).toBe(true);
    }
    for (const f of result.files.filter((f) => f.endsWith('.png'))) {
      const meta = await sharp(f).metadata();
      expect(meta.format).toBe('png');
      expect(meta.width).toBeGreaterThan(100);
      expect(meta.height).toBeGreaterThan(100);
    }
    const json = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as { comparison: unknown[] };
    expect(json.comparison).toHaveLength(3);
  }, 180_000);

  it('keeps memory flat across training steps (every step tidied)', () => {
    const { log, model } = trainDetector(FOCAL, { ...PRESETS.fast(), steps: 12 });
    // after the first steps (Adam's moments are allocated at the first update) nothing grows
    expect(new Set(log.allocated.slice(2)).size).toBe(1);
    for (const p of model.parameters()) p.dispose();
  }, 60_000);

  for (const amp of ['bf16', 'fp16'] as const) {
    it(`trains with --amp ${amp} (autocast${amp === 'fp16' ? ' and a GradScaler' : ''}): float32 weights, the loss falls, memory stays flat`, () => {
      const { log, model } = trainDetector(FOCAL, { ...PRESETS.fast(), steps: 16, amp });
      const total = log.classification.map((c, i) => c + log.box[i]);
      expect(total.every(Number.isFinite)).toBe(true);
      expect(mean(total.slice(-4))).toBeLessThan(mean(total.slice(0, 4)));
      expect(new Set(log.allocated.slice(4)).size).toBe(1);
      for (const p of model.parameters()) expect(p.dtype).toBe('float32');
      for (const p of model.parameters()) p.dispose();
    }, 120_000);
  }
});
