/**
 * `main.ts replot --results FILE[,FILE...] --out DIR`: the charts of a finished run drawn again from
 * its results.json (the losses of every step are in it), for instance on a machine with fonts when
 * the run's own machine had none (its text then shows as empty boxes). Writes loss-curves.png (the
 * first seed of each loss, as the run does), loss-curves-seeds.png (every seed: how the seeds of one
 * loss differ), focal-loss-figure1.png and, for a run with the sweep, ap-vs-gamma.png and
 * sweep-loss-curves.png. The detections picture needs the trained models, so it is not redrawn.
 *
 * Several files (runs of other seeds with the same settings, e.g. one process per seed sharing a
 * GPU) are merged: each variant's runs from every file, the mean and spread recomputed; the merged
 * results.json goes to DIR and the results tables to the console, as the run prints them.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { CocoMetrics } from '@kiln/vision';
import { COMPARED, type VariantResult, spread } from './experiment.js';
import { GAMMA_SWEEP, type LossVariant } from './loss.js';
import { plotApVsGamma, plotFigure1, plotLossCurves } from './plots.js';
import { resultsTable } from './report.js';
import type { TrainLog } from './train.js';

/** The part of results.json (experiment.ts's summary) the charts and tables need. */
interface SavedRun {
  seed: number; classificationLoss: number[]; boxLoss: number[];
  metrics?: CocoMetrics; apPerClass?: Record<string, number>; trainSeconds?: number; meanStepMs?: number;
}
interface SavedVariant { variant: LossVariant; ap: { mean: number; sd?: number }; ap50?: { mean: number; sd: number }; runs: SavedRun[] }
interface SavedResults { settings?: { seeds?: number[]; workers?: number | null }; comparison: SavedVariant[]; sweep: SavedVariant[] }

/** A training log as the charts read it, from a saved run. */
function logOf(run: SavedRun, variant: LossVariant): TrainLog {
  return {
    variant, seed: run.seed, classification: run.classificationLoss, box: run.boxLoss,
    stepMs: [], allocated: [], seconds: 0, resumedFrom: 0,
  };
}

/** A saved variant as experiment.ts's VariantResult (what the results table takes); needs the runs' metrics. */
function variantResultOf(v: SavedVariant): VariantResult {
  return {
    variant: v.variant,
    runs: v.runs.map((run) => ({
      variant: v.variant, seed: run.seed, detections: [], checkpoint: '',
      log: { ...logOf(run, v.variant), seconds: run.trainSeconds ?? 0, stepMs: [run.meanStepMs ?? 0] },
      scores: { metrics: run.metrics!, apPerClass: Object.values(run.apPerClass ?? {}), text: '' },
    })),
  };
}

/** The variant with its AP and AP50 mean and spread over its runs (as it is where a run lacks its metrics). */
function withSpreads(v: SavedVariant): SavedVariant {
  if (v.runs.some((run) => run.metrics === undefined)) return v;
  const vr = variantResultOf(v);
  return { ...v, ap: spread(vr, 'ap'), ap50: spread(vr, 'ap50') };
}

/**
 * Several runs' results as one: each variant's runs from every file (in file order), the means and
 * spreads recomputed. The same variant and seed twice is an error (the files overlap).
 */
export function mergeResults(files: readonly string[], all: readonly SavedResults[]): SavedResults {
  const mergeList = (key: 'comparison' | 'sweep'): SavedVariant[] => {
    const byName = new Map<string, SavedVariant>();
    all.forEach((r, i) => {
      for (const v of r[key]) {
        const into = byName.get(v.variant.name) ?? { variant: v.variant, ap: { mean: 0 }, runs: [] };
        if (into.variant.gamma !== v.variant.gamma || into.variant.alpha !== v.variant.alpha) throw new Error(`replot: ${files[i]}'s ${v.variant.name} has other gamma and alpha than the earlier files'`);
        for (const run of v.runs) {
          if (into.runs.some((x) => x.seed === run.seed)) throw new Error(`replot: ${v.variant.name} seed ${run.seed} is in more than one of ${files.join(', ')}`);
          into.runs.push(run);
        }
        byName.set(v.variant.name, into);
      }
    });
    return [...byName.values()].map(withSpreads);
  };
  // the runs must share their settings but for the seeds and the batch threads (which change no batch)
  // (keys sorted: an option given on the command line lands elsewhere in the object than the preset's)
  const canonical = (v: unknown): unknown => (v !== null && typeof v === 'object' && !Array.isArray(v)
    ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b)).map(([k, x]) => [k, canonical(x)]))
    : v);
  const shared = (r: SavedResults) => JSON.stringify(canonical({ ...r.settings, seeds: undefined, workers: undefined }));
  all.forEach((r, i) => {
    if (shared(r) !== shared(all[0])) throw new Error(`replot: ${files[i]} was run with other settings than ${files[0]} (beyond seeds and workers): not merged`);
  });
  const seeds = [...new Set(all.flatMap((r) => r.settings?.seeds ?? []))].sort((a, b) => a - b);
  const byOrder = (order: readonly LossVariant[]) => (a: SavedVariant, b: SavedVariant) =>
    order.findIndex((v) => v.name === a.variant.name) - order.findIndex((v) => v.name === b.variant.name);
  const comparison = mergeList('comparison').sort(byOrder(COMPARED)), sweep = mergeList('sweep');
  // as a run reuses an identical variant it trained already (focal is the sweep's gamma 2), a sweep
  // split over processes gets the seeds it lacks from the comparison's identical variant
  if (sweep.length > 0) {
    const sweepSeeds = new Set(sweep.flatMap((v) => v.runs.map((run) => run.seed)));
    for (const sv of GAMMA_SWEEP) {
      const twin = comparison.find((c) => c.variant.gamma === sv.gamma && c.variant.alpha === sv.alpha);
      if (!twin) continue;
      let into = sweep.find((v) => v.variant.name === sv.name);
      const missing = twin.runs.filter((run) => sweepSeeds.has(run.seed) && !into?.runs.some((x) => x.seed === run.seed));
      if (missing.length === 0) continue;
      if (!into) sweep.push(into = { variant: sv, ap: twin.ap, ap50: twin.ap50, runs: [] });
      into.runs.push(...missing);
      Object.assign(into, withSpreads(into));
    }
    sweep.sort(byOrder(GAMMA_SWEEP));
  }
  return { settings: { ...all[0].settings, seeds }, comparison, sweep };
}

/** Reads and checks results.json: every variant with its runs' per-step losses. */
function readResults(file: string): SavedResults {
  const r = JSON.parse(readFileSync(file, 'utf8')) as Partial<SavedResults>;
  const ok = (vs: unknown): vs is SavedVariant[] => Array.isArray(vs) && vs.every((v: SavedVariant) =>
    typeof v?.variant?.name === 'string' && typeof v.variant.gamma === 'number' && typeof v.variant.alpha === 'number' && typeof v.ap?.mean === 'number' &&
    Array.isArray(v.runs) && v.runs.length > 0 && v.runs.every((run) => Array.isArray(run.classificationLoss) && Array.isArray(run.boxLoss)));
  if (!ok(r.comparison) || !ok(r.sweep ?? []) || r.comparison.length + (r.sweep ?? []).length === 0) {
    throw new Error(`replot: ${file} is not the results.json of a run (expected comparison and sweep lists of variants with per-step losses)`);
  }
  return { settings: r.settings, comparison: r.comparison, sweep: r.sweep ?? [] };
}

export async function replotCommand(argv: string[]): Promise<void> {
  const usage = 'replot: expected --results <results.json> and --out <dir>';
  let v: { results?: string; out?: string; help?: boolean };
  try {
    ({ values: v } = parseArgs({ args: argv, options: { results: { type: 'string' }, out: { type: 'string' }, help: { type: 'boolean' } }, strict: true }));
  } catch (e) {
    console.error(`${usage}: ${(e as Error).message}`);
    process.exit(2);
  }
  if (v.help) {
    console.log('Usage: main.ts replot --results <results.json>[,<results.json>...] --out <dir>   (a run\'s charts drawn again from its results.json; several runs\' merged)');
    return;
  }
  if (v.results === undefined || v.out === undefined) {
    console.error(`${usage}\n(--help lists the options)`);
    process.exit(2);
  }
  const files = v.results.split(',').filter((f) => f !== '');
  let results: SavedResults;
  try {
    const all = files.map(readResults);
    results = all.length === 1 ? all[0] : mergeResults(files, all);
  } catch (e) {
    console.error((e as Error).message);
    process.exit(2);
  }
  mkdirSync(v.out, { recursive: true });
  const written: string[] = [];
  const out = (name: string) => {
    written.push(join(v.out!, name));
    return written.at(-1)!;
  };
  if (files.length > 1) writeFileSync(out('results.json'), JSON.stringify(results, null, 1));
  const withMetrics = (vs: SavedVariant[]) => vs.length > 0 && vs.every((x) => x.runs.every((run) => run.metrics !== undefined));
  if (withMetrics(results.comparison)) {
    console.log(resultsTable(results.comparison.map(variantResultOf)));
    for (const x of results.comparison) console.log(`${x.variant.name}: AP per seed ${x.runs.map((run) => `${run.seed}: ${run.metrics!.ap.toFixed(3)}`).join(', ')}`);
  }
  if (withMetrics(results.sweep)) console.log(`\nGamma sweep (alpha as in the paper's Table 1b)\n${resultsTable(results.sweep.map(variantResultOf))}`);
  if (results.comparison.length > 0) {
    await plotLossCurves(results.comparison.map((r) => logOf(r.runs[0], r.variant)), out('loss-curves.png'));
    await plotLossCurves(results.comparison.flatMap((r) => r.runs.map((run) => logOf(run, r.variant))), out('loss-curves-seeds.png'), { bySeed: true });
  }
  await plotFigure1(out('focal-loss-figure1.png'));
  if (results.sweep.length > 0) {
    await plotApVsGamma(results.sweep.map((r) => ({ gamma: r.variant.gamma, alpha: r.variant.alpha, ap: r.ap.mean })), out('ap-vs-gamma.png'));
    await plotLossCurves(results.sweep.map((r) => logOf(r.runs[0], r.variant)), out('sweep-loss-curves.png'));
  }
  console.log(`wrote:\n  ${written.join('\n  ')}`);
}
