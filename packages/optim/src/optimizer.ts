/**
 * The Optimizer base class (PyTorch's torch.optim.Optimizer): parameter groups with their own
 * hyper-parameters, per-parameter state, zeroGrad, and a step() that updates every parameter that
 * has a gradient, in place and without recording (autograd's noGrad), disposing its temporaries.
 */
import { DisposedError, ShapeError, Tensor, ValueError, describeValue, fmtShape, isFloating, keep, recordFunction, tidy } from '@kiln/tensor';
import { noGrad, zeroGrad } from '@kiln/autograd';
import { type FusedKernel, runFused, splitByKernel } from './fused/multi-tensor.js';

/** The parameters of one group and, optionally, hyper-parameters that override the defaults. */
export type ParamGroupInput<O> = {
  /** The group's parameters. */
  params: Iterable<Tensor>;
} & Partial<O>;

/** A parameter group as the optimizer holds it: every hyper-parameter resolved. */
export type ParamGroup<O> = O & {
  /** The group's parameters. */
  params: Tensor[];
  /** the lr the group started with (schedulers compute from it) */
  initialLr: number;
};

/** Per-parameter state: tensors (moments, momentum buffers) and numbers (step counts). */
export type ParamState = Record<string, Tensor | number>;

/** A parameter to update in a step: its gradient, its state, and its name in error messages. */
export interface ParamUpdate {
  /** The parameter. */
  param: Tensor;
  /** Its gradient (`param.grad`). */
  grad: Tensor;
  /** Its state (empty before its first step). */
  state: ParamState;
  /** 'params[i]', i its position in its group. */
  arg: string;
}

/**
 * An optimizer's state in PyTorch's shape (`optimizer.state_dict()`): the per-parameter state by
 * the parameter's index (counting through the groups in order), and each group's hyper-parameters
 * with the indices of its parameters. Kiln's names: `expAvg`, `expAvgSq`, `maxExpAvgSq`,
 * `momentumBuffer`, `step` (a number).
 */
export interface OptimizerStateDict {
  /** Index of a parameter -> its state (parameters without state have no entry). */
  state: Record<number, ParamState>;
  /** Each group's hyper-parameters (and `initialLr`) with its parameters' indices. */
  paramGroups: (Record<string, unknown> & {
    /** The indices of the group's parameters. */
    params: number[];
  })[];
}

/** The hyper-parameter every optimizer has (a type, not an interface: groups are read as records). */
export type LearningRate = {
  /** The learning rate. */
  lr: number;
};

/** @internal The options given a value: one given as undefined takes its default, as one not given (a JS habit). */
export function givenOptions<T extends object>(options: T | null | undefined): { [K in keyof T]: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(options ?? {}).filter(([, v]) => v !== undefined)) as { [K in keyof T]: Exclude<T[K], undefined> };
}

/**
 * The base class of optimizers (PyTorch's torch.optim.Optimizer): parameter groups with their own
 * hyper-parameters, per-parameter state, zeroGrad, and a step() that updates every parameter that
 * has a gradient in place, without recording, disposing its temporaries. A subclass implements
 * `update` for one parameter.
 *
 * @example
 * ```ts
 * const opt = new SGD(model.parameters(), { lr: 0.01, momentum: 0.9 });
 * loss.backward();
 * opt.step();
 * opt.zeroGrad();
 * ```
 */
export abstract class Optimizer<O extends LearningRate> {
  /** The parameter groups, each with its hyper-parameters (schedulers change their lr). */
  readonly paramGroups: ParamGroup<O>[] = [];
  /** Per-parameter state (moments, momentum buffers, step counts). */
  readonly state = new Map<Tensor, ParamState>();
  /** The hyper-parameters a group takes when it does not give them. */
  protected readonly defaults: O;
  /** The optimizer's name in error messages ('SGD', 'Adam', ...). */
  protected readonly name: string;

  /** Takes parameters (one group) or a list of groups, and the defaults of every hyper-parameter. */
  constructor(name: string, params: Iterable<Tensor> | readonly ParamGroupInput<O>[], defaults: O) {
    this.name = name;
    this.defaults = defaults;
    checkIterable(name, 'params', params);
    const list = [...(params as Iterable<Tensor | ParamGroupInput<O>>)];
    if (list.length === 0) throw new ValueError(name, 'params', 'a non-empty list of parameters or parameter groups', 'an empty list');
    const isGroup = (x: unknown): x is ParamGroupInput<O> => typeof x === 'object' && x !== null && 'params' in x && !('storage' in x);
    const groups = list.every(isGroup) ? list : [{ params: list as Tensor[] } as unknown as ParamGroupInput<O>];
    for (const g of groups) this.addParamGroup(g);
  }

  /** Adds a group of parameters (hyper-parameters not given take the optimizer's defaults). */
  addParamGroup(input: ParamGroupInput<O>): void {
    const { params, ...given } = input;
    const group = { ...this.defaults, ...givenOptions(given) } as O;
    this.validate(group);
    checkIterable(this.name, 'params', params);
    const list = [...params];
    const seen = new Set(this.paramGroups.flatMap((g) => g.params));
    list.forEach((p, i) => {
      const arg = `params[${i}]`;
      if (typeof p !== 'object' || p === null || !('storage' in p)) throw new ValueError(this.name, arg, 'a Tensor', String(p));
      // as PyTorch: a frozen parameter (requiresGrad false: a fine-tuned backbone's first layers) is
      // accepted and never updated, since it gets no gradient; only a computed tensor is refused
      if (!p.isLeaf) throw new ValueError(this.name, arg, 'a leaf tensor (a parameter, not the result of an op)', 'a non-leaf tensor');
      if (seen.has(p)) throw new ValueError(this.name, arg, 'a parameter in only one group', 'a parameter that appears twice');
      seen.add(p);
    });
    this.paramGroups.push({ ...group, params: list, initialLr: group.lr });
  }

  /**
   * The optimizer's state (PyTorch's `state_dict()`): per-parameter state by index and the groups'
   * hyper-parameters. Its tensors are the optimizer's own, not copies: save them (`saveCheckpoint`),
   * do not change or dispose them.
   *
   * @example
   * ```ts
   * saveCheckpoint('ckpt.safetensors', { model: model.stateDict(), optimizer: optimizer.stateDict() });
   * ```
   */
  stateDict(): OptimizerStateDict {
    const index = new Map<Tensor, number>();
    const paramGroups = this.paramGroups.map((g) => {
      const { params, ...hyper } = g;
      const copy = Object.fromEntries(Object.entries(hyper).map(([k, v]) => [k, Array.isArray(v) ? [...(v as unknown[])] : v]));
      return { ...copy, params: params.map((p) => { index.set(p, index.size); return index.size - 1; }) };
    });
    const state: Record<number, ParamState> = {};
    for (const [p, st] of this.state) {
      const i = index.get(p);
      if (i !== undefined && Object.keys(st).length > 0) state[i] = { ...st };
    }
    return { state, paramGroups };
  }

  /**
   * Restores a state from `stateDict()` (of an optimizer of the same class over parameters of
   * the same shapes, in the same groups): the groups' hyper-parameters (lr included) and each
   * parameter's state, copied onto the parameter's device (floating state in its dtype, as
   * PyTorch does). Everything is checked before anything changes: a mismatch is an error and the
   * optimizer is left as it was.
   *
   * @example
   * ```ts
   * const ckpt = loadCheckpoint('ckpt.safetensors') as { optimizer: OptimizerStateDict };
   * optimizer.loadStateDict(ckpt.optimizer);
   * ```
   */
  loadStateDict(sd: OptimizerStateDict): void {
    const op = `${this.name}.loadStateDict`;
    if (!sd || !Array.isArray(sd.paramGroups) || typeof sd.state !== 'object' || sd.state === null) {
      throw new ValueError(op, 'stateDict', 'an object { state, paramGroups } from stateDict()', describeValue(sd));
    }
    if (sd.paramGroups.length !== this.paramGroups.length) {
      throw new ValueError(op, 'stateDict', `${this.paramGroups.length} parameter groups (the optimizer's)`, `${sd.paramGroups.length}`);
    }
    const params: Tensor[] = [];
    const groups = sd.paramGroups.map((saved, gi) => {
      const group = this.paramGroups[gi];
      if (!Array.isArray(saved.params) || saved.params.length !== group.params.length) {
        throw new ValueError(op, `stateDict.paramGroups[${gi}]`, `${group.params.length} parameters (the group's)`, `${Array.isArray(saved.params) ? saved.params.length : String(saved.params)}`);
      }
      saved.params.forEach((id, k) => {
        if (!Number.isInteger(id) || id < 0 || params[id] !== undefined) {
          throw new ValueError(op, `stateDict.paramGroups[${gi}].params[${k}]`, 'a parameter index not used before', String(id));
        }
        params[id] = group.params[k]!;
      });
      const merged = { ...group } as Record<string, unknown>;
      for (const key of Object.keys(group)) if (key !== 'params' && key in saved) merged[key] = saved[key];
      this.validate(merged as unknown as O);
      return merged;
    });
    const incoming = new Map<Tensor, [string, Tensor | number][]>();
    for (const [id, st] of Object.entries(sd.state)) {
      const p = params[Number(id)];
      if (!p) throw new ValueError(op, `stateDict.state[${id}]`, `the state of one of the ${params.length} parameters`, `index ${id}`);
      const entries = Object.entries(st).map(([key, v]: [string, unknown]): [string, Tensor | number] => {
        if (typeof v === 'number') return [key, v];
        if (!(v instanceof Tensor)) throw new ValueError(op, `stateDict.state[${id}].${key}`, 'a Tensor or a number', describeValue(v));
        if (v.shape.length !== p.shape.length || v.shape.some((n, d) => n !== p.shape[d])) {
          throw new ShapeError(op, `stateDict.state[${id}].${key}`, `the parameter's shape ${fmtShape(p.shape)}`, fmtShape(v.shape));
        }
        v.assertAlive(op);
        return [key, v];
      });
      this.validateState(Object.fromEntries(entries), `stateDict.state[${id}]`);
      incoming.set(p, entries);
    }
    // every check passed: replace the state and the hyper-parameters. Incoming tensors that are this
    // optimizer's own (from its stateDict()) are copied before the old state goes, the others after
    // (so that the old and the new state are not held at once)
    const own = new Set([...this.state.values()].flatMap((st) => Object.values(st)));
    const copies = new Map<Tensor, ParamState>();
    const copyEntries = (ownOnes: boolean) => {
      for (const [p, entries] of incoming) {
        const st = copies.get(p) ?? {};
        copies.set(p, st);
        for (const [key, v] of entries) {
          if (typeof v === 'number') st[key] = v;
          else if (own.has(v) === ownOnes) st[key] = keep(tidy(() => v.to({ device: p.device, dtype: isFloating(v.dtype) ? p.dtype : v.dtype }).clone()));
        }
      }
    };
    try {
      copyEntries(true);
      this.disposeState();
      copyEntries(false);
    } catch (e) {
      for (const st of copies.values()) for (const v of Object.values(st)) if (v instanceof Tensor) v.dispose();
      throw e;
    }
    // (in the incoming order of keys, as a checkpoint round trip keeps them)
    for (const [p, entries] of incoming) this.state.set(p, Object.fromEntries<Tensor | number>(entries.map(([key]) => [key, copies.get(p)![key]])));
    groups.forEach((g, gi) => Object.assign(this.paramGroups[gi], g, { params: this.paramGroups[gi].params }));
  }

  /** Checks the hyper-parameters of a group (ValueError naming the one out of range). */
  protected validate(group: O): void {
    nonNegative(this.name, 'lr', group.lr);
  }

  /**
   * Checks one parameter's state given to loadStateDict (`where` names it in errors): a subclass
   * refuses what its update could not go on from (Adam: a step count with its moments missing).
   */
  protected validateState(_state: Readonly<Record<string, Tensor | number>>, _where: string): void {}

  /**
   * Clears the gradients of every parameter: disposes them and sets them to null (default), or
   * zeroes them in place. Disposing frees their memory at once, so a loop that calls zeroGrad every
   * step stays flat; clone a gradient to keep it past this call.
   */
  zeroGrad(setToNone = true): void {
    zeroGrad(this.paramGroups.flatMap((g) => g.params), setToNone);
  }

  /**
   * Frees the state's tensors (Adam's moments, ...) and forgets the state, as a later step starts
   * it again: when done with an optimizer, its memory comes back at once rather than at a
   * collection. (loadStateDict replaces the state this way.)
   *
   * @example
   * ```ts
   * for (let i = 0; i < steps; i++) tidy(() => { loss().backward(); opt.step(); opt.zeroGrad(); });
   * opt.disposeState();
   * ```
   */
  disposeState(): void {
    for (const st of this.state.values()) for (const v of Object.values(st)) if (typeof v !== 'number') v.dispose();
    this.state.clear();
  }

  /** One update of every parameter that has a gradient (a profiler range named `<Name>.step`). */
  step(): void {
    recordFunction(`${this.name}.step`, () => this.stepAll());
  }

  private stepAll(): void {
    noGrad(() => {
      for (const group of this.paramGroups) {
        const updates: ParamUpdate[] = [];
        group.params.forEach((param, i) => {
          // a disposed parameter has no gradient either: skipping it would make the step a silent no-op
          if (param.isDisposed) {
            throw new DisposedError({
              op: `${this.name}.step`, argument: `params[${i}]`,
              detail: `params[${i}] was disposed (Module.to() replaces a module's parameters with new ones: create the optimizer after moving the model)`,
            });
          }
          const grad = param.grad;
          if (!grad) return;
          let state = this.state.get(param);
          if (!state) this.state.set(param, (state = {}));
          updates.push({ param, grad, state, arg: `params[${i}]` });
        });
        if (updates.length > 0) this.stepGroup(group, updates);
      }
    });
  }

  /**
   * Updates the parameters of one group that have a gradient (runs inside noGrad): those on a device
   * whose addon has the group's fused kernel (see `fusedKernel`) several per launch, the others with
   * `update`, each in a tidy scope of its own.
   */
  protected stepGroup(group: ParamGroup<O>, updates: readonly ParamUpdate[]): void {
    const kernel = this.fusedKernel(group);
    let composed = updates;
    if (kernel !== null) {
      const [fused, rest] = splitByKernel(kernel.name, updates);
      if (fused.length > 0) runFused(this.name, kernel, fused);
      composed = rest;
    }
    for (const u of composed) tidy(() => this.update(u.param, u.grad, group, u.state));
  }

  /** The native kernel that updates a group's parameters, or null for the composed ops of `update`. */
  protected fusedKernel(_group: ParamGroup<O>): FusedKernel | null {
    return null;
  }

  /**
   * Updates p in place from its gradient, with the optimizer's composed ops. Runs inside noGrad
   * and tidy: temporaries are disposed; tensors stored in `state` must be kept with `remember`.
   */
  protected abstract update(p: Tensor, grad: Tensor, group: ParamGroup<O>, state: ParamState): void;

  /** Stores a state tensor so it outlives the step's tidy scope. */
  protected remember(state: ParamState, key: string, t: Tensor): Tensor {
    state[key] = keep(t);
    return t;
  }
}

/** Throws a ValueError naming `arg` unless v is a finite number >= 0. */
export function nonNegative(op: string, arg: string, v: number): void {
  if (typeof v !== 'number' || !(v >= 0) || !Number.isFinite(v)) throw new ValueError(op, arg, 'a finite number >= 0', String(v));
}

/** Throws a ValueError naming `arg` unless v is true or false (the `fused` option). */
export function isBoolean(op: string, arg: string, v: unknown): void {
  if (typeof v !== 'boolean') throw new ValueError(op, arg, 'true or false', String(v));
}

/** Throws a ValueError naming `arg` unless v can be spread (`[...params]` of a non-iterable is a TypeError). */
export function checkIterable(op: string, arg: string, v: unknown): void {
  if (typeof (v as Iterable<unknown> | null | undefined)?.[Symbol.iterator] !== 'function' || typeof v === 'string') {
    throw new ValueError(op, arg, 'an iterable of tensors (an array, a generator, module.parameters())', describeValue(v));
  }
}

/** Throws a ValueError naming `arg` unless v is in [0, 1). */
export function inUnitInterval(op: string, arg: string, v: number): void {
  if (typeof v !== 'number' || !(v >= 0 && v < 1)) throw new ValueError(op, arg, 'a number in [0, 1)', String(v));
}
