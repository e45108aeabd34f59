// exploration only: AP against training step for a few variants
import { fromTypedArray, tidy, cpuThreads } from '@kiln/tensor';
import { Adam, warmupCosine } from '@kiln/optim';
import { PRESETS } from './config.js';
import { makeAnchors, assignTargets } from './anchors.js';
import { makeScenes, packImages } from './data.js';
import { detectionLoss, targetTensors, FOCAL, CROSS_ENTROPY, BALANCED_CE } from './loss.js';
import { buildModel } from './train.js';
import { detect, averagePrecision } from './evaluate.js';
cpuThreads(1);
const [width, depth, batch, steps, evalEvery, seed, lr] = process.argv.slice(2).map(Number);
const s = PRESETS.cpu(); s.model.width = width!; s.model.headDepth = depth!; s.batchSize = batch!; s.steps = steps!; s.seed = seed ?? 0; s.lr = lr || 2e-3;
s.testImages = 200;
const test = makeScenes(s.testDataSeed, 0, s.testImages, s.scenes);
const anchors = makeAnchors(32, s.anchors);
for (const v of (process.env.VARIANTS ?? 'focal,ce').split(',').map((n) => [FOCAL, CROSS_ENTROPY, BALANCED_CE].find((x) => x.name === n)!)) {
  const model = buildModel(s).train();
  const opt = new Adam(model.parameters(), { lr: s.lr });
  const sched = warmupCosine(opt, { warmupIters: s.warmupSteps, totalIters: s.steps + 1 });
  const t0 = performance.now();
  const aps: string[] = [];
  for (let step = 0; step < s.steps; step++) {
    const scenes = makeScenes(s.trainDataSeed, step * s.batchSize, s.batchSize, s.scenes);
    const targets = assignTargets(anchors, scenes.map((x) => x.objects));
    tidy(() => {
      const loss = detectionLoss(model.call(fromTypedArray(packImages(scenes, 32), [s.batchSize, 1, 32, 32])), targetTensors(targets, 'cpu'), v);
      loss.total.backward(); opt.step();
      for (const p of model.parameters()) { p.grad?.dispose(); p.grad = null; }
    });
    sched.step();
    if ((step + 1) % evalEvery! === 0) {
      model.eval();
      const ap = averagePrecision(detect(model, test, anchors, s), test);
      model.train();
      aps.push(`${step + 1}:${ap.mean.toFixed(3)}`);
    }
  }
  console.log(v.name, `w${width} d${depth} b${batch} seed ${s.seed} lr ${s.lr}`, aps.join(' '), `${((performance.now() - t0) / 1000).toFixed(0)}s`);
}
