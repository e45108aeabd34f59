/**
 * `DistributedDataParallel`: a module wrapper that keeps one model replica per process in step, as
 * PyTorch's DDP. Every rank runs forward and backward on its own part of the batch; the gradients
 * are averaged across the ranks while backward still runs, so that after `backward()` every rank
 * holds the same gradient (the gradient of the mean loss over the whole batch, when each rank's
 * loss is a mean over an equal share) and the same optimizer step keeps the replicas identical.
 *
 * How the overlap works (PyTorch's reducer): the parameters are cut into buckets of about 25 MB, in
 * reverse order of registration (the order backward produces gradients in). Each parameter has a
 * post-accumulate-grad hook: when its gradient is final for the pass, the hook copies it into its
 * bucket's flat buffer, and once a bucket is full its all-reduce starts (asynchronously, on the
 * backend's own thread or stream) while backward goes on with earlier layers. Buckets start in
 * bucket order on every rank, so the ranks' collectives always pair up. A callback queued on the
 * pass waits for the all-reduces at its end and copies the averaged gradients back into `.grad`.
 */
import { type Tensor, ValueError, isFloating, keep, tidy } from '@kiln/tensor';
import { type RemovableHandle, isGradEnabled, noGrad, queueCallback, reachableLeaves } from '@kiln/autograd';
import { Module } from '@kiln/nn';
import { DistributedError } from '../errors.js';
import { defaultProcessGroup } from '../init.js';
import type { ProcessGroup } from '../process-group.js';
import type { Work } from '../work.js';
import { type BucketLayout, layoutBuckets } from './buckets.js';
import { broadcastCoalesced } from './coalesced.js';

/** Options of {@link DistributedDataParallel}. */
export interface DistributedDataParallelOptions {
  /** The group whose ranks hold the replicas (default: the default process group). */
  processGroup?: ProcessGroup;
  /** Megabytes (MiB) of gradients per all-reduce bucket (default 25, as PyTorch's). */
  bucketCapMb?: number;
  /**
   * Walk the forward's outputs to find parameters this rank does not use in an iteration, and
   * contribute zeros for them (default false: a parameter that gets no gradient is an error that
   * names it, since the ranks would otherwise wait for it forever). A locally unused parameter
   * gets the averaged gradient of the others (zero when no rank used it).
   */
  findUnusedParameters?: boolean;
  /** Copy rank 0's buffers (e.g. BatchNorm's running statistics) to every rank before each forward (default true). */
  broadcastBuffers?: boolean;
}

interface Bucket extends BucketLayout {
  /** The flat buffer the all-reduce runs on, in the backend's memory. */
  flat: Tensor;
  /** Each parameter's gradient inside `flat`, shaped as the parameter. */
  views: Tensor[];
  /** Parameters whose gradient is not in the bucket yet, this pass. */
  pending: number;
  work: Work | null;
}

/** Tensors anywhere in a forward's output (a tensor, arrays, plain objects). */
function tensorsIn(value: unknown, out: unknown[] = []): unknown[] {
  if (value === null || typeof value !== 'object') return out;
  if (Array.isArray(value)) value.forEach((v) => tensorsIn(v, out));
  else if ('storage' in value && 'shape' in value) out.push(value);
  else if (Object.getPrototypeOf(value) === Object.prototype || value instanceof Map) {
    for (const v of value instanceof Map ? value.values() : Object.values(value)) tensorsIn(v, out);
  }
  return out;
}

/**
 * Data-parallel training of `module` across the ranks of a process group (PyTorch's
 * `DistributedDataParallel`). Rank 0's parameters and buffers are copied to every rank at
 * construction; `call` runs the wrapped module; `backward()` then leaves in every parameter's
 * `.grad` the average of the ranks' gradients, all-reduced bucket by bucket while backward runs.
 * Its parameters are the module's (named `module.<name>`, as PyTorch's), so an optimizer can be
 * built from either.
 *
 * @example
 * ```ts
 * initProcessGroup({ backend: 'cpu' });                 // under kiln-run: rank and world size from the environment
 * const ddp = new DistributedDataParallel(model);
 * const optimizer = new SGD(ddp.parameters(), { lr: 0.01 });
 * for (const [x, y] of myShardOfTheData) {
 *   optimizer.zeroGrad();
 *   ddp.call(x).sub(y).square().mean().backward();     // gradients averaged over the ranks
 *   optimizer.step();                                   // the same step on every rank
 * }
 * ```
 */
export class DistributedDataParallel<M extends Module<never[], unknown> = Module>
  extends Module<Parameters<M['forward']>, ReturnType<M['forward']>> {
  /** The wrapped module (PyTorch's `ddp.module`). */
  readonly module: M;
  /** @internal */ private readonly group: ProcessGroup;
  /** @internal */ private readonly findUnused: boolean;
  /** @internal */ private readonly syncBuffers: boolean;
  /** @internal */ private readonly buckets: Bucket[];
  /** @internal where each parameter's gradient goes: [bucket, index in the bucket] */
  private readonly slots = new Map<Tensor, [number, number]>();
  /** @internal */ private readonly names = new Map<Tensor, string>();
  /** @internal */ private readonly hooks: RemovableHandle[] = [];
  /** @internal parameters whose gradient is in its bucket this pass */
  private readonly marked = new Set<Tensor>();
  /** @internal parameters this rank's forward did not use (findUnusedParameters) */
  private locallyUnused = new Set<Tensor>();
  /** @internal the last forward asked for gradients to be averaged */
  private expectingGrads = false;
  /** @internal the end-of-pass callback is queued */
  private finishQueued = false;
  /** @internal buckets started, in order */
  private nextToLaunch = 0;
  /** @internal inside noSync */
  private syncDisabled = 0;
  /** @internal */ private destroyed = false;

  /** Wraps `module`; every rank constructs it (rank 0's parameters and buffers are broadcast). */
  constructor(module: M, options: DistributedDataParallelOptions = {}) {
    super();
    const op = 'DistributedDataParallel';
    if (!(module instanceof Module)) throw new ValueError(op, 'module', 'a Module', String(module));
    const bucketCapMb = options.bucketCapMb ?? 25;
    if (!(Number.isFinite(bucketCapMb) && bucketCapMb > 0)) throw new ValueError(op, 'bucketCapMb', 'a positive number of MiB', String(bucketCapMb));
    this.module = module;
    this.group = options.processGroup ?? defaultProcessGroup(op);
    this.findUnused = options.findUnusedParameters ?? false;
    this.syncBuffers = options.broadcastBuffers ?? true;

    const named = module.namedParameters().filter(([, p]) => p.requiresGrad);
    for (const [name, p] of named) {
      if (p.device !== this.group.device) {
        throw new ValueError(op, `module.${name}`, `a parameter on ${this.group.device} (the process group's device: move the module there first)`, `one on ${p.device}`);
      }
      if (!isFloating(p.dtype)) throw new ValueError(op, `module.${name}`, 'a floating-point parameter', p.dtype);
      this.names.set(p, name);
    }
    // every replica starts from rank 0's state
    broadcastCoalesced(this.group, [...module.parameters(), ...module.buffers()], 0);

    this.buckets = layoutBuckets(named.map(([, p]) => p), bucketCapMb * 1024 * 1024).map((b) => {
      const flat = keep(this.group.commBuffer(b.numel, b.dtype));
      const views = b.params.map((p, i) => keep(flat.narrow(0, b.offsets[i], p.numel).reshape(p.shape)));
      return { ...b, flat, views, pending: b.params.length, work: null };
    });
    this.buckets.forEach((b, bi) => b.params.forEach((p, i) => this.slots.set(p, [bi, i])));
    for (const [, p] of named) this.hooks.push(p.registerPostAccumulateGradHook((t) => this.onGradReady(t)));
  }

  /** Runs the wrapped module; when gradients are enabled (and not in noSync), its backward averages them. */
  forward(...args: Parameters<M['forward']>): ReturnType<M['forward']> {
    this.checkAlive('forward');
    if (this.syncBuffers) broadcastCoalesced(this.group, this.module.buffers(), 0);
    const out = this.module.call(...(args as never[])) as ReturnType<M['forward']>;
    if (isGradEnabled() && this.syncDisabled === 0) this.prepareForBackward(out);
    else this.expectingGrads = false;
    return out;
  }

  /**
   * Runs `f` without averaging gradients (PyTorch's `no_sync`): backward passes of forwards run in
   * `f` only accumulate into `.grad` locally; the first forward and backward after it average the
   * accumulated sum. For gradient accumulation over several micro-batches with one all-reduce.
   * `f` may be async: synchronization stays off until its promise settles.
   *
   * @example
   * ```ts
   * ddp.noSync(() => ddp.call(micro1).sum().backward());   // local only
   * ddp.call(micro2).sum().backward();                      // averages micro1 + micro2 gradients
   * optimizer.step();
   * ```
   */
  noSync<R>(f: () => R): R {
    this.syncDisabled++;
    let result: R;
    try {
      result = f();
    } catch (e) {
      this.syncDisabled--;
      throw e;
    }
    if (result instanceof Promise) {
      return result.finally(() => { this.syncDisabled--; }) as R;
    }
    this.syncDisabled--;
    return result;
  }

  /** Removes the hooks and frees the buckets; the wrapped module stays usable on its own. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.abandonPass();
    for (const h of this.hooks) h.remove();
    for (const b of this.buckets) {
      for (const v of b.views) v.dispose();
      b.flat.dispose();
    }
  }

  // ---- one pass ----

  private prepareForBackward(out: unknown): void {
    this.abandonPass();
    this.expectingGrads = true;
    if (!this.findUnused) return;
    const used = reachableLeaves(tensorsIn(out));
    this.locallyUnused = new Set([...this.slots.keys()].filter((p) => !used.has(p)));
    // their contribution is known now: what they hold (accumulated under noSync) or zeros
    for (const p of this.locallyUnused) this.mark(p);
  }

  /** Forgets a pass whose backward never ran (a forward called again, or destroy). */
  private abandonPass(): void {
    for (const b of this.buckets) {
      try {
        b.work?.wait();
      } catch {
        // the group failed: the next collective reports it
      }
    }
    this.resetPass();
  }

  /** Empties the buckets for the next pass. */
  private resetPass(): void {
    for (const b of this.buckets) {
      b.work = null;
      b.pending = b.params.length;
    }
    this.marked.clear();
    this.locallyUnused = new Set();
    this.nextToLaunch = 0;
    this.expectingGrads = false;
  }

  private onGradReady(p: Tensor): void {
    if (!this.expectingGrads) return;
    if (this.marked.has(p)) {
      throw new DistributedError(
        `DistributedDataParallel (rank ${this.group.rank} of ${this.group.size}): parameter '${this.names.get(p) ?? '(unnamed)'}' got a second gradient in one iteration `
        + '(a second backward pass through the same forward, or a parameter used by an unused-parameter search that missed it); run forward again before each backward',
        { reason: 'usage', op: 'DistributedDataParallel', rank: this.group.rank, waitingFor: '' },
      );
    }
    if (!this.finishQueued) {
      queueCallback(() => this.finishPass());
      this.finishQueued = true;
    }
    this.mark(p);
  }

  /** Puts p's gradient (zeros when it has none) in its bucket and starts the buckets that are full. */
  private mark(p: Tensor): void {
    const [bi, i] = this.slots.get(p)!;
    const b = this.buckets[bi];
    tidy(() => noGrad(() => {
      if (p.grad !== null) b.views[i].copy_(p.grad);
      else b.views[i].zero_();
    }));
    this.marked.add(p);
    if (--b.pending === 0) this.launchReady();
  }

  /** Starts the full buckets, in bucket order, so that every rank's all-reduces pair up. */
  private launchReady(): void {
    while (this.nextToLaunch < this.buckets.length && this.buckets[this.nextToLaunch].pending === 0) {
      const b = this.buckets[this.nextToLaunch++];
      b.work = this.group.allReduce(b.flat, { op: 'avg' });
    }
  }

  private finishPass(): void {
    this.finishQueued = false;
    if (!this.expectingGrads) return;
    const missing = [...this.slots.keys()].filter((p) => !this.marked.has(p));
    if (missing.length > 0) {
      const names = missing.slice(0, 8).map((p) => `'${this.names.get(p) ?? '(unnamed)'}'`).join(', ') + (missing.length > 8 ? `, and ${missing.length - 8} more` : '');
      this.abandonPass();
      throw new DistributedError(
        `DistributedDataParallel (rank ${this.group.rank} of ${this.group.size}): ${missing.length} parameter(s) got no gradient in this backward pass: ${names}. `
        + 'Every rank must average every parameter\'s gradient; use new DistributedDataParallel(module, { findUnusedParameters: true }) '
        + 'when some parameters are not used in every iteration, or set their requiresGrad to false',
        { reason: 'usage', op: 'DistributedDataParallel', rank: this.group.rank, waitingFor: 'the gradients of ' + names },
      );
    }
    for (const b of this.buckets) {
      b.work!.wait();
      tidy(() => noGrad(() => b.params.forEach((p, i) => {
        if (p.grad !== null) p.grad.copy_(b.views[i]);
        else p.grad = keep(b.views[i].clone());     // a locally unused parameter
      })));
    }
    this.resetPass();
  }

  private checkAlive(op: string): void {
    if (this.destroyed) throw new ValueError(`DistributedDataParallel.${op}`, 'this', 'a DistributedDataParallel that is not destroyed', 'a destroyed one');
  }
}
