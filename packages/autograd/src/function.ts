/**
 * The extension API, as PyTorch's torch.autograd.Function, with a typed ctx: a subclass of
 * `Function<Ctx>` gives a static `forward(ctx: Ctx, ...args)` and a static
 * `backward(ctx: Ctx, ...gradOutputs)` and is called through `apply`. `Ctx` says what forward
 * keeps for backward: the tensors it saves (`FunctionCtx<[Tensor]>`) and any other state as
 * declared properties, so backward reads them typed (PyTorch's ctx is untyped):
 *
 * ```ts
 * interface SquareCtx extends FunctionCtx<[Tensor]> { scale: number }
 * class Square extends Function<SquareCtx> {
 *   static override forward(ctx: SquareCtx, x: Tensor, scale: number): Tensor {
 *     ctx.saveForBackward(x);
 *     ctx.scale = scale;
 *     return x.mul(x).mul(scale);
 *   }
 *   static override backward(ctx: SquareCtx, g: Tensor): Tensor {
 *     const [x] = ctx.savedTensors;                   // Tensor
 *     return g.mul(x).mul(2 * ctx.scale);              // the gradient of `scale` may be omitted
 *   }
 * }
 * const y = Square.apply(x, 3);
 * ```
 *
 * forward runs with grad mode off. backward returns one gradient per argument of apply, in order
 * (null/undefined for no gradient; trailing non-tensor arguments may be left out); it runs with grad
 * mode on when the pass has createGraph, so a backward written with tensor ops is differentiable
 * again, unless the class sets `static override readonly onceDifferentiable = true`. As in tidy,
 * tensors backward makes and does not return are disposed when it returns (keep() one to hold it).
 */
import { AutogradError, type AutocastPolicy, type OpSchema, Tensor, autocastCall, describeValue, isFloating, zeros } from '@kiln/tensor';
import { isGradEnabled, withGradMode } from './grad-mode.js';
import { noteView, rebaseHistory } from './inplace.js';
import { type BackwardTask, Node } from './node.js';
import { type TensorMeta, metaOf } from './op-node.js';
import { checkSavedVersion, freedError } from './saved.js';
import { sameImplicitGradient } from './implicit-gradient.js';

/** What a Function may save for backward: a tensor, or null/undefined for an absent optional one. */
export type SavedTensor = Tensor | null | undefined;

/**
 * The `ctx` of a Function: the tensors forward saves (typed by `Saved`, e.g. `[Tensor, Tensor |
 * undefined]`), flags, and the methods forward calls to describe its outputs. State other than
 * tensors goes in properties that a subclass's ctx type declares:
 * `interface MyCtx extends FunctionCtx<[Tensor]> { scale: number }`.
 */
export class FunctionCtx<Saved extends readonly SavedTensor[] = readonly SavedTensor[]> {
  /** One flag per argument of apply: true when that argument is a tensor that needs a gradient. */
  readonly needsInputGrad: readonly boolean[];
  /** @internal */ _saved: readonly SavedTensor[] = [];
  /** @internal versions of the saved tensors once forward returned (null during forward) */
  _savedVersions: number[] | null = null;
  /** @internal */ _freed = false;
  /** @internal */ _name: string;
  /** @internal */ _nonDifferentiable: Set<Tensor> | null = null;
  /** @internal */ _dirty: Set<Tensor> | null = null;
  /** @internal */ _materializeGrads = true;

  /** @internal made by apply */
  constructor(needsInputGrad: readonly boolean[], name: string) {
    this.needsInputGrad = needsInputGrad;
    this._name = name;
  }

  /** Keeps tensors (inputs or outputs) for backward; backward reads them as `ctx.savedTensors`. */
  saveForBackward(...tensors: Saved): void {
    tensors.forEach((t: unknown, k) => {
      if (t !== null && t !== undefined && !(t instanceof Tensor)) throw new AutogradError(`${this._name}.saveForBackward`, `tensors[${k}]`, 'a Tensor, null or undefined (save other values on ctx)', describeValue(t));
    });
    this._saved = tensors;
  }

  /**
   * The tensors given to saveForBackward, in order. An error if one was modified in place since
   * forward, or if a backward pass without retainGraph already freed them.
   */
  get savedTensors(): Saved {
    if (this._freed) throw freedError(this._name);
    const versions = this._savedVersions;
    if (versions !== null) {
      this._saved.forEach((t, k) => {
        if (t instanceof Tensor) checkSavedVersion(t, versions[k], String(k), this._name);
      });
    }
    return this._saved as Saved;
  }

  /** Outputs that get no gradient (indices, masks): they do not require grad. */
  markNonDifferentiable(...outputs: Tensor[]): void {
    this._nonDifferentiable ??= new Set();
    for (const t of outputs) this._nonDifferentiable.add(t);
  }

  /** Inputs that forward modified in place (and returns): their history is rebased onto this Function. */
  markDirty(...tensors: Tensor[]): void {
    this._dirty ??= new Set();
    for (const t of tensors) this._dirty.add(t);
  }

  /** Whether missing output gradients reach backward as zeros (default true) or as undefined. */
  setMaterializeGrads(value: boolean): void {
    this._materializeGrads = value;
  }
}

/** What backward returns: one gradient, or one per argument of apply. */
export type BackwardResult = Tensor | null | undefined | readonly (Tensor | null | undefined)[];

/** The arguments of a Function subclass's apply: those of its forward after ctx. */
export type ArgsOf<F> = F extends {
  /** The subclass's static forward. */
  forward(ctx: never, ...args: infer A): unknown;
} ? A : never;
/** What a Function subclass's apply returns: what its forward returns. */
export type ResultOf<F> = F extends {
  /** The subclass's static forward. */
  forward(ctx: never, ...args: never[]): infer R;
} ? R : never;

/** The static side every Function subclass has (what apply is called on). */
export interface FunctionClass {
  /** The subclass's forward. */
  forward(ctx: never, ...args: never[]): Tensor | Tensor[];
  /** The subclass's backward. */
  backward(ctx: never, ...gradOutputs: never[]): BackwardResult;
  /** Whether backward may be differentiated. */
  readonly onceDifferentiable: boolean;
  /** The class's name (its node is `<name>Backward`). */
  readonly name: string;
  /** Instances carry the declared ctx type. */
  readonly prototype: Function;
}

/**
 * `unknown` when forward and backward both take exactly the ctx type `C` the class declares with
 * `Function<C>`, else a type naming the mismatch, so that apply does not compile: what forward
 * saves is then what backward reads. (Exact type equality: the `<T>() => T extends X` form compares
 * two types without the bivariance of method parameters.)
 */
export type CtxCheck<F extends FunctionClass> = F extends {
  /** The class's instances: a `Function<C>`, C the ctx type it declares. */
  prototype: Function<infer C>;
}
  ? (<T>() => T extends (F['forward'] extends (ctx: infer P, ...rest: never[]) => unknown ? P : never) ? 1 : 2) extends (<T>() => T extends C ? 1 : 2)
    ? (<T>() => T extends (F['backward'] extends (ctx: infer P, ...rest: never[]) => unknown ? P : never) ? 1 : 2) extends (<T>() => T extends C ? 1 : 2)
      ? unknown
      : {
        /** backward takes another ctx type than Function<Ctx> declares */
        'backward must take the ctx type declared by Function<Ctx>': C;
      }
    : {
      /** forward takes another ctx type than Function<Ctx> declares */
      'forward must take the ctx type declared by Function<Ctx>': C;
    }
  : never;

/**
 * Base class of custom differentiable functions, as PyTorch's torch.autograd.Function, with a typed
 * ctx. A subclass of `Function<Ctx>` defines a static `forward(ctx: Ctx, ...args)` (run with grad
 * mode off) and a static `backward(ctx: Ctx, ...gradOutputs)` returning one gradient per argument
 * of `apply` (null for none), and is called through `apply`. `Ctx` is `FunctionCtx<Saved>`
 * (the types of the saved tensors) extended with the state forward keeps for backward; apply
 * does not compile when forward or backward takes another ctx type. See docs/custom-functions.md.
 *
 * @example
 * ```ts
 * interface SquareCtx extends FunctionCtx<[Tensor]> { scale: number }
 * class Square extends Function<SquareCtx> {
 *   static override forward(ctx: SquareCtx, x: Tensor, scale: number): Tensor {
 *     ctx.saveForBackward(x);
 *     ctx.scale = scale;
 *     return x.mul(x).mul(scale);
 *   }
 *   static override backward(ctx: SquareCtx, g: Tensor): Tensor {
 *     const [x] = ctx.savedTensors;
 *     return g.mul(x).mul(2 * ctx.scale);             // the gradient of `scale` may be omitted
 *   }
 * }
 * const y = Square.apply(x, 3);
 * ```
 */
export class Function<Ctx extends FunctionCtx = FunctionCtx> {
  /** @internal the ctx type forward and backward take; never set (types only) */
  declare readonly ctxType?: Ctx;

  /** Computes the outputs; runs with grad mode off. Override it. */
  static forward(_ctx: FunctionCtx, ..._args: never[]): Tensor | Tensor[] {
    throw new AutogradError({ op: this.name, detail: 'a Function subclass must define static forward(ctx, ...args)' });
  }

  /** Gradients of the arguments of apply from the gradients of the outputs. Override it. */
  static backward(_ctx: FunctionCtx, ..._gradOutputs: never[]): BackwardResult {
    throw new AutogradError({ op: this.name, detail: 'a Function subclass must define static backward(ctx, ...gradOutputs)' });
  }

  /** Set to true when backward is not differentiable itself (PyTorch's @once_differentiable). */
  static readonly onceDifferentiable: boolean = false;

  /**
   * What an autocast scope does to apply's tensor arguments, as an op's declared policy (PyTorch's
   * `custom_fwd(cast_inputs=torch.float32)` is 'float32'); undefined leaves them as they are.
   */
  static readonly autocast: AutocastPolicy | undefined = undefined;

  /** Runs forward and, when grad mode is on and a tensor argument requires grad, records the call. */
  static apply<F extends FunctionClass>(this: F & CtxCheck<F>, ...args: ArgsOf<F>): ResultOf<F> {
    const cls = this as unknown as AnyFunctionClass;
    if (cls.autocast === undefined) return applyFunction(cls, args) as ResultOf<F>;
    const schema: OpSchema = { name: cls.name, inputs: [], differentiable: true, autocast: cls.autocast };
    return autocastCall(schema, args as readonly unknown[], (...cast) => applyFunction(cls, cast)) as ResultOf<F>;
  }
}

/** A Function subclass as the engine calls it: forward and backward on any arguments. */
interface AnyFunctionClass {
  readonly name: string;
  readonly onceDifferentiable: boolean;
  readonly autocast: AutocastPolicy | undefined;
  forward(ctx: FunctionCtx, ...args: unknown[]): Tensor | Tensor[];
  backward(ctx: FunctionCtx, ...gradOutputs: (Tensor | undefined)[]): BackwardResult;
}

const backwardNameOf = (cls: AnyFunctionClass): string => `${cls.name || 'Function'}Backward`;

function applyFunction(cls: AnyFunctionClass, args: readonly unknown[]): Tensor | Tensor[] {
  const recording = isGradEnabled() && args.some((a) => a instanceof Tensor && a.requiresGrad);
  const needs = args.map((a) => recording && a instanceof Tensor && a.requiresGrad);
  const ctx = new FunctionCtx(needs, backwardNameOf(cls));
  const raw = withGradMode(false, () => cls.forward(ctx, ...args));
  const outputs = Array.isArray(raw) ? [...raw] : [raw];
  outputs.forEach((o, k) => {
    if (!(o instanceof Tensor)) throw new AutogradError({
      op: `${cls.name}.forward`, expected: 'a Tensor or an array of Tensors as its result', got: `${String(o)} as output ${k}`,
      message: `${cls.name}.forward must return a Tensor or an array of Tensors; output ${k} is ${String(o)}`,
    });
  });
  if (!recording) return raw;

  const node = new FunctionNode(cls, ctx, args, outputs);
  outputs.forEach((orig, k) => {
    if (ctx._dirty?.has(orig)) {
      if (!args.includes(orig)) throw new AutogradError({ op: cls.name, argument: 'markDirty', detail: `markDirty was given output ${k}, which is not an argument of apply` });
      rebaseHistory(orig, node, k);
      return;
    }
    const nonDifferentiable = ctx._nonDifferentiable?.has(orig) ?? false;
    // an input returned as is gets a new tensor object, so its own history stays as it was
    const o = args.includes(orig) ? (outputs[k] = aliasOf(orig)) : orig;
    if (nonDifferentiable || !isFloating(o.dtype)) return;
    o.gradFn = node;
    o.outputNr = k;
    o.setRequiresGradInternal(true);
    if (o.base !== null) noteView(o);
  });
  ctx._savedVersions = ctx._saved.map((t) => (t instanceof Tensor ? t.storage.version : -1));
  return Array.isArray(raw) ? outputs : outputs[0];
}

/** True when one of ctx's own properties is `t` or an array holding it (state the caller keeps). */
function heldBy(ctx: FunctionCtx, t: Tensor): boolean {
  return Object.values(ctx).some((v: unknown) => v === t || (Array.isArray(v) && v.includes(t)));
}

/** A new tensor object over the same elements, with no history. */
export function aliasOf(t: Tensor): Tensor {
  const a = new Tensor(t.storage, [...t.shape], [...t.strides], t.offset, t.dtype);
  return sameImplicitGradient(a, t);
}

/** The graph node of one Function call. */
class FunctionNode extends Node {
  readonly name: string;
  private readonly isTensorArg: boolean[];
  private readonly outputMeta: TensorMeta[];

  constructor(
    private readonly cls: AnyFunctionClass,
    private readonly ctx: FunctionCtx,
    args: readonly unknown[],
    outputs: readonly Tensor[],
  ) {
    super(args.length);
    this.name = backwardNameOf(cls);
    this.isTensorArg = args.map((a) => a instanceof Tensor);
    args.forEach((a, i) => {
      if (ctx.needsInputGrad[i]) this.connect(i, a as Tensor);
    });
    this.outputMeta = outputs.map(metaOf);
  }

  apply(grads: (Tensor | undefined)[], task: BackwardTask): (Tensor | null | undefined)[] {
    const ctx = this.ctx;
    // (a second pass without retainGraph fails where backward reads ctx.savedTensors, as in PyTorch)
    const gs = this.outputMeta.map((m, k) => {
      const g = grads[k];
      if (g !== undefined || !ctx._materializeGrads) return g;
      return zeros(m.shape, { dtype: m.dtype, device: m.device });
    });
    const once = task.createGraph && this.cls.onceDifferentiable;
    const result = once ? withGradMode(false, () => this.cls.backward(ctx, ...gs)) : this.cls.backward(ctx, ...gs);
    const list: readonly unknown[] = Array.isArray(result) ? result : [result];
    const n = this.nextNodes.length;
    if (list.length > n) {
      throw new AutogradError({ op: this.name, detail: `backward returned ${list.length} gradients, but apply was called with ${n} arguments` });
    }
    for (let i = 0; i < n; i++) {
      const g = list[i];
      if (g === null || g === undefined) {
        if (i >= list.length && this.needsInputGrad(i)) {
          throw new AutogradError({
            op: this.name,
            detail: `backward returned ${list.length} gradients, but argument ${i} of apply is a tensor that requires grad (return null for no gradient)`,
          });
        }
        continue;
      }
      if (!(g instanceof Tensor)) throw new AutogradError({ op: this.name, detail: `backward returned a non-tensor gradient at position ${i}: ${describeValue(g)}` });
      if (!this.isTensorArg[i]) throw new AutogradError({ op: this.name, detail: `backward returned a gradient at position ${i}, but argument ${i} of apply is not a tensor` });
    }
    const out = list.slice(0, n) as (Tensor | null | undefined)[];
    if (!task.createGraph) this.handOver(out, gs, task);
    return once ? this.delayError(out, gs) : out;
  }

  /**
   * A gradient backward did not make but had kept from forward (a fused kernel's gradient stashed
   * on ctx and released there) is handed to the engine, which disposes it once used, or keeps it as
   * a leaf's .grad without a copy. Tensors still reachable from ctx, the saved tensors and the
   * incoming gradients stay the caller's. (Tensors backward made are the engine's anyway.)
   */
  private handOver(out: readonly (Tensor | null | undefined)[], gradOutputs: readonly (Tensor | undefined)[], task: BackwardTask): void {
    const ctx = this.ctx;
    for (const g of out) {
      if (g instanceof Tensor && !gradOutputs.includes(g) && !ctx._saved.includes(g) && !heldBy(ctx, g)) task.adopt(g);
    }
  }

  /** createGraph through a once-differentiable Function: gradients that raise if differentiated. */
  private delayError(out: (Tensor | null | undefined)[], gradOutputs: readonly (Tensor | undefined)[]): (Tensor | null | undefined)[] {
    const message =
      `${this.cls.name} is once-differentiable (static onceDifferentiable = true): its backward cannot be differentiated, ` +
      `but a gradient computed with createGraph through ${this.name} is being differentiated`;
    const err = new DelayedError(this.cls.name, message, this, gradOutputs);
    return out.map((g, i) => {
      if (!(g instanceof Tensor) || !isFloating(g.dtype)) return g;
      const w = aliasOf(g);
      w.gradFn = err;
      w.outputNr = i;
      w.setRequiresGradInternal(true);
      return w;
    });
  }

  override release(): void {
    this.ctx._freed = true;
    this.ctx._saved = [];
  }
}

/** Raises its error when a backward pass reaches it (differentiating a once-differentiable backward). */
class DelayedError extends Node {
  readonly name = 'DelayedError';
  constructor(
    private readonly op: string,
    private readonly message: string,
    fn: Node,
    gradOutputs: readonly (Tensor | undefined)[],
  ) {
    const extra = gradOutputs.filter((g): g is Tensor => g !== undefined && g.requiresGrad);
    super(fn.nextNodes.length + extra.length);
    fn.nextNodes.forEach((m, i) => {
      if (m !== null) this.connectEdge(i, m, fn.nextSlots[i], fn.inputShapes[i]!, fn.inputDtypes[i]!, fn.inputDevices[i]!);
    });
    extra.forEach((g, k) => this.connect(fn.nextNodes.length + k, g));
  }
  apply(): never {
    throw new AutogradError({ op: this.op, message: this.message });
  }
}
