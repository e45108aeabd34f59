/**
 * The node of a recorded core op: holds the op's attributes and what its table entry saves, and
 * serves as the DerivativeContext its gradient formulas read (no per-call context object).
 */
import { AutogradError, InternalError, type OpInput, type OpSchema, Tensor, zeros } from '@kiln/tensor';
import { type Derivative, type DerivativeContext, resolveDerivative } from './derivative-table.js';
import { type BackwardTask, Node, backwardName } from './node.js';
import { checkSavedVersion, freedError } from './saved.js';

type Resolved = NonNullable<Derivative['resolved']>;

export class OpNode extends Node implements DerivativeContext {
  readonly name: string;
  private readonly resolved: Resolved | null;
  private savedValues: OpInput[] | null = null;
  private savedVersions: number[] | null = null;
  private released = false;
  /** Set while apply runs: the incoming gradients. */
  private current: (Tensor | undefined)[] | null = null;
  /** Output metadata, kept for ops with several outputs (zeros for the ones without a gradient). */
  private outputMeta: TensorMeta[] | null = null;

  constructor(
    readonly op: OpSchema,
    private readonly derivative: Derivative | undefined,
    readonly attrs: Readonly<Record<string, unknown>>,
    inputs: readonly OpInput[],
    outputs: readonly Tensor[],
  ) {
    super(inputs.length);
    this.name = backwardName(op.name);
    this.resolved = derivative ? resolveDerivative(derivative, op) : null;
    for (let i = 0; i < inputs.length; i++) {
      const t = inputs[i];
      if (t instanceof Tensor && t.requiresGrad) this.connect(i, t);
    }
    const saves = this.resolved?.saves;
    if (saves && saves.length > 0) {
      const values = new Array<OpInput>(saves.length);
      const versions = new Array<number>(saves.length);
      for (let k = 0; k < saves.length; k++) {
        const s = saves[k];
        const v = s.output ? outputs[s.index] : inputs[s.index];
        values[k] = v;
        versions[k] = v instanceof Tensor ? v.storage.version : -1;
      }
      this.savedValues = values;
      this.savedVersions = versions;
    }
    if (outputs.length > 1) this.outputMeta = outputs.map((o) => metaOf(o));
  }

  get grad(): Tensor {
    const g = this.current?.[0];
    return g ?? this.gradOf(0);
  }

  gradOf(i: number): Tensor {
    const g = this.current?.[i];
    if (g !== undefined) return g;
    const m = this.outputMeta?.[i];
    if (!m) throw new InternalError({ op: this.name, detail: `no gradient for output ${i}` });
    return zeros(m.shape, { dtype: m.dtype, device: m.device });
  }

  value(name: string): OpInput {
    const k = this.resolved?.savedIndex.get(name);
    if (k === undefined) throw new InternalError({ op: this.name, detail: `the derivative reads '${name}', which its table entry does not save` });
    if (this.released) throw freedError(this.name);
    const v = this.savedValues![k];
    if (v instanceof Tensor) checkSavedVersion(v, this.savedVersions![k], `'${name}'`, this.name);
    return v;
  }

  saved(name: string): Tensor {
    const v = this.value(name);
    if (!(v instanceof Tensor)) throw new InternalError({ op: this.name, detail: `saved '${name}' is ${String(v)}, not a tensor` });
    return v;
  }

  inputShape(name: string | number): readonly number[] {
    const i = typeof name === 'number' ? name : this.resolved!.inputIndex.get(name);
    const s = i === undefined ? null : this.inputShapes[i];
    if (!s) throw new InternalError({ op: this.name, detail: `the shape of input '${name}' was not recorded (it needs no gradient)` });
    return s;
  }

  needsGrad(name: string | number): boolean {
    const i = typeof name === 'number' ? name : this.resolved!.inputIndex.get(name);
    return i !== undefined && this.nextNodes[i] !== null;
  }

  apply(grads: (Tensor | undefined)[], _task: BackwardTask): (Tensor | null | undefined)[] {
    const r = this.resolved;
    if (r === null) {
      throw new AutogradError({
        op: this.name, message: `the derivative of '${this.op.name}' is not implemented (no entry in @kiln/autograd's derivative table)`,
      });
    }
    if (this.released && r.saves.length > 0) throw freedError(this.name);
    this.current = grads;
    try {
      const n = this.nextNodes.length;
      const spec = this.derivative!.spec.grads;
      if (typeof spec === 'function') return [...spec(this)].slice(0, n);
      const out = new Array<Tensor | undefined>(n);
      for (let i = 0; i < n; i++) {
        if (this.nextNodes[i] === null) continue;
        const f = r.formulas[i];
        if (!f) throw new AutogradError({
          op: this.name, argument: r.schema.inputs[i],
          message: `the derivative of '${this.op.name}' with respect to '${r.schema.inputs[i]}' is not implemented`,
        });
        out[i] = f(this);
      }
      return out;
    } finally {
      this.current = null;
    }
  }

  override release(): void {
    this.released = true;
    this.savedValues = null;
    this.savedVersions = null;
  }
}

/** Shape, dtype and device of a tensor, without holding its storage. */
export interface TensorMeta {
  readonly shape: readonly number[];
  readonly dtype: Tensor['dtype'];
  readonly device: Tensor['device'];
}

export function metaOf(t: Tensor): TensorMeta {
  return { shape: t.shape, dtype: t.dtype, device: t.device };
}
