/**
 * The RetinaNet example's checkpoints and inference command: a run stopped after k steps and
 * resumed from its checkpoint ends with exactly the weights (and losses) of a run that was never
 * stopped, also with batches from worker threads; and `main.ts infer` runs a checkpoint on a PNG
 * file and writes it with the detections drawn.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Tensor, cpuThreads } from '@kiln/tensor';
import { PRESETS, type Settings } from '../../../examples/retinanet/config.js';
import { classNamesOf, makeScene } from '../../../examples/retinanet/data.js';
import { infer } from '../../../examples/retinanet/infer.js';
import { CROSS_ENTROPY, FOCAL } from '../../../examples/retinanet/loss.js';
import { disposeDetector, trainDetector } from '../../../examples/retinanet/train.js';

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const MAIN = fileURLToPath(new URL('../../../examples/retinanet/main.ts', import.meta.url));

/** Every parameter and buffer (batch-norm statistics included) as its bytes, by name. */
function weightBytes(state: Record<string, Tensor>): Record<string, Uint8Array> {
  return Object.fromEntries(Object.entries(state).map(([k, t]) => {
    const a = t.toTypedArray() as ArrayBufferView;
    return [k, new Uint8Array(a.buffer, a.byteOffset, a.byteLength).slice()];
  }));
}

describe('examples/retinanet checkpoints, --resume and infer', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-retinanet-resume-'));
  let threads = 0;
  beforeAll(() => { threads = cpuThreads(); cpuThreads(PRESETS.fast().threads ?? threads); });
  afterAll(() => {
    cpuThreads(threads);
    rmSync(dir, { recursive: true, force: true });
  });
  const settings = (workers: number): Settings => ({ ...PRESETS.fast(), steps: 9, workers });

  for (const [variant, workers, stop] of [[FOCAL, 0, 4], [CROSS_ENTROPY, 2, 7]] as const) {
    it(`a ${variant.name} run stopped after ${stop} of 9 steps and resumed ends with the uninterrupted run's weights, bit for bit (${workers} batch workers)`, () => {
      const s = settings(workers);
      const whole = trainDetector(variant, 0, s, { checkpoint: join(dir, `whole-${variant.name}.safetensors`) });
      const path = join(dir, `stopped-${variant.name}.safetensors`);
      const first = trainDetector(variant, 0, s, { checkpoint: path, stopAfter: stop, checkpointEvery: 2 });
      expect(first.log.classification).toHaveLength(stop);
      disposeDetector(first.model);
      const resumed = trainDetector(variant, 0, s, { checkpoint: path, resume: true });
      expect(resumed.log.resumedFrom).toBe(stop);
      expect(resumed.log.classification).toEqual(whole.log.classification);
      expect(resumed.log.box).toEqual(whole.log.box);
      const want = weightBytes(whole.model.stateDict()), got = weightBytes(resumed.model.stateDict());
      expect(Object.keys(got)).toEqual(Object.keys(want));
      expect(Object.keys(want).some((k) => k.endsWith('runningMean'))).toBe(true);
      for (const k of Object.keys(want)) expect(got[k], k).toEqual(want[k]);
      // a finished run's checkpoint resumes to the same model without training
      const again = trainDetector(variant, 0, s, { checkpoint: path, resume: true });
      expect(again.log.stepMs.length).toBe(resumed.log.stepMs.length);
      expect(weightBytes(again.model.stateDict())).toEqual(want);
      for (const m of [whole.model, resumed.model, again.model]) disposeDetector(m);
    }, 120_000);
  }

  /** A test image of the task as a PNG file, and its objects. */
  async function testPng(path: string): Promise<ReturnType<typeof makeScene>> {
    const S = 64, scene = makeScene(2, 0, PRESETS.fast().scenes), rgb = Buffer.alloc(S * S * 3);
    for (let p = 0; p < S * S; p++) for (let c = 0; c < 3; c++) rgb[3 * p + c] = Math.round(255 * scene.pixels[c * S * S + p]);
    await sharp(rgb, { raw: { width: S, height: S, channels: 3 } }).png().toFile(path);
    return scene;
  }

  it('infer reads a PNG through readImage, detects with a checkpoint and writes the image with its detections drawn', async () => {
    const ckpt = join(dir, 'whole-focal.safetensors');
    if (!existsSync(ckpt)) {
      const { model } = trainDetector(FOCAL, 0, settings(0), { checkpoint: ckpt });
      disposeDetector(model);
    }
    const image = join(dir, 'in.png'), out = join(dir, 'out.png');
    await testPng(image);
    const { detections, classNames } = await infer({ checkpoint: ckpt, image, out, minScore: 0, device: 'cpu' });
    // the checkpoint's classes: those its preset draws, one model output each
    expect(classNames).toEqual(classNamesOf(PRESETS.fast().scenes));
    expect(detections.length).toBeGreaterThan(0);
    expect(detections.length).toBeLessThanOrEqual(PRESETS.fast().model.maxDetections);
    for (const d of detections) {
      expect(d.label >= 0 && d.label < classNames.length && d.score > PRESETS.fast().model.scoreThreshold && d.score <= 1).toBe(true);
      expect(d.box[0] >= 0 && d.box[1] >= 0 && d.box[2] <= 64 && d.box[3] <= 64 && d.box[0] <= d.box[2] && d.box[1] <= d.box[3]).toBe(true);
    }
    expect([...readFileSync(out).subarray(0, 8)]).toEqual(PNG_SIGNATURE);
    const meta = await sharp(out).metadata();
    expect([meta.width, meta.height]).toEqual([64, 64]);         // the image at its own size
  }, 120_000);

  it('main.ts infer runs from the command line, and says what is missing', async () => {
    const ckpt = join(dir, 'whole-focal.safetensors');
    expect(existsSync(ckpt)).toBe(true);
    const image = join(dir, 'cli.png'), out = join(dir, 'cli-out.png');
    await testPng(image);
    const node = (args: string[]) => spawnSync(process.execPath, ['--conditions=@kiln/source', '--import', 'tsx', MAIN, 'infer', ...args], { encoding: 'utf8', timeout: 60_000 });
    const ok = node(['--checkpoint', ckpt, '--image', image, '--out', out, '--score', '0.05']);
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/detection\(s\) with score >= 0.05 .*; wrote /);
    expect([...readFileSync(out).subarray(0, 8)]).toEqual(PNG_SIGNATURE);
    const missing = node(['--image', image, '--out', out]);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toContain('missing --checkpoint');
  }, 120_000);
});
