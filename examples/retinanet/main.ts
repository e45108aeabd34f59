/**
 * Why focal loss works, in our own numbers: trains @kiln/vision's RetinaNet (a small ResNet-FPN,
 * from scratch) on a synthetic detection task with focal loss, with cross-entropy and with
 * alpha-balanced cross-entropy, and compares their COCO metrics on held-out images.
 *
 *   npm start                                   # the default settings on the best device found
 *   node --conditions=@kiln/source --import tsx examples/retinanet/main.ts --device cuda
 *   ... main.ts --fast                          # tiny settings (seconds)
 *   ... main.ts --sweep                         # also gamma in {0, 0.5, 1, 2, 5} (paper, Table 1b)
 *   ... main.ts --resume                        # continue stopped runs from their checkpoints
 *   ... main.ts infer --checkpoint out/retinanet/checkpoint-focal-seed0.safetensors --image in.png --out out.png
 *   ... main.ts --help
 */
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { cpuThreads, device as parseDevice, setFloat32MatmulPrecision } from '@kiln/tensor';
import { cuda } from '@kiln/cuda';
import { PRESETS, type Settings } from './config.js';
import { classNamesOf, makeScenes } from './data.js';
import { COMPARED, runExperiment, spread } from './experiment.js';
import { GAMMA_SWEEP, type LossVariant } from './loss.js';
import { countAnchors } from './imbalance.js';
import { infer } from './infer.js';
import { progressBar } from './progress.js';
import { describeImbalance, describeSettings, perClassTable, resultsTable } from './report.js';
import { joinJob, outDirOf, relaunchAsRanks, withoutNproc } from './data-parallel.js';
import { replotCommand } from './replot.js';
import { destroyProcessGroup } from '@kiln/distributed';

const HELP = `Usage: main.ts [options]
       main.ts infer --checkpoint <file> --image <in.png> --out <out.png> [--score 0.3] [--device cpu|cuda]
       main.ts replot --results <results.json> --out <dir>   (a run's charts again, from its results)
  --device <cpu|cuda|cuda:N|auto>  where to train (default auto: cuda when @kiln/cuda finds a GPU)
  --fast                           tiny settings, a few seconds (the CI smoke test)
  --preset <fast|cpu|cuda>         the settings to start from (default: cuda on a GPU, cpu otherwise)
  --losses <l[,l...]>              the losses trained, among focal, ce, ce-alpha (default all three) and the sweep's fl-g0 ... fl-g5
  --sweep                          also train gamma in {0, 0.5, 1, 2, 5}, alpha as in the paper's Table 1b
  --out <dir>                      where pictures, checkpoints and results.json go (default out/retinanet)
  --resume                         continue each run from its checkpoint in --out (same settings)
  --steps <n> --batch <n> --lr <x> --width <n> (pyramid channels) --test-images <n>   override the preset
  --head-norm <groups>             GroupNorm of this many groups in the head's hidden convolutions (0: none), overriding the preset
  --threads <n>                    CPU threads of the native kernels (default: one per core)
  --amp <bf16|fp16>                mixed precision: autocast (bfloat16, or float16 with a GradScaler)
  --tf32, --no-tf32                float32 matmuls and convolutions on TF32 tensor cores or not (CUDA; on in the cuda preset)
  --workers <n>                    threads making training batches ahead (default: 0 on cpu, min(8, cores - 1) on cuda)
  --seed <n[,n...]>                seeds of the initial weights, each variant trained once per seed (default 0)
  --data-seed <n>                  seed of the training images (default 1; test images use n + 1)
  --nproc <n>                      train data-parallel on n processes (kiln-run; one GPU each on CUDA)
  --help`;

function parse(): { settings: Settings; sweep: boolean; losses: readonly LossVariant[]; out: string; nproc: number; resume: boolean } {
  const { values: v } = parseArgs({
    options: {
      device: { type: 'string', default: 'auto' }, fast: { type: 'boolean', default: false }, preset: { type: 'string' },
      sweep: { type: 'boolean', default: false }, losses: { type: 'string' }, resume: { type: 'boolean', default: false }, out: { type: 'string', default: 'out/retinanet' },
      steps: { type: 'string' }, batch: { type: 'string' }, lr: { type: 'string' }, width: { type: 'string' }, 'head-norm': { type: 'string' },
      'test-images': { type: 'string' }, threads: { type: 'string' }, amp: { type: 'string' }, tf32: { type: 'boolean', default: false }, 'no-tf32': { type: 'boolean', default: false }, workers: { type: 'string' }, seed: { type: 'string' }, 'data-seed': { type: 'string' }, nproc: { type: 'string' }, help: { type: 'boolean', default: false },
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
  settings.model.fpnChannels = int('width', v.width, 2) ?? settings.model.fpnChannels;
  settings.testImages = int('test-images', v['test-images'], 1) ?? settings.testImages;
  const headNorm = int('head-norm', v['head-norm'], 0);
  if (headNorm !== undefined) settings.model.headGroupNorm = headNorm > 0 ? headNorm : undefined;
  const groups = settings.model.headGroupNorm;
  if (groups !== undefined && settings.model.fpnChannels % groups !== 0) {
    const given = headNorm !== undefined ? `--head-norm ${groups}` : `the preset's GroupNorm of ${groups} groups (--head-norm to change it)`;
    throw new Error(`--width ${settings.model.fpnChannels}: the head's channels must be a multiple of ${given}`);
  }
  if (v.seed !== undefined) settings.seeds = v.seed.split(',').map((x) => int('seed', x, 0)!);
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
  if (v.tf32 && v['no-tf32']) throw new Error('--tf32 and --no-tf32: expected one of them');
  if (v.tf32) settings.tf32 = true;
  if (v['no-tf32']) settings.tf32 = false;
  const nproc = int('nproc', v.nproc, 1) ?? 1;
  let losses = COMPARED;
  if (v.losses !== undefined) {
    const known = [...COMPARED, ...GAMMA_SWEEP], names = v.losses.split(',');
    const unknown = names.filter((n) => !known.some((l) => l.name === n));
    if (unknown.length > 0) throw new Error(`--losses: expected some of ${known.map((l) => l.name).join(', ')}, got ${v.losses}`);
    losses = known.filter((l) => names.includes(l.name));
  }
  return { settings, sweep: v.sweep, losses, out: v.out, nproc, resume: v.resume };
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

/** `main.ts infer ...`: one image through a checkpoint. */
async function inferCommand(argv: string[]): Promise<void> {
  const { values: v } = parseArgs({
    args: argv,
    options: { checkpoint: { type: 'string' }, image: { type: 'string' }, out: { type: 'string' }, score: { type: 'string', default: '0.3' }, device: { type: 'string', default: 'cpu' } },
    strict: true,
  });
  const missing = (['checkpoint', 'image', 'out'] as const).filter((k) => v[k] === undefined);
  const score = Number(v.score);
  if (missing.length > 0 || !(score >= 0 && score <= 1)) {
    console.error(`infer: expected --checkpoint, --image, --out and a --score in [0, 1]${missing.length ? `; missing ${missing.map((k) => `--${k}`).join(', ')}` : `; got --score ${v.score}`}\n(--help lists the options)`);
    process.exit(2);
  }
  const out = v.out!;
  const { detections, classNames } = await infer({ checkpoint: v.checkpoint!, image: v.image!, out, minScore: score, device: v.device });
  const shown = detections.filter((d) => d.score >= score);
  console.log(`${shown.length} detection(s) with score >= ${score} (of ${detections.length}); wrote ${out}`);
  for (const d of shown) console.log(`  ${classNames[d.label]} ${d.score.toFixed(3)} at [${d.box.map((x) => x.toFixed(1)).join(', ')}]`);
}

async function main(): Promise<void> {
  if (process.argv[2] === 'infer') return inferCommand(process.argv.slice(3));
  if (process.argv[2] === 'replot') return replotCommand(process.argv.slice(3));
  const { settings: s, sweep, losses, out: outArg, nproc, resume } = parseOrExit();
  if (nproc > 1 && process.env.WORLD_SIZE === undefined) await relaunchAsRanks(nproc, withoutNproc(process.argv.slice(2)));
  const job = joinJob(s.device, s.batchSize);
  if (job !== null) s.device = job.device;
  const out = outDirOf(outArg);
  if (s.threads !== null) cpuThreads(s.threads);
  if (s.tf32) setFloat32MatmulPrecision('high');
  const load = () => loadavg().map((x) => x.toFixed(2)).join(', ');
  const machine = s.device.startsWith('cuda')
    ? `GPU ${cuda.deviceProperties(s.device).name}`
    : `CPU: ${cpuThreads()} thread(s) on ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'})`;
  console.log(`RetinaNet on synthetic shapes: focal loss against cross-entropy\n${machine}; load average ${load()} (1, 5, 15 min)`);
  console.log(describeSettings(s));
  console.log(describeImbalance(countAnchors(s, makeScenes(s.testDataSeed, 0, Math.min(100, s.testImages), s.scenes)), classNamesOf(s.scenes).length));
  const started = performance.now();
  const result = await runExperiment({
    settings: s, sweep, losses, outDir: out, checkpointDir: outArg, resume, writeCheckpoints: job === null || job.rank === 0,
    progress: job === null || job.rank === 0 ? progressBar : undefined,
    onResult: (r) => {
      const m = r.scores.metrics;
      const resumed = r.log.resumedFrom > 0 ? ` (resumed at step ${r.log.resumedFrom})` : '';
      console.log(`${r.variant.name} seed ${r.seed}: AP ${m.ap.toFixed(3)}, AP50 ${m.ap50.toFixed(3)} after ${r.log.seconds.toFixed(1)} s of training${resumed}`);
    },
  });
  console.log(`\nCOCO metrics on ${s.testImages} held-out images (AP: AP@[.5:.95]${s.seeds.length > 1 ? `, mean ± sd over seeds ${s.seeds.join(', ')}` : ''}; losses: mean of the last 10% of steps, per foreground anchor)`);
  if (result.comparison.length > 0) {
    console.log(resultsTable(result.comparison));
    console.log('\nAP@[.5:.95] per class');
    console.log(perClassTable(result.comparison, classNamesOf(s.scenes)));
  }
  if (result.sweep.length > 0) {
    console.log('\nGamma sweep (alpha as in the paper\'s Table 1b)');
    console.log(resultsTable(result.sweep));
  }
  const apOf = (name: string) => {
    const r = result.comparison.find((x) => x.variant.name === name);
    return r ? spread(r, 'ap') : null;
  };
  const [focal, ce] = [apOf('focal'), apOf('ce')];
  if (focal && ce) {
    const verdict = focal.mean > ce.mean ? 'beats' : 'does NOT beat';
    const caveat = s.preset === 'fast' ? ' (fast settings: far too short to mean anything)' : '';
    console.log(`\nfocal loss ${verdict} cross-entropy: AP ${focal.mean.toFixed(3)} vs ${ce.mean.toFixed(3)}${caveat}`);
  }
  console.log(`total ${((performance.now() - started) / 1000).toFixed(1)} s; load average now ${load()}`);
  console.log(`wrote:\n  ${result.files.join('\n  ')}`);
  if (job !== null) destroyProcessGroup();
}

await main();
