/**
 * Graph nodes. A node stands for one recorded op (or Function, or leaf accumulator); the tensors
 * the op produced point at it through `gradFn`/`outputNr`. Its edges lead to the nodes of the op's
 * inputs: `nextNodes[i]` receives input i's gradient in its slot `nextSlots[i]` (null: the input
 * needs no gradient). Sequence numbers give the order of creation; the engine runs the most recent
 * of the ready nodes first (as PyTorch's engine orders its ready queue).
 */
import { AutogradError, InternalError, type Device, type DType, type GradNode, type Tensor } from '@kiln/tensor';

/** A tensor hook: sees the gradient of a tensor, may return a replacement. */
export type GradHook = (grad: Tensor) => Tensor | void | undefined;

/** A hook run after a leaf's gradient was accumulated into its `.grad`; it receives the leaf. */
export type PostAccumulateGradHook = (leaf: Tensor) => void;

/** What a node may ask of the backward pass running it. */
export interface BackwardTask {
  /** The graph of the backward pass is recorded (higher-order derivatives). */
  readonly createGraph: boolean;
  /** True when `t` was made by this pass and nothing else will read it (AccumulateGrad may keep it). */
  isSoleOwner(t: Tensor): boolean;
  /** The pass will not dispose `t` (it now belongs to a tensor's .grad or to the caller). */
  disown(t: Tensor): void;
  /** Hands a gradient made before the pass (kept by a Function from its forward) to the pass, to dispose when used. */
  adopt(t: Tensor): void;
}

let nextSequenceNr = 0;

/**
 * Brings a view's history up to date when its base was changed in place after the view was made
 * (set by inplace.ts, which knows how; kept as a callback so this file does not import it).
 */
let refreshView: ((view: Tensor) => void) | null = null;
export function setViewRefresher(f: (view: Tensor) => void): void {
  refreshView = f;
}

/**
 * A node of the backward graph: one recorded op, Function call or leaf accumulator. `tensor.gradFn`
 * is the node that made the tensor.
 */
export abstract class Node implements GradNode {
  /** Creation order (the engine's tie-break among ready nodes). */
  readonly seq = nextSequenceNr++;
  /** e.g. 'MulBackward', 'AccumulateGrad', or a Function's '<Class>Backward'. */
  abstract readonly name: string;
  /** Per forward input: the node receiving its gradient (null: no gradient needed). */
  readonly nextNodes: (Node | null)[];
  /** Per forward input: which gradient slot (output number) of nextNodes[i]. */
  readonly nextSlots: number[];
  /** Per forward input needing a gradient: shape, dtype and device the gradient must have. */
  readonly inputShapes: (readonly number[] | null)[];
  /** Per forward input needing a gradient: the dtype its gradient must have. */
  readonly inputDtypes: (DType | null)[];
  /** Per forward input needing a gradient: the device its gradient must be on. */
  readonly inputDevices: (Device | null)[];
  /** Tensor hooks per gradient slot (registerHook on the tensor that is output `slot`). */
  hooks: Map<number, GradHook[]> | null = null;
  /** Non-leaf tensors whose .grad is kept (retainGrad), per slot; weak so the graph does not hold them. */
  retained: Map<number, WeakRef<Tensor>> | null = null;

  constructor(numInputs: number) {
    this.nextNodes = new Array<Node | null>(numInputs).fill(null);
    this.nextSlots = new Array<number>(numInputs).fill(0);
    this.inputShapes = new Array<readonly number[] | null>(numInputs).fill(null);
    this.inputDtypes = new Array<DType | null>(numInputs).fill(null);
    this.inputDevices = new Array<Device | null>(numInputs).fill(null);
  }

  /** Connects forward input i (a tensor that requires grad) to this node. */
  connect(i: number, input: Tensor): void {
    if (input.base !== null) refreshView?.(input);
    const gf = input.gradFn as Node | null;
    if (gf !== null) {
      this.nextNodes[i] = gf;
      this.nextSlots[i] = input.outputNr;
    } else {
      this.nextNodes[i] = accumulatorOf(input);
      this.nextSlots[i] = 0;
    }
    this.inputShapes[i] = input.shape;
    this.inputDtypes[i] = input.dtype;
    this.inputDevices[i] = input.device;
  }

  /** Connects forward input i to a given node and slot, with the gradient's expected metadata. */
  connectEdge(i: number, node: Node, slot: number, shape: readonly number[], dtype: DType, device: Device): void {
    this.nextNodes[i] = node;
    this.nextSlots[i] = slot;
    this.inputShapes[i] = shape;
    this.inputDtypes[i] = dtype;
    this.inputDevices[i] = device;
  }

  /** True when forward input i gets a gradient. */
  needsInputGrad(i: number): boolean {
    return this.nextNodes[i] !== null;
  }

  /**
   * Gradients of the forward inputs from the gradients of the outputs (`grads[slot]`, undefined
   * where none arrived). Entries for inputs that need no gradient are ignored.
   */
  abstract apply(grads: (Tensor | undefined)[], task: BackwardTask): (Tensor | null | undefined)[];

  /** Frees what was saved for backward (after a pass without retainGraph). */
  release(): void {}

  /** Adds a hook on the gradient of output `slot`; returns the function that removes it. */
  addHook(slot: number, hook: GradHook): () => void {
    this.hooks ??= new Map();
    let list = this.hooks.get(slot);
    if (!list) this.hooks.set(slot, (list = []));
    list.push(hook);
    return () => {
      const l = this.hooks?.get(slot);
      const k = l ? l.indexOf(hook) : -1;
      if (k >= 0) l!.splice(k, 1);
    };
  }
}

/**
 * The node of a leaf tensor that requires grad: adds the gradient it receives into `.grad`. One per
 * leaf (kept in a WeakMap), so every use of the leaf sends its gradient to the same place.
 */
export class AccumulateGrad extends Node {
  readonly name = 'AccumulateGrad';
  /** Called with the leaf after each accumulation into its .grad (registerPostAccumulateGradHook). */
  postHooks: PostAccumulateGradHook[] | null = null;
  /**
   * Accumulators run as soon as they are ready (as in PyTorch), so a gradient added into an
   * existing .grad is freed at once.
   */
  override readonly seq = Number.MAX_SAFE_INTEGER;
  constructor(readonly variable: Tensor) {
    super(0);
  }
  apply(): (Tensor | null | undefined)[] {
    // The engine accumulates itself (engine.ts `accumulate`), as it decides whether to hand over its tensor.
    throw new InternalError({ op: 'AccumulateGrad.apply', detail: 'not called directly (the engine accumulates itself)' });
  }
}

const accumulators = new WeakMap<Tensor, AccumulateGrad>();

/** The AccumulateGrad node of a leaf tensor (created on first use). */
export function accumulatorOf(leaf: Tensor): AccumulateGrad {
  let acc = accumulators.get(leaf);
  if (!acc) {
    acc = new AccumulateGrad(leaf);
    accumulators.set(leaf, acc);
  }
  return acc;
}

/** The node and slot that receive a tensor's gradient; throws if it does not require grad. */
export function gradEdge(t: Tensor, op: string, what = 'the tensor'): [Node, number] {
  if (t.base !== null) refreshView?.(t);
  if (t.gradFn !== null) return [t.gradFn as Node, t.outputNr];
  if (t.requiresGrad) return [accumulatorOf(t), 0];
  throw new AutogradError({ op, detail: `${what} does not require grad and does not have a gradFn` });
}

const names = new Map<string, string>();

/** 'log_softmax' -> 'LogSoftmaxBackward' (the name PyTorch gives its nodes, without the 0). */
export function backwardName(op: string): string {
  let n = names.get(op);
  if (n === undefined) {
    n = op.split('_').map((w) => w.charAt(0).toUpperCase() + w.slice(1)).join('') + 'Backward';
    names.set(op, n);
  }
  return n;
}
