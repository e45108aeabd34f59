import { loadAddon, cpuThreads, kernelTable, cpu, backendFor, fromTypedArray, tidy } from '@kiln/tensor';
import { Adam } from '@kiln/optim';
import { PRESETS } from './config.js';
import { makeAnchors, assignTargets } from './anchors.js';
import { makeScenes, packImages } from './data.js';
import { detectionLoss, targetTensors, FOCAL } from './loss.js';
import { buildModel } from './train.js';
cpuThreads(1);
const backend = backendFor(cpu) as any;
const orig = backend.launch.bind(backend);
const names = new Map<number, string>();
const times = new Map<string, [number, number]>();
let on = false;
backend.launch = (id: number) => { const t0 = performance.now(); orig(id); if (!on) return; const dt = performance.now() - t0; const n = String(id); const e = times.get(n) ?? [0, 0]; e[0] += dt; e[1]++; times.set(n, e); };
const s = PRESETS.cpu(); s.batchSize = 8;
const anchors = makeAnchors(32, s.anchors);
const model = buildModel(s);
// map ids to names
const tbl = (backend as any).kernelId;
const opt = new Adam(model.parameters(), { lr: 1e-3 });
let total = 0;
for (let step = 0; step < 10; step++) {
  if (step === 4) { on = true; }
  const scenes = makeScenes(1, step * 8, 8, s.scenes);
  const targets = assignTargets(anchors, scenes.map((x) => x.objects));
  const t0 = performance.now();
  tidy(() => {
    const out = model.call(fromTypedArray(packImages(scenes, 32), [8, 1, 32, 32]));
    const loss = detectionLoss(out, targetTensors(targets, 'cpu'), FOCAL);
    loss.total.backward(); opt.step();
    for (const p of model.parameters()) { p.grad?.dispose(); p.grad = null; }
    loss.total.item();
  });
  if (on) total += performance.now() - t0;
}
// names: search kernel table
import('@kiln/tensor');
for (const [n, id] of kernelTable(loadAddon('kiln_cpu.node', 'cpu'))) names.set(id, n);
const all = [...times.entries()].sort((a, b) => b[1][0] - a[1][0]);
let ksum = 0; for (const [, [t]] of all) ksum += t;
console.log('step ms', (total / 6).toFixed(1), 'kernel ms', (ksum / 6).toFixed(1));
for (const [n, [t, c]] of all.slice(0, 25)) console.log((names.get(Number(n)) ?? n).padEnd(30), (t / 6).toFixed(2), 'ms', (c / 6).toFixed(0), 'calls');
