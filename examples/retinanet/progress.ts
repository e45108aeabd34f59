/**
 * Training progress on the terminal: a cli-progress bar with the running loss and the step rate
 * when stderr is a terminal, otherwise (a log file, CI) a plain line at every quarter.
 */
import cliProgress from 'cli-progress';
import type { StepReport } from './train.js';

export interface Progress {
  update(r: StepReport): void;
  stop(): void;
}

/** Mean of the last `n` values. */
const recentMean = (v: readonly number[], n: number) => {
  const tail = v.slice(-n);
  return tail.reduce((a, b) => a + b, 0) / Math.max(1, tail.length);
};

export function progressBar(name: string, total: number): Progress {
  const ms: number[] = [], loss: number[] = [], cls: number[] = [], box: number[] = [];
  const stats = () => ({
    name,
    loss: recentMean(loss, 20).toFixed(4),
    cls: recentMean(cls, 20).toFixed(4),
    box: recentMean(box, 20).toFixed(4),
    rate: (1000 / recentMean(ms, 20)).toFixed(2),
  });
  const record = (r: StepReport) => {
    ms.push(r.ms);
    cls.push(r.classification);
    box.push(r.box);
    loss.push(r.classification + r.box);
  };

  if (process.stderr.isTTY) {
    const bar = new cliProgress.SingleBar({
      format: '{name} |{bar}| {value}/{total} steps | loss {loss} (cls {cls}, box {box}) | {rate} steps/s | ETA {eta_formatted}',
      barsize: 24, hideCursor: true, etaBuffer: 30,
    }, cliProgress.Presets.shades_classic);
    bar.start(total, 0, { name, loss: '-', cls: '-', box: '-', rate: '-' });
    return {
      update(r) { record(r); bar.update(r.step + 1, stats()); },
      stop() { bar.stop(); },
    };
  }
  const marks = new Set([0.25, 0.5, 0.75, 1].map((f) => Math.max(1, Math.round(f * total))));
  return {
    update(r) {
      record(r);
      if (!marks.has(r.step + 1)) return;
      const s = stats();
      console.error(`${name}: step ${r.step + 1}/${total}, loss ${s.loss} (cls ${s.cls}, box ${s.box}), ${s.rate} steps/s`);
    },
    stop() {},
  };
}
