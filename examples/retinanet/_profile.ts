import { fromTypedArray, tidy, cpuThreads } from '@kiln/tensor';
import { Adam } from '@kiln/optim';
import { PRESETS } from './config.js';
import { makeAnchors, assignTargets } from './anchors.js';
import { makeScenes, packImages } from './data.js';
import { detectionLoss, targetTensors, FOCAL } from './loss.js';
import { buildModel } from './train.js';

const s = PRESETS[(process.argv[2] ?? 'cpu') as 'cpu'](); 
if (process.argv[3]) s.model.width = Number(process.argv[3]);
if (process.argv[4]) s.batchSize = Number(process.argv[4]);
if (process.argv[5]) s.model.headDepth = Number(process.argv[5]);
if (process.env.THREADS) cpuThreads(Number(process.env.THREADS));
console.log('threads', cpuThreads(), 'width', s.model.width, 'batch', s.batchSize);
const anchors = makeAnchors(s.scenes.imageSize, s.anchors);
const model = buildModel(s);
const opt = new Adam(model.parameters(), { lr: 1e-3 });
const t: Record<string, number> = {};
const tick = (k: string, t0: number) => { t[k] = (t[k] ?? 0) + performance.now() - t0; return performance.now(); };
const N = 12;
for (let step = 0; step < N; step++) {
  let t0 = performance.now();
  const scenes = makeScenes(1, step * s.batchSize, s.batchSize, s.scenes);
  t0 = tick('data', t0);
  const targets = assignTargets(anchors, scenes.map((x) => x.objects));
  t0 = tick('assign', t0);
  tidy(() => {
    const size = s.scenes.imageSize;
    const images = fromTypedArray(packImages(scenes, size), [s.batchSize, 1, size, size]);
    let t1 = performance.now();
    const out = model.call(images);
    t1 = tick('forward', t1);
    const loss = detectionLoss(out, targetTensors(targets, 'cpu'), FOCAL);
    t1 = tick('loss', t1);
    loss.total.backward();
    t1 = tick('backward', t1);
    opt.step();
    t1 = tick('optim', t1);
    for (const p of model.parameters()) { p.grad?.dispose(); p.grad = null; }
    loss.total.item();
  });
  tick('step', t0);
  if (step === 3) for (const k of Object.keys(t)) t[k] = 0;
}
for (const [k, v] of Object.entries(t)) console.log(k, (v / (N - 4)).toFixed(1), 'ms');
