/**
 * The derivative table: one entry per differentiable op of the tensor core, registered by the files
 * in derivatives/ with `defineDerivative`. An entry says what the op saves for backward and, for each
 * input by name, the gradient of that input as a function of the upstream gradient:
 *
 * ```ts
 * defineDerivative('mul', {
 *   save: ['input', 'other'],
 *   grads: {
 *     input: (c) => mul(c.grad, c.value('other')),
 *     other: (c) => mul(c.grad, c.value('input')),
 *   },
 * });
 * ```
 *
 * Formulas are written with tensor ops, so they run on every device and are recorded themselves when
 * backward runs with createGraph (higher derivatives). A formula may return a gradient of the
 * broadcast shape: the engine sums it down to the input's shape (and casts dtype and device), so an
 * identity derivative returns `c.grad` itself, with no copy.
 */
import { InternalError, type OpInput, type OpSchema, type Tensor } from '@kiln/tensor';

/** What a gradient formula reads: the upstream gradient, saved values, attributes, input metadata. */
export interface DerivativeContext {
  /** Gradient of output 0. */
  readonly grad: Tensor;
  /** Gradient of output i (zeros where none arrived). */
  gradOf(i: number): Tensor;
  /** A saved tensor ('input', 'other', ..., 'output', 'output1'), checked against in-place changes. */
  saved(name: string): Tensor;
  /** A saved input that may be a JS number (the scalar operand of mul(x, 2)). */
  value(name: string): OpInput;
  /**
   * The attributes the op recorded. Typed `any` on purpose: each formula reads them as its op's own
   * attributes type (`c.attrs as Conv2dAttrs`, `c.attrs.dim as number`).
   */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- deliberate, as documented above: each formula reads its op's own attrs type
  readonly attrs: Readonly<Record<string, any>>;
  /** Shape of an input (by name or position) that needs a gradient. */
  inputShape(name: string | number): readonly number[];
  /** True when input `name` (or index) needs a gradient. */
  needsGrad(name: string | number): boolean;
}

/** The gradient of one input. */
export type GradFormula = (c: DerivativeContext) => Tensor;
/** Gradients of all inputs by position (for ops with a variable number of inputs, like cat). */
export type PositionalGrads = (c: DerivativeContext) => readonly (Tensor | null | undefined)[];

/** A derivative table entry as written: what to save, and the gradient formulas. */
export interface DerivativeSpec {
  /**
   * Inputs (by name) and outputs ('output', 'output1', ...) to keep for backward. An input's name
   * wins over the output aliases.
   */
  readonly save?: readonly string[];
  /** The gradient of each input by name, or one function giving all of them by position. */
  readonly grads: Readonly<Record<string, GradFormula>> | PositionalGrads;
}

/** Where a saved value comes from. */
export interface SaveSource {
  /** The name the formula reads it by ('input', 'other', 'output', 'output1', ...). */
  readonly name: string;
  /** True for an output of the op, false for an input. */
  readonly output: boolean;
  /** The input's or output's position. */
  readonly index: number;
}

/** A table entry, resolved against its op's input names when the op is first recorded. */
export interface Derivative {
  /** The op's name. */
  readonly op: string;
  /** The entry as defineDerivative received it. */
  readonly spec: DerivativeSpec;
  /** The entry resolved against the op's schema (null until the op is first recorded). */
  resolved: {
    /** The op's declaration. */
    readonly schema: OpSchema;
    /** What is saved, in order. */
    readonly saves: readonly SaveSource[];
    /** name -> position in the saved list */
    readonly savedIndex: ReadonlyMap<string, number>;
    /** name -> input position */
    readonly inputIndex: ReadonlyMap<string, number>;
    /** per input position, its formula (undefined: not differentiable w.r.t. it) */
    readonly formulas: readonly (GradFormula | undefined)[];
  } | null;
}

const table = new Map<string, Derivative>();

/**
 * Registers the derivative of an op (once per op name): what to save, and each input's gradient as
 * a function of the upstream gradient `c.grad`, written with tensor ops.
 *
 * @example
 * ```ts
 * // d/dx x·σ(x) = σ(x)·(1 + x·(1 - σ(x)))
 * defineDerivative('silu', {
 *   save: ['input'],
 *   grads: {
 *     input: (c) => {
 *       const x = c.saved('input'), s = sigmoid(x);
 *       return mul(c.grad, mul(s, add(1, mul(x, sub(1, s)))));
 *     },
 *   },
 * });
 * ```
 */
export function defineDerivative(op: string, spec: DerivativeSpec): void {
  if (table.has(op)) throw new InternalError({ op: 'defineDerivative', argument: 'op', detail: `the derivative of '${op}' is defined twice` });
  table.set(op, { op, spec, resolved: null });
}

/** The table entry of an op, or undefined. */
export function derivativeOf(op: string): Derivative | undefined {
  return table.get(op);
}

/** Names of the ops that have a derivative. */
export function derivativeNames(): string[] {
  return [...table.keys()];
}

/** Resolves names against the op's inputs (once per op; the schema does not change). */
export function resolveDerivative(d: Derivative, schema: OpSchema): NonNullable<Derivative['resolved']> {
  if (d.resolved !== null) return d.resolved;
  const inputIndex = new Map(schema.inputs.map((n, i) => [n, i] as const));
  const saves: SaveSource[] = (d.spec.save ?? []).map((name) => {
    // an input's own name wins (softmax_backward has an input called 'output')
    const index = inputIndex.get(name);
    const m = /^output(\d*)$/.exec(name);
    if (index === undefined && m) return { name, output: true, index: m[1] === '' ? 0 : Number(m[1]) };
    if (index === undefined) {
      throw new InternalError({ op: 'defineDerivative', argument: 'save', expected: `an input of '${d.op}' (${schema.inputs.join(', ')}) or 'output'/'outputN'`, got: `'${name}'` });
    }
    return { name, output: false, index };
  });
  const formulas: (GradFormula | undefined)[] = [];
  if (typeof d.spec.grads !== 'function') {
    for (const [name, f] of Object.entries(d.spec.grads)) {
      const i = inputIndex.get(name);
      if (i === undefined) throw new InternalError({ op: 'defineDerivative', argument: 'grads', expected: `gradients for inputs of '${d.op}' (${schema.inputs.join(', ')})`, got: `a gradient for '${name}'` });
      formulas[i] = f;
    }
  }
  d.resolved = { schema, saves, savedIndex: new Map(saves.map((s, k) => [s.name, k])), inputIndex, formulas };
  return d.resolved;
}
