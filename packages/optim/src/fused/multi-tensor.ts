/**
 * What the fused optimizer updates share: the check that a device has the kernel, batching the
 * parameters into launches (one device and dtype per launch, as many parameters as the launch
 * record holds: MAX_KERNEL_TENSORS outputs, so 5 parameters per Adam launch, 4 with AMSGrad, 8 per
 * SGD launch with momentum, 16 without), and running a launch on tensors of any layout.
 *
 * A kernel updates its outputs in place and needs them contiguous, of one dtype: a parameter, state
 * tensor or gradient that is not (a strided view, a state tensor of another dtype) is replaced for
 * the launch by a contiguous copy in the parameter's dtype, copied back afterwards. Every argument
 * is checked before the first launch, so a bad one leaves every parameter and state as it was.
 */
import {
  type Tensor, MAX_KERNEL_TENSORS, DTypeError, checkNoInternalOverlap, hasKernel, isFloating,
  launchKernel, tidy,
} from '@kiln/tensor';
import type { ParamUpdate } from '../optimizer.js';

/** How one fused kernel updates a parameter. */
export interface FusedKernel {
  /** The kernel's name ('adam_update'). */
  name: string;
  /** The tensors it updates for a parameter: the parameter first, then its state (made on first use). */
  targets(u: ParamUpdate): Tensor[];
  /** The attributes shared by the parameters of a launch. */
  sharedAttrs: readonly number[];
  /** A parameter's own attributes; called once per parameter and step, after every check. */
  paramAttrs(u: ParamUpdate): number[];
}

/** The updates whose device has the kernel `name`, and the others (which take the composed path). */
export function splitByKernel(name: string, updates: readonly ParamUpdate[]): [ParamUpdate[], ParamUpdate[]] {
  const fused: ParamUpdate[] = [], composed: ParamUpdate[] = [];
  for (const u of updates) (hasKernel(u.param.device, name) ? fused : composed).push(u);
  return [fused, composed];
}

/**
 * Checks what the composed path's ops would reject, naming the optimizer (`op`) and the parameter.
 * A gradient's shape, dtype and device are the parameter's already (`Tensor.grad` checks them when
 * assigned); a parameter need not be floating (a frozen one may be an integer tensor), so its
 * gradient's dtype is checked here.
 */
function checkUpdate(op: string, u: ParamUpdate): void {
  const { grad, arg } = u;
  if (!isFloating(grad.dtype)) throw new DTypeError(op, `${arg}.grad`, 'a floating-point gradient', grad.dtype);
}

/** t itself when a kernel can use it as it is, else a contiguous copy in `dtype`. */
function standIn(t: Tensor, dtype: Tensor['dtype']): Tensor {
  if (t.isContiguous && t.dtype === dtype) return t;
  return t.dtype === dtype ? t.contiguous() : t.to(dtype).contiguous();
}

/**
 * Runs `kernel` over every update: `op` (the optimizer's name) names the argument of any error.
 * Parameters are batched by device and dtype, in their order, as many per launch as fit.
 */
export function runFused(op: string, kernel: FusedKernel, updates: readonly ParamUpdate[]): void {
  for (const u of updates) checkUpdate(op, u);
  const keysBefore = updates.map((u) => new Set(Object.keys(u.state)));
  let targets: Tensor[][];
  try {
    targets = updates.map((u) => kernel.targets(u));
    targets.forEach((ts, k) => ts.forEach((t, s) => checkNoInternalOverlap(s === 0 ? `${op} (${updates[k].arg})` : `${op} (state of ${updates[k].arg})`, t)));
  } catch (e) {
    // state made for this step goes again, so that the next step starts as this one did
    updates.forEach((u, k) => {
      for (const key of Object.keys(u.state)) {
        if (keysBefore[k].has(key)) continue;
        const v = u.state[key];
        if (typeof v !== 'number') v.dispose();
        delete u.state[key];
      }
    });
    throw e;
  }
  const perLaunch = Math.floor(MAX_KERNEL_TENSORS / targets[0].length);
  const batches = new Map<string, number[]>();
  updates.forEach((u, k) => {
    const key = `${u.param.device}|${u.param.dtype}`;
    let b = batches.get(key);
    if (!b) batches.set(key, (b = []));
    b.push(k);
  });
  for (const members of batches.values()) {
    for (let start = 0; start < members.length; start += perLaunch) {
      launchBatch(kernel, members.slice(start, start + perLaunch).map((k) => [updates[k], targets[k]] as const));
    }
  }
}

/** One launch: stand-ins for tensors the kernel cannot take as they are, copied back after it. */
function launchBatch(kernel: FusedKernel, batch: readonly (readonly [ParamUpdate, Tensor[]])[]): void {
  const dtype = batch[0][0].param.dtype;
  const attrs = [...kernel.sharedAttrs];
  for (const [u] of batch) attrs.push(...kernel.paramAttrs(u));
  tidy(() => {
    const grads = batch.map(([u]) => standIn(u.grad, dtype));
    const originals = batch.flatMap(([, ts]) => ts);
    const outs = originals.map((t) => standIn(t, dtype));
    launchKernel(kernel.name, grads, outs, attrs);
    originals.forEach((t, i) => {
      if (outs[i] !== t) t.copy_(outs[i]);   // copy_ bumps the version
      else t.storage.version++;                // written in place, as an in-place op's target
    });
  });
}
