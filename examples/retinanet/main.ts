/**
 * Why focal loss works, in our own numbers: trains a small RetinaNet on a synthetic detection
 * task with focal loss, with cross-entropy and with alpha-balanced cross-entropy, and compares
 * their AP on held-out images.
 *
 *   npm start                                   # the default settings on the best device found
 *   node --conditions=@kiln/source --import tsx examples/retinanet/main.ts --device cuda
 *   ... main.ts --fast                          # tiny settings (seconds)
 *   ... main.ts --sweep                         # also gamma in {0, 0.5, 1, 2, 5} (paper, Table 1b)
 *   ... main.ts --help
 */
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { cpuThreads, device as parseDevice } from '@kiln/tensor';
import { cuda } from '@kiln/cuda';
import { PRESETS, type Settings } from './config.js';
import { NUM_CLASSES } from './data.js';
import { makeAnchors } from './anchors.js';
import { runExperiment } from './experiment.js';
import { progressBar } from './progress.js';
import { describeImbalance, describeSettings, resultsTable } from './report.js';
import { joinJob, outDirOf, relaunchAsRanks, withoutNproc } from './data-parallel.js';
import { destroyProcessGroup } from '@kiln/distributed';

const HELP = `Usage: main.ts [options]
  --device <cpu|cuda|cuda:N|auto>  where to train (default auto: cuda when @kiln/cuda finds a GPU)
  --fast                           tiny settings, a few seconds (the CI smoke test)
  --preset <fast|cpu|cuda>         the settings to start from (default: cuda on a GPU, cpu otherwise)
  --sweep                          also train gamma in {0, 0.5, 1, 2, 5}, alpha as in the paper's Table 1b
  --out <dir>                      where pictures and results.json go (default out/retinanet)
  --steps <n> --batch <n> --lr <x> --width <n> --test-images <n>   override the preset
  --threads <n>                    CPU threads of the native kernels (default: one per core)
  --amp <bf16|fp16>                mixed precision: autocast (bfloat16, or float16 with a GradScaler)
  --workers <n>                    threads making training batches ahead (default: 0 on cpu, min(4, cores - 1) on cuda)
  --seed <n>                       seed of the initial weights (default 0)
  --data-seed <n>                  seed of the training images (default 1; test images use n + 1)
  --nproc <n>                      train data-parallel on n processes (kiln-run; one GPU each on CUDA)
  --help`;

function parse(): { settings: Settings; sweep: boolean; out: string; nproc: number } {
  const { values: v } = parseArgs({
    options: {
      device: { type: 'string', default: 'auto' }, fast: { type: 'boolean', default: false }, preset: { type: 'string' },
      sweep: { type: 'boolean', default: false }, out: { type: 'string', default: 'out/retinanet' },
      steps: { type: 'string' }, batch: { type: 'string' }, lr: { type: 'string' }, width: { type: 'string' },
      'test-images': { type: 'string' }, threads: { type: 'string' }, amp: { type: 'string' }, workers: { type: 'string' }, seed: { type: 'string' }, 'data-seed': { type: 'string' }, nproc: { type: 'string' }, help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (v.help) {
    console.log(HELP);
    process.exit(0);
  }
  let dev = v.device;
  if (dev === 'auto') dev = cuda.isAvailable() ? 'cuda' : 'cpu';
  if (parseDevice(dev).type === 'cuda' && !cuda.isAvailable()) {
    throw new Error(`--device ${dev}: CUDA is not available here: ${cuda.unavailableReason() ?? 'unknown reason'}`);
  }
  const presetName = v.fast ? 'fast' : (v.preset ?? (dev.startsWith('cuda') ? 'cuda' : 'cpu'));
  if (!(presetName in PRESETS)) throw new Error(`--preset: expected fast, cpu or cuda, got ${presetName}`);
  const settings = PRESETS[presetName as keyof typeof PRESETS]();
  settings.device = dev;
  const int = (name: string, s: string | undefined, min: number): number | undefined => {
    if (s === undefined) return undefined;
    const n = Number(s);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name}: expected an integer >= ${min}, got ${s}`);
    return n;
  };
  settings.steps = int('steps', v.steps, 1) ?? settings.steps;
  settings.warmupSteps = Math.min(settings.warmupSteps, settings.steps - 1) || 1;
  settings.batchSize = int('batch', v.batch, 1) ?? settings.batchSize;
  settings.model.width = int('width', v.width, 2) ?? settings.model.width;
  settings.testImages = int('test-images', v['test-images'], 1) ?? settings.testImages;
  settings.seed = int('seed', v.seed, 0) ?? settings.seed;
  settings.threads = int('threads', v.threads, 1) ?? settings.threads;
  settings.workers = int('workers', v.workers, 0) ?? settings.workers;
  const dataSeed = int('data-seed', v['data-seed'], 0);
  if (dataSeed !== undefined) [settings.trainDataSeed, settings.testDataSeed] = [dataSeed, dataSeed + 1];
  if (v.lr !== undefined) {
    const lr = Number(v.lr);
    if (!(lr > 0)) throw new Error(`--lr: expected a positive number, got ${v.lr}`);
    settings.lr = lr;
  }
  if (v.amp !== undefined) {
    if (v.amp !== 'bf16' && v.amp !== 'fp16') throw new Error(`--amp: expected bf16 or fp16, got ${v.amp}`);
    settings.amp = v.amp;
  }
  const nproc = int('nproc', v.nproc, 1) ?? 1;
  return { settings, sweep: v.sweep, out: v.out, nproc };
}

/** The parsed command line, or a message and exit status 2 when it is wrong. */
function parseOrExit(): ReturnType<typeof parse> {
  try {
    return parse();
  } catch (e) {
    console.error(`${(e as Error).message}\n(--help lists the options)`);
    process.exit(2);
  }
}

async function main(): Promise<void> {
  const { settings: s, sweep, out: outArg, nproc } = parseOrExit();
  if (nproc > 1 && process.env.WORLD_SIZE === undefined) await relaunchAsRanks(nproc, withoutNproc(process.argv.slice(2)));
  const job = joinJob(s.device, s.batchSize);
  if (job !== null) s.device = job.device;
  const out = outDirOf(outArg);
  if (s.threads !== null) cpuThreads(s.threads);
  const load = () => loadavg().map((x) => x.toFixed(2)).join(', ');
  const machine = s.device.startsWith('cuda')
    ? `GPU ${cuda.deviceProperties(s.device).name}`
    : `CPU: ${cpuThreads()} thread(s) on ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'})`;
  console.log(`RetinaNet on synthetic shapes: focal loss against cross-entropy\n${machine}; load average ${load()} (1, 5, 15 min)`);
  console.log(describeSettings(s));
  const started = performance.now();
  let imbalanceShown = false;
  const result = await runExperiment({
    settings: s, sweep, outDir: out, progress: job === null || job.rank === 0 ? progressBar : undefined,
    onResult: (r) => {
      if (!imbalanceShown) {
        console.log(describeImbalance(r.log.anchors, makeAnchors(s.scenes.imageSize, s.anchors).count, NUM_CLASSES));
        imbalanceShown = true;
      }
      console.log(`${r.variant.name}: mAP@0.5 ${r.ap.mean.toFixed(3)} after ${r.log.seconds.toFixed(1)} s`);
    },
  });
  console.log(`\nResults on ${s.testImages} held-out images (AP at IoU 0.5; losses: mean of the last 10% of steps, per positive anchor)`);
  console.log(resultsTable(result.comparison));
  if (result.sweep.length > 0) {
    console.log('\nGamma sweep (alpha as in the paper\'s Table 1b)');
    console.log(resultsTable(result.sweep));
  }
  const [focal, ce] = result.comparison;
  const verdict = focal.ap.mean > ce.ap.mean ? 'beats' : 'does NOT beat';
  const caveat = s.preset === 'fast' ? ' (fast settings: far too short to mean anything)' : '';
  console.log(`\nfocal loss ${verdict} cross-entropy: mAP@0.5 ${focal.ap.mean.toFixed(3)} vs ${ce.ap.mean.toFixed(3)}${caveat}`);
  console.log(`total ${((performance.now() - started) / 1000).toFixed(1)} s; load average now ${load()}`);
  console.log(`wrote:\n  ${result.files.join('\n  ')}`);
  if (job !== null) destroyProcessGroup();
}

await main();
