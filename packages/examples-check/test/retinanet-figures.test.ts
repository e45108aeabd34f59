/**
 * The RetinaNet example's pictures (examples/retinanet/plots.ts and figures/): charts carry their
 * titles as real text, detections are drawn where they are at the image's size, bad input is a
 * typed error, the Figure 1 data leaves no tensor behind, and a machine without the preferred
 * fonts still writes the pictures.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { ShapeError, ValueError, memoryStats } from '@kiln/tensor';
import { settleMemoryBeforeEach } from '@kiln/tensor/testing';
import { type DrawnImage, drawDetectionsOnImage, plotDetections, plotFigure1 } from '../../../examples/retinanet/plots.js';
import { apVsGammaSpec } from '../../../examples/retinanet/figures/ap-vs-gamma.js';
import { figure1Spec } from '../../../examples/retinanet/figures/figure1.js';
import { lossCurvesSpec } from '../../../examples/retinanet/figures/loss-curves.js';
import { PALETTE } from '../../../examples/retinanet/figures/style.js';
import { vegaLiteToSvg } from '../../../examples/retinanet/figures/vega-svg.js';
import type { TrainLog } from '../../../examples/retinanet/train.js';
import { mergeResults } from '../../../examples/retinanet/replot.js';

settleMemoryBeforeEach();

const out = mkdtempSync(join(tmpdir(), 'kiln-retinanet-figures-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

/** The lines of text of an SVG's <text> elements (a multi-line label is one <tspan> per line), entities decoded. */
const texts = (svg: string) => [...svg.matchAll(/<text[^>]*>(.*?)<\/text>/gs)]
  .flatMap((m) => (m[1].includes('<tspan') ? [...m[1].matchAll(/<tspan[^>]*>([^<]*)<\/tspan>/g)].map((t) => t[1]) : [m[1]]))
  .map((t) => t.replace(/&#(\d+);/g, (_, c: string) => String.fromCharCode(Number(c))).replace(/&amp;/g, '&'));

const log = (name: string, scale: number): TrainLog => ({
  variant: { name, gamma: 2, alpha: 0.25 },
  classification: Array.from({ length: 50 }, (_, i) => scale * Math.exp(-i / 20)),
  box: Array.from({ length: 50 }, (_, i) => 0.5 * Math.exp(-i / 30)),
} as unknown as TrainLog);

const classNames = ['rect', 'cross', 'ellipse'] as const;
const hex = (c: string) => [1, 3, 5].map((i) => parseInt(c.slice(i, i + 2), 16));

/** A flat gray image, planar, `channels` × height × width. */
const grayImage = (channels: 1 | 3, height: number, width: number, truth: DrawnImage['truth'] = []): DrawnImage =>
  ({ pixels: new Float32Array(channels * height * width).fill(0.5), channels, height, width, truth });

describe('the example\'s charts (Vega-Lite rendered by Vega)', () => {
  it('have their titles, axis titles and legend as text elements', async () => {
    const loss = texts(await vegaLiteToSvg(lossCurvesSpec([log('focal', 1), log('ce', 10)])));
    for (const t of ['Classification loss', 'Box loss (smooth L1)', 'loss per positive anchor', 'training step (mean of 2)', 'focal', 'ce']) expect(loss).toContain(t);
    const fig1 = texts(await vegaLiteToSvg(figure1Spec()));
    for (const t of ['probability of the ground-truth class', 'loss', 'well-classified examples', 'γ = 0', 'γ = 5']) expect(fig1).toContain(t);
    const ap = texts(await vegaLiteToSvg(apVsGammaSpec([{ gamma: 0, alpha: 0.75, ap: 0.517 }, { gamma: 2, alpha: 0.25, ap: 0.5 }])));
    for (const t of ['AP (COCO, IoU 0.50:0.95)', '0.517', '0.500', 'α 0.75']) expect(ap).toContain(t);
  }, 60_000);

  it('bySeed: the seeds of a loss share its colour and differ by dashes, with a legend for each', async () => {
    const seeded = (name: string, seed: number, scale: number) => ({ ...log(name, scale), seed });
    const spec = lossCurvesSpec([seeded('focal', 0, 1), seeded('focal', 1, 2), seeded('ce', 0, 10)], { bySeed: true });
    const loss = texts(await vegaLiteToSvg(spec));
    for (const t of ['focal', 'ce', 'weights', 'seed 0', 'seed 1']) expect(loss).toContain(t);
    // one colour per loss (not per line): the domain lists each loss once
    expect(JSON.stringify(spec)).toContain('"domain":["focal","ce"]');
  }, 60_000);

  it('main.ts replot draws a run\'s charts again from its results.json, and refuses a file that is not one', () => {
    const root = resolve(import.meta.dirname, '../../..');
    const main = join(root, 'examples/retinanet/main.ts');
    const run = (seed: number, scale: number) => ({ seed, classificationLoss: log('x', scale).classification, boxLoss: log('x', scale).box });
    const variant = (name: string, gamma: number) => ({ variant: { name, gamma, alpha: 0.25 }, ap: { mean: 0.4 + gamma / 10, sd: 0 }, runs: [run(0, 1), run(1, 2)] });
    const results = join(out, 'results.json'), dir = join(out, 'replot');
    writeFileSync(results, JSON.stringify({ settings: {}, comparison: [variant('focal', 2), variant('ce', 0)], sweep: [variant('fl-g0', 0), variant('fl-g2', 2)] }));
    const node = (args: string[]) => spawnSync(process.execPath, ['--conditions=@kiln/source', '--import', 'tsx', main, 'replot', ...args], { cwd: root, encoding: 'utf8', timeout: 60_000 });
    const ok = node(['--results', results, '--out', dir]);
    expect(ok.status, ok.stderr).toBe(0);
    for (const f of ['loss-curves.png', 'loss-curves-seeds.png', 'focal-loss-figure1.png', 'ap-vs-gamma.png', 'sweep-loss-curves.png']) {
      expect([...readFileSync(join(dir, f)).subarray(0, 8)], f).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    }
    writeFileSync(join(out, 'not-results.json'), JSON.stringify({ comparison: [{ variant: { name: 'focal' }, runs: [] }] }));
    const bad = node(['--results', join(out, 'not-results.json'), '--out', dir]);
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toContain('is not the results.json of a run');
    const missing = node(['--out', dir]);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toContain('replot: expected --results <results.json> and --out <dir>');
  }, 120_000);

  it('replot merges runs of other seeds (one process per seed): runs joined per variant, AP mean and spread recomputed; a seed twice is refused', () => {
    const metrics = (ap: number) => ({ ap, ap50: ap + 0.2, ap75: ap, apSmall: ap, apMedium: ap, apLarge: -1, ar1: ap, ar10: ap, ar100: ap, arSmall: ap, arMedium: ap, arLarge: -1 });
    const run = (seed: number, ap: number) => ({ seed, classificationLoss: [1, 0.5], boxLoss: [0.4, 0.3], metrics: metrics(ap), apPerClass: { a: ap }, trainSeconds: 10, meanStepMs: 40 });
    const file = (seed: number, apFocal: number, apCe: number) => ({
      settings: { seeds: [seed] },
      comparison: [
        { variant: { name: 'focal', gamma: 2, alpha: 0.25 }, ap: { mean: apFocal, sd: 0 }, runs: [run(seed, apFocal)] },
        { variant: { name: 'ce', gamma: 0, alpha: -1 }, ap: { mean: apCe, sd: 0 }, runs: [run(seed, apCe)] },
      ],
      sweep: [],
    });
    const merged = mergeResults(['a', 'b', 'c'], [file(0, 0.5, 0.3), file(1, 0.7, 0.4), file(2, 0.6, 0.2)]);
    expect(merged.settings?.seeds).toEqual([0, 1, 2]);
    expect(merged.comparison.map((v) => v.variant.name)).toEqual(['focal', 'ce']);
    expect(merged.comparison[0].runs.map((r) => r.seed)).toEqual([0, 1, 2]);
    expect(merged.comparison[0].ap.mean).toBeCloseTo(0.6, 12);
    expect(merged.comparison[0].ap.sd).toBeCloseTo(0.1, 12);               // sample standard deviation of 0.5, 0.7, 0.6
    expect(merged.comparison[1].ap50!.mean).toBeCloseTo(0.5, 12);
    expect(() => mergeResults(['a', 'b'], [file(0, 0.5, 0.3), file(0, 0.6, 0.3)])).toThrow('focal seed 0 is in more than one of a, b');
    // a share of the sweep alone (seed 0): its gamma 2 comes from focal's seed-0 run, in the sweep's order
    const sweepShare = { settings: { seeds: [0] }, comparison: [], sweep: [{ variant: { name: 'fl-g5', gamma: 5, alpha: 0.25 }, ap: { mean: 0.2, sd: 0 }, runs: [run(0, 0.2)] }] };
    const withSweep = mergeResults(['a', 'b', 'c'], [file(0, 0.5, 0.3), file(1, 0.7, 0.4), sweepShare]);
    expect(withSweep.sweep.map((v) => v.variant.name)).toEqual(['fl-g2', 'fl-g5']);
    expect(withSweep.sweep[0].runs.map((r) => [r.seed, r.metrics!.ap])).toEqual([[0, 0.5]]);
    // no focal run of the sweep's seed: no empty gamma-2 entry; the comparison in its usual order
    const noFill = mergeResults(['b', 'c', 'a'], [file(1, 0.7, 0.4), sweepShare, file(2, 0.6, 0.2)]);
    expect(noFill.sweep.map((v) => v.variant.name)).toEqual(['fl-g5']);
    expect(noFill.settings?.seeds).toEqual([0, 1, 2]);
    const ceFirst = { ...file(3, 0.5, 0.3), comparison: [...file(3, 0.5, 0.3).comparison].reverse() };
    expect(mergeResults(['a', 'b'], [ceFirst, file(4, 0.6, 0.2)]).comparison.map((v) => v.variant.name)).toEqual(['focal', 'ce']);
    // runs of other settings are not merged
    const otherSteps = { ...file(5, 0.5, 0.3), settings: { seeds: [5], steps: 99 } };
    expect(() => mergeResults(['a', 'b'], [file(0, 0.5, 0.3), otherSteps])).toThrow('b was run with other settings than a');
    // the same settings with their keys in another order (an option given on the command line) merge
    const keyed = (seed: number, model: object) => ({ ...file(seed, 0.5, 0.3), settings: { seeds: [seed], workers: seed, model } });
    expect(mergeResults(['a', 'b'], [keyed(0, { a: 1, b: 2 }), keyed(1, { b: 2, a: 1 })]).settings?.seeds).toEqual([0, 1]);
  });

  it('plotFigure1 writes a PNG and leaves no tensor allocated', async () => {
    const before = memoryStats('cpu').allocated;
    const path = join(out, 'figure1.png');
    await plotFigure1(path);
    expect(memoryStats('cpu').allocated).toBe(before);
    const meta = await sharp(path).metadata();
    expect(meta.format).toBe('png');
    expect(meta.width).toBeGreaterThan(500);
  }, 60_000);

  it('are still written on a machine without the preferred fonts (fontconfig with no font at all)', () => {
    const root = resolve(import.meta.dirname, '../../..');
    const conf = join(out, 'fonts.conf'), png = join(out, 'no-fonts.png');
    writeFileSync(conf, `<?xml version="1.0"?>\n<fontconfig><cachedir>${join(out, 'fc-cache')}</cachedir></fontconfig>\n`);
    const script = `const { plotApVsGamma } = await import(${JSON.stringify(join(root, 'examples/retinanet/plots.ts'))});
await plotApVsGamma([{ gamma: 0, alpha: 0.75, ap: 0.5 }, { gamma: 2, alpha: 0.25, ap: 0.6 }], ${JSON.stringify(png)});`;
    execFileSync(process.execPath, ['--conditions=@kiln/source', '--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: root, env: { ...process.env, FONTCONFIG_FILE: conf }, stdio: 'pipe',
    });
    expect([...readFileSync(png).subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  }, 60_000);
});

describe('detections drawn on images', () => {
  it('drawDetectionsOnImage returns a PNG of the image\'s size with the boxes where they are', async () => {
    // box edges on pixel centres (x.5): a 1-pixel stroke then covers whole pixels; labels sit above the boxes
    const image = grayImage(3, 60, 80, [{ box: [40.5, 45.5, 50.5, 55.5], label: 2 }]);
    const low = { box: [55.5, 30.5, 70.5, 50.5] as const, label: 1, score: 0.1 };
    const png = await drawDetectionsOnImage(image, [{ box: [5.5, 15.5, 30.5, 40.5], label: 0, score: 0.9 }, low], classNames);
    const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height]).toEqual([80, 60]);
    const pixel = (raw: Buffer, x: number, y: number) => [...raw.subarray((y * 80 + x) * info.channels, (y * 80 + x) * info.channels + 3)];
    const near = (got: number[], want: number[]) => got.every((v, k) => Math.abs(v - want[k]) <= 12);
    const gray = [128, 128, 128];
    expect(near(pixel(data, 5, 30), hex(PALETTE[0]))).toBe(true); // the left edge of the detection, in class 0's colour
    expect(near(pixel(data, 15, 30), gray)).toBe(true); // the image shows inside the box
    expect(near(pixel(data, 70, 40), gray)).toBe(true); // a detection below minScore 0.3 is not drawn
    // with minScore 0.05 it is
    const all = await sharp(await drawDetectionsOnImage(image, [low], classNames, 0.05)).raw().toBuffer();
    expect(near(pixel(all, 70, 40), hex(PALETTE[1]))).toBe(true);
  });

  it('draws gray images (1 channel) at their size, with no detections too', async () => {
    const meta = await sharp(await drawDetectionsOnImage(grayImage(1, 32, 32), [], classNames)).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['png', 32, 32]);
  });

  it('rejects an image whose pixels do not match its size, and labels outside the class names', async () => {
    const bad = { ...grayImage(3, 4, 4), pixels: new Float32Array(40) };
    await expect(drawDetectionsOnImage(bad, [], classNames)).rejects.toThrow(ShapeError);
    await expect(drawDetectionsOnImage(bad, [], classNames)).rejects.toMatchObject({ op: 'drawDetectionsOnImage', argument: 'image.pixels' });
    await expect(drawDetectionsOnImage(grayImage(1, 4, 4), [{ box: [0, 0, 2, 2], label: 3, score: 1 }], classNames))
      .rejects.toMatchObject({ name: 'ValueError', argument: 'detections[0].label' });
    await expect(drawDetectionsOnImage(grayImage(1, 4, 4, [{ box: [0, 0, 2, 2], label: -1 }]), [], classNames)).rejects.toThrow(ValueError);
    await expect(drawDetectionsOnImage(grayImage(1, 4, 4), [{ box: [0, Number.NaN, 2, 2], label: 0, score: 1 }], classNames))
      .rejects.toMatchObject({ name: 'ValueError', argument: 'detections[0].box' });
  });

  it('plotDetections writes the grid (a row per model, a column per image) and checks that rows match the images', async () => {
    const images = [grayImage(1, 32, 32, [{ box: [4, 4, 12, 12], label: 0 }]), grayImage(1, 32, 32)];
    const det = [[{ box: [4, 4, 12, 12] as const, label: 0, score: 0.8 }], []];
    const path = join(out, 'detections.png');
    await plotDetections([{ name: 'focal', detections: det }, { name: 'ce', detections: det }], images, classNames, path);
    const meta = await sharp(path).metadata();
    expect(meta.format).toBe('png');
    expect(meta.width).toBeGreaterThan(2 * 2 * 160); // two cells of 160 units at 2 pixels per unit
    expect(meta.height).toBeGreaterThan(2 * 2 * 160);
    // at one pixel per unit, half as wide and high
    await plotDetections([{ name: 'focal', detections: det }, { name: 'ce', detections: det }], images, classNames, path, 0.3, 1);
    const small = await sharp(path).metadata();
    expect([small.width, small.height]).toEqual([Math.ceil(meta.width / 2), Math.ceil(meta.height / 2)]);
    await expect(plotDetections([{ name: 'focal', detections: [[]] }], images, classNames, path))
      .rejects.toMatchObject({ name: 'ValueError', op: 'plotDetections', argument: 'rows[0].detections' });
    await expect(plotDetections([{ name: 'focal', detections: [[], [{ box: [0, 0, 2, 2], label: 7, score: 1 }]] }], images, classNames, path))
      .rejects.toMatchObject({ name: 'ValueError', op: 'plotDetections', argument: 'rows[0].detections[1][0].label' });
  });
});
