// The RetinaNet example's training batches (examples/retinanet/batch-pool.ts): the time to make one
// batch on the main thread (median of --reps), then how many batches per second a BatchPool
// delivers with each number of --workers when the main thread only takes them (the most it can feed
// a training loop), median of --runs runs of --batches batches each, after the pool's start-up.
//
//   node --conditions=@kiln/source --import tsx tools/bench/batch-pool.ts [--preset cuda] [--workers 1,2,3]
//        [--reps 20] [--batches 40] [--runs 3]
import { availableParallelism, loadavg } from 'node:os';
import { PRESETS } from '../../examples/retinanet/config.js';
import { prepareBatch } from '../../examples/retinanet/batches.js';
import { BatchPool } from '../../examples/retinanet/batch-pool.js';
import { batchSpecOf } from '../../examples/retinanet/train.js';
import { parseOptions } from './cli-options.js';

const args = parseOptions(process.argv.slice(2), {
  preset: { type: 'string', default: 'cuda' },
  workers: { type: 'numbers', default: '1,2,3' },
  reps: { type: 'number', default: '20' },
  batches: { type: 'number', default: '40' },
  runs: { type: 'number', default: '3' },
});
if (!(args.preset in PRESETS)) throw new Error(`--preset: expected fast, cpu or cuda, got ${args.preset}`);
const settings = PRESETS[args.preset as keyof typeof PRESETS]();
const spec = batchSpecOf(settings);
const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];

prepareBatch(spec, 0);                       // warm-up: the JIT compiles the loops
const prepareMs: number[] = [];
for (let r = 0; r < args.reps; r++) {
  const t0 = performance.now();
  prepareBatch(spec, r + 1);
  prepareMs.push(performance.now() - t0);
}
const mainMs = median(prepareMs);

const rows: string[][] = [['main thread (0)', mainMs.toFixed(1), (1000 / mainMs).toFixed(1), '1.00']];
for (const workers of args.workers) {
  const rates: number[] = [];
  for (let run = 0; run < args.runs; run++) {
    const pool = new BatchPool(spec, { workers, ahead: 2 });
    try {
      pool.take(0);                                   // start-up (threads, tsx, the JIT) left out
      const t0 = performance.now();
      for (let t = 1; t <= args.batches; t++) pool.take(t);
      rates.push((args.batches * 1000) / (performance.now() - t0));
    } finally {
      await pool.close();
    }
  }
  const rate = median(rates);
  rows.push([`${workers} worker(s)`, (1000 / rate).toFixed(1), rate.toFixed(1), (rate * mainMs / 1000).toFixed(2)]);
}

console.log(`preset ${settings.preset}: batch ${settings.batchSize} x ${settings.scenes.imageSize}x${settings.scenes.imageSize} RGB with boxes and labels; `
  + `${availableParallelism()} cores, load average ${loadavg().map((x) => x.toFixed(2)).join(', ')}`);
console.log(`one batch on the main thread: median of ${args.reps}; pools: median of ${args.runs} runs of ${args.batches} batches\n`);
const widths = [16, 12, 10, 10];
const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
console.log(line(['made by', 'ms / batch', 'batches/s', 'speed-up']));
console.log(widths.map((w) => '-'.repeat(w)).join('  '));
for (const r of rows) console.log(line(r));
