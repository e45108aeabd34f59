/**
 * Kiln's side of the training-step benchmark: its fixed model, batch, losses and Adam (this
 * folder's model.ts, anchors.ts, scenes.ts, loss.ts: the RetinaNet example's before it moved to
 * @kiln/vision), one step as the example's step ran it (upload the batch, forward, focal +
 * smooth L1, backward, Adam, read both losses back), timed; and the files the PyTorch twin loads
 * (initial weights, the batch, the settings and Kiln's losses at the initial weights).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as kiln from '@kiln/tensor';
import { type Tensor, fromTypedArray, synchronize, tidy } from '@kiln/tensor';
import { noGrad } from '@kiln/autograd';
import { cuda } from '@kiln/cuda';
import { saveStateDict } from '@kiln/nn';
import { Adam } from '@kiln/optim';
import { type Settings, buildModel, dropGradients } from './settings.js';
import { makeAnchors, assignTargets, type Targets } from './anchors.js';
import { makeScenes, packImages } from './scenes.js';
import { BOX_BETA, FOCAL, type TargetTensors, detectionLoss } from './loss.js';
import type { RetinaNet } from './model.js';

/** What one step of the benchmark trains on: the model, its optimizer and one batch on the host. */
export interface StepSetup {
  settings: Settings;
  model: RetinaNet;
  optimizer: Adam;
  pixels: Float32Array;
  targets: Targets;
  /** The batch as host tensors, uploaded every step (pinned on CUDA, as the twin's). */
  host: HostBatch;
  /** mixed precision: runs forward and losses inside this scope (see autocastScope) */
  amp: ((fn: () => void) => void) | null;
}

/** The batch's tensors on the host: the images and the targets. */
export interface HostBatch {
  images: Tensor;
  labels: Tensor;
  deltas: Tensor;
  positiveMask: Tensor;
}

/**
 * The batch on the host. For a CUDA step its tensors are pinned once, as the twin pins its batch,
 * so that each step's upload (`to(device, { nonBlocking: true })`) is queued and returns at once.
 */
function hostBatch(pixels: Float32Array, targets: Targets, s: Settings): HostBatch {
  const size = s.scenes.imageSize, rows = targets.labels.length;
  const host: HostBatch = {
    images: fromTypedArray(pixels, [s.batchSize, 1, size, size]),
    labels: fromTypedArray(targets.labels),
    deltas: fromTypedArray(targets.deltas, [rows, 4]),
    positiveMask: fromTypedArray(targets.positiveMask, [rows, 1]),
  };
  if (kiln.device(s.device).type !== 'cuda') return host;
  return { images: host.images.pinMemory(), labels: host.labels.pinMemory(), deltas: host.deltas.pinMemory(), positiveMask: host.positiveMask.pinMemory() };
}

/** The batch uploaded to the step's device: images and targets. */
function upload(u: StepSetup): { images: Tensor; targets: TargetTensors } {
  const dev = u.settings.device, h = u.host, opts = { nonBlocking: true };
  return {
    images: h.images.to(dev, opts),
    targets: { labels: h.labels.to(dev, opts), deltas: h.deltas.to(dev, opts), positiveMask: h.positiveMask.to(dev, opts), positives: u.targets.positives },
  };
}

/** `--amp bf16`: forward and losses in the core's autocast scope for the step's device type, as the twin's torch.autocast. */
export function autocastScope(dtype: 'bfloat16' | 'float16', dev: string): (fn: () => void) => void {
  const deviceType = kiln.device(dev).type;
  return (fn) => kiln.autocast({ deviceType, dtype }, fn);
}

/** The example's model with its seeded initial weights, Adam, and the first batch of its training stream. */
export function makeSetup(s: Settings, opts: { fused: boolean; amp: ((fn: () => void) => void) | null }): StepSetup {
  const model = buildModel(s).train();
  const optimizer = new Adam(model.parameters(), { lr: s.lr, fused: opts.fused });
  const anchors = makeAnchors(s.scenes.imageSize, s.anchors);
  const scenes = makeScenes(s.trainDataSeed, 0, s.batchSize, s.scenes);
  const pixels = packImages(scenes), targets = assignTargets(anchors, scenes.map((sc) => sc.objects), s.matching);
  return { settings: s, model, optimizer, amp: opts.amp, pixels, targets, host: hostBatch(pixels, targets, s) };
}

/**
 * One training step, as the example's: returns the classification and box losses read back. The
 * losses leave the tidy scope and are read after it: the scope frees the step's other tensors
 * (hundreds of activations) while the GPU still runs the step's kernels, where reading first would
 * wait for the GPU and then leave it idle during the frees (as PyTorch frees its activations during
 * backward, not after the readback).
 */
export function trainStep(u: StepSetup): [number, number] {
  const [classification, box] = tidy(() => {
    const { images, targets } = upload(u);
    let loss!: ReturnType<typeof detectionLoss>;
    const forward = () => { loss = detectionLoss(u.model.call(images), targets, FOCAL); };
    if (u.amp) u.amp(forward);
    else forward();
    loss.total.backward();
    u.optimizer.step();
    dropGradients(u.model);
    return [loss.classification, loss.box];
  });
  try {
    return [classification.item(), box.item()];
  } finally {
    classification.dispose();
    box.dispose();
  }
}

/** Frees the model's parameters, the optimizer's state and the host batch. */
export function disposeSetup(u: StepSetup): void {
  u.optimizer.disposeState();
  for (const t of Object.values(u.host) as Tensor[]) t.dispose();
  for (const p of u.model.parameters()) p.dispose();
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Host wall time of each step (it ends with the losses read back) and, on CUDA, its device time. */
export interface StepTimes {
  wallMs: number;
  minWallMs: number;
  deviceMs: number | null;
  steps: number;
  firstLosses: [number, number];
}

/**
 * Times `step` (a training step that ends with its losses read back) `steps` times after `warmup`
 * calls, on `device`: host wall time and, on CUDA, device time between events around each step.
 * The first call's losses are kept (they are at the initial weights).
 */
export function timeSteps(step: () => [number, number], device: string, warmup: number, steps: number): StepTimes {
  const first = step();
  for (let i = 1; i < warmup; i++) step();
  const onCuda = kiln.device(device).type === 'cuda';
  const wall: number[] = [], dev: number[] = [];
  for (let i = 0; i < steps; i++) {
    const a = onCuda ? new cuda.Event(device).record() : null;
    const t0 = performance.now();
    step();
    const t1 = performance.now();
    if (a) {
      const b = new cuda.Event(device).record();
      dev.push(a.elapsedTime(b));
      a.dispose();
      b.dispose();
    }
    wall.push(t1 - t0);
  }
  synchronize(device);
  return { wallMs: median(wall), minWallMs: Math.min(...wall), deviceMs: dev.length ? median(dev) : null, steps, firstLosses: first };
}

/** Losses at the current weights in float32, without a step (what the twin checks against). */
export function forwardLosses(u: StepSetup): { classification: number; box: number } {
  return noGrad(() => tidy(() => {
    const { images, targets } = upload(u);
    const loss = detectionLoss(u.model.call(images), targets, FOCAL);
    return { classification: loss.classification.item(), box: loss.box.item() };
  }));
}

/**
 * Writes what the twin (tools/bench/retinanet_twin.py) loads into dir/name: model.safetensors (the
 * initial weights, Kiln's state-dict keys), batch.safetensors (images, labels, deltas, positive
 * mask) and meta.json (the model config, loss settings, lr and Kiln's float32 losses at the initial
 * weights). Call it before any step.
 */
export function exportForTwin(u: StepSetup, dir: string, name: string): void {
  const s = u.settings, out = join(dir, name);
  mkdirSync(out, { recursive: true });
  saveStateDict(u.model.stateDict(), join(out, 'model.safetensors'));
  const rows = u.targets.labels.length, size = s.scenes.imageSize;
  const batch: Record<string, Tensor> = {
    images: fromTypedArray(u.pixels, [s.batchSize, 1, size, size]),
    labels: fromTypedArray(u.targets.labels),
    deltas: fromTypedArray(u.targets.deltas, [rows, 4]),
    positiveMask: fromTypedArray(u.targets.positiveMask, [rows, 1]),
  };
  saveStateDict(batch, join(out, 'batch.safetensors'));
  const meta = {
    preset: name,
    model: s.model,
    batchSize: s.batchSize,
    imageSize: size,
    anchorsPerImage: rows / s.batchSize,
    lr: s.lr,
    loss: { gamma: FOCAL.gamma, alpha: FOCAL.alpha, beta: BOX_BETA, positives: u.targets.positives },
    kilnLosses: forwardLosses(u),
  };
  writeFileSync(join(out, 'meta.json'), `${JSON.stringify(meta, null, 1)}\n`);
}
