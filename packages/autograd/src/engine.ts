/**
 * The backward engine. From the roots' nodes it collects the reachable graph (iteratively: no
 * recursion limit on deep graphs), orders it topologically (ties by decreasing sequence number, as
 * PyTorch) and runs each node once all its gradients have arrived, summing gradients that reach the
 * same node slot. `backward` ends in the leaves' AccumulateGrad nodes (into `.grad`);
 * `grad` instead captures the gradients flowing into given tensors and runs only the nodes on a path
 * to them.
 *
 * Memory: gradients the engine makes are reference-counted by the buffers holding them and disposed
 * as soon as the last node reading them ran; temporaries a gradient formula makes are disposed when
 * it returns. A node's saved values are dropped after it ran, unless retainGraph. With createGraph
 * nothing is disposed: the gradients are part of a new graph and may be saved by its nodes.
 */
import {
  AutogradError, DeviceError, ShapeError, Tensor, add, checkOptionKeys, clone, collectCreated, describeValue, fmtShape, markAsGrad, onesLike, recordFunction, sameShape,
} from '@kiln/tensor';
import { setGradEnabled } from './grad-mode.js';
import { AccumulateGrad, type BackwardTask, type Node, gradEdge } from './node.js';
import { markImplicitGradient } from './implicit-gradient.js';
import { matchShape } from './shape-utils.js';

/** Options of {@link backward} and `tensor.backward()`. */
export interface BackwardOptions {
  /** Keep saved values so the graph can be differentiated again (default: createGraph). */
  retainGraph?: boolean;
  /** Record the backward pass, for higher-order derivatives (default false). */
  createGraph?: boolean;
}

/** Options of {@link grad}. */
export interface GradOptions extends BackwardOptions {
  /** Give null for inputs the outputs do not depend on, instead of an error (default false). */
  allowUnused?: boolean;
}

/** One backward pass: the gradient buffers of the nodes and the ownership of engine-made tensors. */
class GraphTask implements BackwardTask {
  /** node -> gradients received so far, by slot */
  readonly buffers = new Map<Node, (Tensor | undefined)[]>();
  /** engine-made gradients -> number of buffer slots holding them (disposed at 0) */
  private readonly owned = new Map<Tensor, number>();
  /** whether the engine disposes what it made (not with createGraph) */
  readonly disposing: boolean;
  /** run once every node ran (queueCallback) */
  readonly callbacks: (() => void)[] = [];

  constructor(readonly createGraph: boolean) {
    this.disposing = !createGraph;
  }

  isSoleOwner(t: Tensor): boolean {
    return this.owned.get(t) === 1;
  }
  disown(t: Tensor): void {
    this.owned.delete(t);
  }
  owns(t: Tensor): boolean {
    return this.owned.has(t);
  }
  /** Takes ownership of a tensor the engine made (not yet held by any buffer). */
  adopt(t: Tensor): void {
    if (this.disposing && !this.owned.has(t)) this.owned.set(t, 0);
  }
  /** One more holder of t. */
  hold(t: Tensor): void {
    const n = this.owned.get(t);
    if (n !== undefined) this.owned.set(t, n + 1);
  }
  /** Disposes an owned tensor that no buffer holds. */
  dropIfUnheld(t: Tensor): void {
    if (this.owned.get(t) === 0) {
      this.owned.delete(t);
      t.dispose();
    }
  }
  /** One holder fewer; an owned tensor no one holds is disposed. */
  drop(t: Tensor | undefined): void {
    if (t === undefined) return;
    const n = this.owned.get(t);
    if (n === undefined) return;
    if (n <= 1) {
      this.owned.delete(t);
      t.dispose();
    } else this.owned.set(t, n - 1);
  }

  /** Adds g into the buffer of node's slot (summing with what is there). */
  addGrad(node: Node, slot: number, g: Tensor): void {
    let buf = this.buffers.get(node);
    if (buf === undefined) this.buffers.set(node, (buf = []));
    this.hold(g);
    const old = buf[slot];
    if (old === undefined) {
      buf[slot] = g;
      return;
    }
    const sum = add(old, g);
    this.adopt(sum);
    this.hold(sum);
    buf[slot] = sum;
    this.drop(old);
    this.drop(g);
  }

  /** Disposes every engine-made tensor still alive (after an error). */
  disposeAll(): void {
    for (const t of this.owned.keys()) t.dispose();
    this.owned.clear();
  }
}

/** The passes running now, innermost last (a hook may start a backward of its own). */
const running: GraphTask[] = [];

/**
 * Every node reachable from the roots, in an order where a node comes after all nodes with an edge
 * to it (Kahn's algorithm); among the nodes ready at a time, the highest sequence number (the most
 * recently made) goes first, as in PyTorch's engine, which makes the order deterministic.
 */
function graphOrder(roots: readonly Node[]): Node[] {
  const deps = new Map<Node, number>();
  const seen = new Set<Node>(roots);
  const stack = [...seen];
  while (stack.length > 0) {
    const n = stack.pop()!;
    for (const m of n.nextNodes) {
      if (m === null) continue;
      deps.set(m, (deps.get(m) ?? 0) + 1);
      if (!seen.has(m)) {
        seen.add(m);
        stack.push(m);
      }
    }
  }
  const ready = new ReadyQueue();
  for (const r of new Set(roots)) if (!deps.has(r)) ready.push(r); // a root below another root waits for it
  const order: Node[] = [];
  while (ready.size > 0) {
    const n = ready.pop();
    order.push(n);
    for (const m of n.nextNodes) {
      if (m === null) continue;
      const left = deps.get(m)! - 1;
      deps.set(m, left);
      if (left === 0) ready.push(m);
    }
  }
  return order;
}

/** A binary max-heap of nodes by sequence number (ties: first pushed first). */
class ReadyQueue {
  private readonly heap: Node[] = [];
  private readonly pushedAt = new Map<Node, number>();
  private count = 0;
  get size(): number {
    return this.heap.length;
  }
  private before(a: Node, b: Node): boolean {
    return a.seq !== b.seq ? a.seq > b.seq : this.pushedAt.get(a)! < this.pushedAt.get(b)!;
  }
  push(n: Node): void {
    this.pushedAt.set(n, this.count++);
    const h = this.heap;
    h.push(n);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.before(h[i], h[p])) break;
      [h[i], h[p]] = [h[p], h[i]];
      i = p;
    }
  }
  pop(): Node {
    const h = this.heap;
    const top = h[0];
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1, r = l + 1;
        let m = i;
        if (l < h.length && this.before(h[l], h[m])) m = l;
        if (r < h.length && this.before(h[r], h[m])) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m], h[i]];
        i = m;
      }
    }
    return top;
  }
}

/** The nodes that must run to deliver gradients to the captured slots (`order` is topological). */
function nodesToRun(order: readonly Node[], captured: ReadonlyMap<Node, unknown>): Set<Node> {
  const run = new Set<Node>();
  const useful = new Set<Node>();
  for (let k = order.length - 1; k >= 0; k--) {
    const n = order[k];
    let leadsToCapture = false;
    for (const m of n.nextNodes) {
      if (m !== null && useful.has(m)) {
        leadsToCapture = true;
        break;
      }
    }
    if (leadsToCapture) run.add(n);
    if (leadsToCapture || captured.has(n)) useful.add(n);
  }
  return run;
}

/** Brings a node's gradient for input i to the input's shape, dtype and device. */
function fitGradient(node: Node, i: number, g: unknown): Tensor {
  if (!(g instanceof Tensor)) throw new AutogradError({ op: node.name, expected: `a Tensor as the gradient for input ${i}`, got: String(g) });
  let r = g;
  const shape = node.inputShapes[i]!;
  if (!sameShape(r.shape, shape)) r = matchShape(r, shape, () => `${node.name} (gradient ${i})`);
  const dtype = node.inputDtypes[i]!;
  if (r.dtype !== dtype) r = r.to(dtype);
  const dev = node.inputDevices[i]!;
  if (r.device !== dev) r = r.to(dev);
  return r;
}

/** Calls a node and fits its gradients to its inputs. */
function callNode(node: Node, grads: (Tensor | undefined)[], task: GraphTask): (Tensor | null | undefined)[] {
  const raw = node.apply(grads, task);
  const out = new Array<Tensor | undefined>(node.nextNodes.length);
  for (let i = 0; i < out.length; i++) {
    const g = raw[i];
    if (node.nextNodes[i] !== null && g !== null && g !== undefined) out[i] = fitGradient(node, i, g);
  }
  return out;
}

/** Runs a node's tensor hooks on its incoming gradients and fills retained .grad fields. */
function runHooks(node: Node, buf: (Tensor | undefined)[], task: GraphTask): void {
  if (node.hooks !== null) {
    for (const [slot, hooks] of node.hooks) {
      let g = buf[slot];
      if (g === undefined) continue;
      for (const hook of [...hooks]) {
        const created = new Set<Tensor>();
        const r: unknown = task.disposing ? collectCreated(() => hook(g!), created) : hook(g);
        if (r === undefined || r === g) continue;
        if (!(r instanceof Tensor) || !sameShape(r.shape, g.shape)) {
          throw new AutogradError({
            op: 'registerHook', argument: 'hook', expected: `a function returning undefined or a gradient of shape ${fmtShape(g.shape)}`,
            got: r instanceof Tensor ? `a gradient of shape ${fmtShape(r.shape)}` : describeValue(r),
          });
        }
        // tensors the hook made and did not return are left alone: the hook may have kept them
        if (created.has(r)) task.adopt(r);
        task.hold(r);
        task.drop(g);
        g = r;
      }
      buf[slot] = g;
    }
  }
  if (node.retained !== null) {
    for (const [slot, ref] of node.retained) {
      const t = ref.deref();
      const g = buf[slot];
      if (t !== undefined && g !== undefined) retainGrad(t, g, task);
    }
  }
}

/** Stores a non-leaf tensor's gradient in its .grad (retainGrad). */
function retainGrad(t: Tensor, g: Tensor, task: GraphTask): void {
  if (t.grad === null) {
    if (task.owns(g)) {
      task.disown(g); // shared with the flow; nothing disposes it now
      t.grad = g;
    } else t.grad = clone(g);
  } else t.grad = add(t.grad, g);
  markAsGrad(t.grad);
}

/** AccumulateGrad: adds g into the leaf's .grad, keeping g itself when no one else holds it. */
function accumulate(node: AccumulateGrad, g: Tensor, task: GraphTask): void {
  const v = node.variable;
  if (v.grad === null) {
    if (task.isSoleOwner(g) && g.isContiguous && g.storage.refs === 1) {
      task.disown(g);
      v.grad = g;
    } else {
      v.grad = clone(g); // recorded when createGraph (PyTorch's clone_obey_contract)
    }
  } else if (!task.createGraph) {
    v.grad.add_(g);
    return;
  } else {
    v.grad = add(v.grad, g);
  }
  markAsGrad(v.grad);
}

/**
 * Runs a pass from root edges with their gradients. With `captures`, returns the gradients that
 * reached them (and runs only the nodes leading to them); otherwise runs every node.
 */
function execute(
  roots: readonly (readonly [Node, number])[],
  rootGrads: readonly Tensor[],
  madeByEngine: readonly boolean[],
  captures: readonly (readonly [Node, number])[] | null,
  options: BackwardOptions,
): (Tensor | undefined)[] {
  const createGraph = options.createGraph ?? false;
  const retainGraph = options.retainGraph ?? createGraph;
  const task = new GraphTask(createGraph);
  const previousMode = setGradEnabled(createGraph);
  let ok = false;
  running.push(task);
  try {
    roots.forEach(([node, slot], k) => {
      if (madeByEngine[k]) task.adopt(rootGrads[k]);
      task.addGrad(node, slot, rootGrads[k]);
    });
    const order = graphOrder(roots.map((r) => r[0]));
    const captureAt = new Map<Node, [number, number][]>(); // node -> [slot, index in result]
    captures?.forEach(([node, slot], k) => {
      let l = captureAt.get(node);
      if (!l) captureAt.set(node, (l = []));
      l.push([slot, k]);
    });
    const run = captures === null ? null : nodesToRun(order, captureAt);
    const captured = new Array<Tensor | undefined>(captures?.length ?? 0);

    for (const node of order) {
      const buf = task.buffers.get(node);
      if (buf === undefined) continue; // no gradient reached it
      task.buffers.delete(node);
      if (node.hooks !== null || node.retained !== null) runHooks(node, buf, task);
      const caps = captureAt.get(node);
      if (caps) {
        for (const [slot, k] of caps) {
          const g = buf[slot];
          captured[k] = g;
          if (g !== undefined) task.disown(g);
        }
      }
      if (run !== null && !run.has(node)) {
        for (const g of buf) task.drop(g);
        continue;
      }
      if (node instanceof AccumulateGrad) {
        if (buf[0] !== undefined) recordFunction(node.name, () => accumulate(node, buf[0]!, task));
        task.drop(buf[0]);
        if (buf[0] !== undefined && node.postHooks !== null) for (const hook of [...node.postHooks]) hook(node.variable);
        continue;
      }
      const created = task.disposing ? new Set<Tensor>() : null;
      // a profiler range per node (the core's hook: one check when no profile runs)
      const results = recordFunction(node.name, () => (created ? collectCreated(() => callNode(node, buf, task), created) : callNode(node, buf, task)));
      const next = node.nextNodes;
      for (let i = 0; i < next.length; i++) {
        const r = results[i];
        if (next[i] === null || r === null || r === undefined) continue;
        if (created?.has(r)) task.adopt(r);
        task.addGrad(next[i]!, node.nextSlots[i], r);
      }
      if (created) for (const t of created) if (!task.owns(t)) t.dispose(); // the formula's temporaries
      for (const r of results) if (r) task.dropIfUnheld(r); // handed over but not used
      for (const g of buf) task.drop(g);
      if (!retainGraph) node.release();
    }
    runQueuedCallbacks(task);
    ok = true;
    return captured;
  } finally {
    running.pop();
    setGradEnabled(previousMode);
    if (!ok) task.disposeAll();
  }
}

/** Runs the callbacks queued during the pass, in order, including those they queue themselves. */
function runQueuedCallbacks(task: GraphTask): void {
  for (let k = 0; k < task.callbacks.length; k++) task.callbacks[k]();
}

/**
 * Queues `callback` to run once the backward pass running now has run every node, before
 * `backward()` returns (PyTorch's `Variable._execution_engine.queue_callback`). Hooks use it to act
 * on the whole pass: DistributedDataParallel waits for its gradient all-reduces there. Only valid
 * while a backward pass runs (from a hook or a Function's backward); an AutogradError otherwise.
 *
 * @example
 * ```ts
 * w.registerPostAccumulateGradHook(() => {
 *   queueCallback(() => console.log('every gradient of this pass is in .grad'));
 * });
 * loss.backward();
 * ```
 */
export function queueCallback(callback: () => void): void {
  const task = running[running.length - 1];
  if (task === undefined) throw new AutogradError('queueCallback: no backward pass is running; call it from a hook or a backward function');
  if (typeof callback !== 'function') throw new AutogradError(`queueCallback: expected a function, got ${String(callback)}`);
  task.callbacks.push(callback);
}

/** The gradient a root starts with: the given one (checked), or 1 for a one-element tensor. */
function rootGradient(t: Tensor, g: Tensor | null | undefined, what: string): { grad: Tensor; made: boolean } {
  if (g === undefined || g === null) {
    if (t.numel !== 1) {
      throw new AutogradError({
        op: what, argument: 'grad',
        detail: `grad can be implicitly created only for scalar outputs, but the tensor has shape ${fmtShape(t.shape)}; ` +
          'pass a gradient of that shape, e.g. y.backward(onesLike(y))',
      });
    }
    return { grad: markImplicitGradient(onesLike(t)), made: true };
  }
  if (!(g instanceof Tensor)) throw new AutogradError(what, 'grad', 'a Tensor', String(g));
  g.assertAlive(what);
  if (!sameShape(g.shape, t.shape)) throw new ShapeError(what, 'grad', `the shape of the tensor it is the gradient of, ${fmtShape(t.shape)}`, fmtShape(g.shape));
  if (g.device !== t.device) throw new DeviceError(what, 'grad', `a tensor on ${t.device}`, `a tensor on ${g.device}`);
  if (g.dtype !== t.dtype) return { grad: g.to(t.dtype), made: true };
  return { grad: g, made: false };
}

const asList = <T>(x: T | readonly T[]): readonly T[] => (Array.isArray(x) ? (x as readonly T[]) : [x as T]);

function prepareRoots(outputs: readonly Tensor[], grads: readonly (Tensor | null | undefined)[], what: string, argument: string) {
  outputs.forEach((t: unknown, k) => {
    if (!(t instanceof Tensor)) throw new AutogradError(what, outputs.length > 1 ? `${argument}[${k}]` : argument, 'a Tensor', describeValue(t));
    // a disposed tensor's graph is still there, but using the tensor is an error everywhere else
    t.assertAlive(what);
  });
  if (grads.length > outputs.length) throw new AutogradError(what, 'grad', `at most one gradient per tensor (${outputs.length})`, `${grads.length} gradients`);
  const edges = outputs.map((t, k) => gradEdge(t, what, outputs.length > 1 ? `tensor ${k}` : 'the tensor'));
  const prepared = outputs.map((t, k) => rootGradient(t, grads[k], what));
  return { edges, grads: prepared.map((p) => p.grad), made: prepared.map((p) => p.made) };
}

/**
 * Computes the gradients of `tensors` (scalars, or with their gradients given) with respect to the
 * graph's leaves, adding them into the leaves' `.grad`.
 *
 * @example
 * ```ts
 * const w = tensor([1, 2, 3], { dtype: 'float32', requiresGrad: true });
 * backward(w.mul(w).sum());         // the same as w.mul(w).sum().backward()
 * w.grad!.toArray();                // [2, 4, 6]
 * ```
 */
export function backward(tensors: Tensor | readonly Tensor[], grads?: Tensor | readonly (Tensor | null | undefined)[] | null, options: BackwardOptions = {}): void {
  checkOptionKeys('backward', options, { retainGraph: true, createGraph: true });
  const outs = asList(tensors);
  const r = prepareRoots(outs, grads === undefined || grads === null ? [] : asList(grads), 'backward', 'tensors');
  execute(r.edges, r.grads, r.made, null, options);
}

/**
 * The gradients of `outputs` with respect to `inputs` (returned, not stored in `.grad`), as
 * torch.autograd.grad. `gradOutputs` may be left out for one-element outputs.
 *
 * @example
 * ```ts
 * const x = tensor([1, 2], { dtype: 'float64', requiresGrad: true });
 * const [dx] = grad(x.pow(3).sum(), x, null, { createGraph: true });   // 3x², differentiable again
 * const [d2x] = grad(dx!.sum(), x);                                     // 6x
 * ```
 */
export function grad(
  outputs: Tensor | readonly Tensor[],
  inputs: Tensor | readonly Tensor[],
  gradOutputs?: Tensor | readonly (Tensor | null | undefined)[] | null,
  options?: GradOptions & { allowUnused?: false },
): Tensor[];
export function grad(
  outputs: Tensor | readonly Tensor[],
  inputs: Tensor | readonly Tensor[],
  gradOutputs: Tensor | readonly (Tensor | null | undefined)[] | null | undefined,
  options: GradOptions,
): (Tensor | null)[];
export function grad(
  outputs: Tensor | readonly Tensor[],
  inputs: Tensor | readonly Tensor[],
  gradOutputs?: Tensor | readonly (Tensor | null | undefined)[] | null,
  options: GradOptions = {},
): (Tensor | null)[] {
  checkOptionKeys('grad', options, { retainGraph: true, createGraph: true, allowUnused: true });
  const outs = asList(outputs), ins = asList(inputs);
  const r = prepareRoots(outs, gradOutputs === undefined || gradOutputs === null ? [] : asList(gradOutputs), 'grad', 'outputs');
  const captures = ins.map((t, k) => {
    if (!(t instanceof Tensor) || !t.requiresGrad) throw new AutogradError({ op: 'grad', argument: `inputs[${k}]`, detail: `input ${k} does not require grad` });
    return gradEdge(t, 'grad', `input ${k}`);
  });
  const got = execute(r.edges, r.grads, r.made, captures, options);
  return ins.map((t, k) => {
    const g = got[k];
    if (g !== undefined) return g;
    if (options.allowUnused) return null;
    throw new AutogradError({
      op: 'grad', argument: `inputs[${k}]`,
      detail: `input ${k} (shape ${fmtShape(t.shape)}) was not used to compute the outputs; pass { allowUnused: true } to get null for it`,
    });
  });
}
