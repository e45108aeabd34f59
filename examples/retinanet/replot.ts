/**
 * `main.ts replot --results FILE --out DIR`: the charts of a finished run drawn again from its
 * results.json (the losses of every step are in it), for instance on a machine with fonts when the
 * run's own machine had none (its text then shows as empty boxes). Writes loss-curves.png (the
 * first seed of each loss, as the run does), loss-curves-seeds.png (every seed: how the seeds of one
 * loss differ), focal-loss-figure1.png and, for a run with the sweep, ap-vs-gamma.png and
 * sweep-loss-curves.png. The detections picture needs the trained models, so it is not redrawn.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { LossVariant } from './loss.js';
import { plotApVsGamma, plotFigure1, plotLossCurves } from './plots.js';
import type { TrainLog } from './train.js';

/** The part of results.json (experiment.ts's summary) the charts need. */
interface SavedRun { seed: number; classificationLoss: number[]; boxLoss: number[] }
interface SavedVariant { variant: LossVariant; ap: { mean: number }; runs: SavedRun[] }
interface SavedResults { comparison: SavedVariant[]; sweep: SavedVariant[] }

/** A training log as the charts read it, from a saved run. */
function logOf(run: SavedRun, variant: LossVariant): TrainLog {
  return {
    variant, seed: run.seed, classification: run.classificationLoss, box: run.boxLoss,
    stepMs: [], allocated: [], seconds: 0, resumedFrom: 0,
  };
}

/** Reads and checks results.json: every variant with its runs' per-step losses. */
function readResults(file: string): SavedResults {
  const r = JSON.parse(readFileSync(file, 'utf8')) as Partial<SavedResults>;
  const ok = (vs: unknown): vs is SavedVariant[] => Array.isArray(vs) && vs.every((v: SavedVariant) =>
    typeof v?.variant?.name === 'string' && typeof v.variant.gamma === 'number' && typeof v.variant.alpha === 'number' && typeof v.ap?.mean === 'number' &&
    Array.isArray(v.runs) && v.runs.length > 0 && v.runs.every((run) => Array.isArray(run.classificationLoss) && Array.isArray(run.boxLoss)));
  if (!ok(r.comparison) || r.comparison.length === 0 || !ok(r.sweep ?? [])) {
    throw new Error(`replot: ${file} is not the results.json of a run (expected comparison and sweep lists of variants with per-step losses)`);
  }
  return { comparison: r.comparison, sweep: r.sweep ?? [] };
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
    console.log('Usage: main.ts replot --results <results.json> --out <dir>   (a run\'s charts drawn again from its results.json)');
    return;
  }
  if (v.results === undefined || v.out === undefined) {
    console.error(`${usage}\n(--help lists the options)`);
    process.exit(2);
  }
  const results = readResults(v.results);
  mkdirSync(v.out, { recursive: true });
  const written: string[] = [];
  const out = (name: string) => {
    written.push(join(v.out!, name));
    return written.at(-1)!;
  };
  await plotLossCurves(results.comparison.map((r) => logOf(r.runs[0], r.variant)), out('loss-curves.png'));
  await plotLossCurves(results.comparison.flatMap((r) => r.runs.map((run) => logOf(run, r.variant))), out('loss-curves-seeds.png'), { bySeed: true });
  await plotFigure1(out('focal-loss-figure1.png'));
  if (results.sweep.length > 0) {
    await plotApVsGamma(results.sweep.map((r) => ({ gamma: r.variant.gamma, alpha: r.variant.alpha, ap: r.ap.mean })), out('ap-vs-gamma.png'));
    await plotLossCurves(results.sweep.map((r) => logOf(r.runs[0], r.variant)), out('sweep-loss-curves.png'));
  }
  console.log(`wrote:\n  ${written.join('\n  ')}`);
}
