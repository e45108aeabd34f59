/**
 * Module: the base class of layers and models (PyTorch's nn.Module). A module's parameters,
 * buffers and submodules are the values of its own properties — a Parameter, a BufferTensor, a
 * Module, or an array of them (named `key.i`) — found by walking the properties in assignment
 * order, so there is no registration call:
 *
 * ```ts
 * class Head extends Module {
 *   conv = new Conv2d(256, 256, 3, { padding: 1 });
 *   out = new Conv2d(256, 9, 3, { padding: 1 });
 *   forward(x: Tensor): Tensor { return this.out.call(this.conv.call(x).relu()); }
 * }
 * const head = new Head().to('cuda');
 * head.namedParameters();            // [['conv.weight', ...], ['conv.bias', ...], ['out.weight', ...], ...]
 * head.save('head.safetensors');
 * ```
 */
import {
  type DType, type DeviceLike, DTypeError, ShapeError, Tensor, ValueError, checkBoolean, checkOptionKeys, describeValue, device as toDevice, fmtShape, isDType, isFloating, isProfiling,
  recordFunction,
} from '@kiln/tensor';
import { noGrad, zeroGrad } from '@kiln/autograd';
import { BufferTensor, Parameter } from './parameter.js';
import { loadStateDictFile, saveStateDict } from './state-file.js';

/**
 * A member a module walks: its value and where it lives, `holder[key]` (the module itself, or an
 * array property of it), so that `to()` can replace it (replaceMember). No closure per member:
 * parameters() walks every member of every module, and a training loop calls it each step.
 */
interface Member {
  name: string;
  value: unknown;
  holder: Record<string, unknown> | unknown[];
  key: string | number;
}

function replaceMember(m: Member, v: unknown): void {
  (m.holder as Record<string | number, unknown>)[m.key] = v;
}

/** Options of `loadStateDict`. */
export interface LoadStateDictOptions {
  /** Require the keys to match exactly (default true); otherwise missing and unexpected keys are skipped. */
  strict?: boolean;
}

/** What `loadStateDict` did not match (empty lists when strict). */
export interface LoadStateDictResult {
  /** The module's keys the state dict had no entry for. */
  missingKeys: string[];
  /** The state dict's keys the module has no tensor for. */
  unexpectedKeys: string[];
}

/**
 * The base class of layers and models (PyTorch's nn.Module). Parameters, buffers and submodules
 * are found by walking the module's own properties (a Parameter, a BufferTensor, a Module, or an
 * array of them), so there is no registration call.
 *
 * @example
 * ```ts
 * class Head extends Module {
 *   conv = new Conv2d(256, 256, 3, { padding: 1 });
 *   out = new Conv2d(256, 9, 3, { padding: 1 });
 *   forward(x: Tensor): Tensor { return this.out.call(this.conv.call(x).relu()); }
 * }
 * const head = new Head();
 * head.namedParameters();            // [['conv.weight', ...], ['conv.bias', ...], ['out.weight', ...], ...]
 * ```
 */
export abstract class Module<In extends unknown[] = [Tensor], Out = Tensor> {
  /** Training mode (dropout active, batch norm using batch statistics); set with train()/eval(). */
  training = true;

  /** The computation; call it as `module.call(x)` or `module.forward(x)`. */
  abstract forward(...args: In): Out;

  /** Runs forward (while a profile records, as a range named `nn.Module: <class name>`). */
  call(...args: In): Out {
    if (!isProfiling()) return this.forward(...args);
    return recordFunction(`nn.Module: ${this.constructor.name}`, () => this.forward(...args));
  }

  /** Own properties, arrays expanded to `key.i`, with a setter for each slot. */
  private members(): Member[] {
    const out: Member[] = [];
    const self = this as unknown as Record<string, unknown>;
    for (const key of Object.keys(self)) {
      const v = self[key];
      if (Array.isArray(v)) {
        for (let i = 0; i < v.length; i++) out.push({ name: `${key}.${i}`, value: v[i], holder: v, key: i });
      } else {
        out.push({ name: key, value: v, holder: self, key });
      }
    }
    return out;
  }

  /** Direct submodules with their names. */
  namedChildren(): [string, Module<never[], unknown>][] {
    return this.members().filter((m) => m.value instanceof Module).map((m) => [m.name, m.value as Module<never[], unknown>]);
  }

  /** Direct submodules. */
  children(): Module<never[], unknown>[] {
    return this.namedChildren().map(([, m]) => m);
  }

  /** This module and every submodule, depth first, each once, with dotted names ('' for this one). */
  namedModules(prefix = '', seen = new Set<Module<never[], unknown>>()): [string, Module<never[], unknown>][] {
    const self = this as unknown as Module<never[], unknown>;
    if (seen.has(self)) return [];
    seen.add(self);
    const out: [string, Module<never[], unknown>][] = [[prefix, self]];
    for (const [name, child] of this.namedChildren()) out.push(...child.namedModules(prefix ? `${prefix}.${name}` : name, seen));
    return out;
  }

  /** This module and every submodule, depth first, each once. */
  modules(): Module<never[], unknown>[] {
    return this.namedModules().map(([, m]) => m);
  }

  /** Tensors of one kind held by this module and (when recurse) its submodules, each once. */
  private namedTensors<T extends Tensor>(kind: abstract new (...a: never[]) => T, recurse: boolean): [string, T][] {
    const seen = new Set<Tensor>();
    const out: [string, T][] = [];
    const mods = recurse ? this.namedModules() : [['', this] as [string, Module<never[], unknown>]];
    for (const [prefix, mod] of mods) {
      for (const m of mod.members()) {
        if (!(m.value instanceof kind) || seen.has(m.value)) continue;
        seen.add(m.value);
        out.push([prefix ? `${prefix}.${m.name}` : m.name, m.value]);
      }
    }
    return out;
  }

  /** Parameters with their dotted names ('layer1.conv.weight'), each once. */
  namedParameters(recurse = true): [string, Parameter][] {
    return this.namedTensors(Parameter, recurse);
  }

  /** Parameters of this module and (when recurse) its submodules, each once: what optimizers take. */
  parameters(recurse = true): Parameter[] {
    return this.namedParameters(recurse).map(([, p]) => p);
  }

  /** Buffers with their dotted names, each once. */
  namedBuffers(recurse = true): [string, BufferTensor][] {
    return this.namedTensors(BufferTensor, recurse);
  }

  /** Buffers (running statistics and other non-trained state), each once. */
  buffers(recurse = true): BufferTensor[] {
    return this.namedBuffers(recurse).map(([, b]) => b);
  }

  /**
   * Calls `fn` on every submodule and then this one, in PyTorch's `apply` order (each child's
   * subtree in order, then the module itself; a shared module once): custom initialisation, say.
   * Returns this module.
   *
   * @example
   * ```ts
   * model.apply((m) => { if (m instanceof Conv2d) init.normal_(m.weight, 0, 0.01); });
   * ```
   */
  apply(fn: (module: Module<never[], unknown>) => void): this {
    if (typeof fn !== 'function') throw new ValueError(`${this.constructor.name}.apply`, 'fn', 'a function of a module', describeValue(fn));
    this.visitPostOrder(fn, new Set());
    return this;
  }

  private visitPostOrder(fn: (module: Module<never[], unknown>) => void, seen: Set<Module<never[], unknown>>): void {
    const self = this as unknown as Module<never[], unknown>;
    if (seen.has(self)) return;   // a module shared by two parents: once
    seen.add(self);
    for (const child of this.children()) child.visitPostOrder(fn, seen);
    fn(self);
  }

  /**
   * Sets `requiresGrad` on every parameter of this module and its submodules (PyTorch's
   * `requires_grad_`): `backbone.requiresGrad_(false)` freezes a backbone, whose parameters then get
   * no gradient and which optimizers leave as they are. Returns this module.
   */
  requiresGrad_(requiresGrad = true): this {
    checkBoolean(`${this.constructor.name}.requiresGrad_`, 'requiresGrad', requiresGrad);
    for (const p of this.parameters()) p.requiresGrad_(requiresGrad);
    return this;
  }

  /** Sets training mode on this module and every submodule. */
  train(mode = true): this {
    checkBoolean(`${this.constructor.name}.train`, 'mode', mode);
    for (const m of this.modules()) m.training = mode;
    return this;
  }

  /** Evaluation mode: train(false). */
  eval(): this {
    return this.train(false);
  }

  /**
   * Moves parameters and buffers to a device and/or converts the floating ones to a dtype (integer
   * buffers keep theirs). Parameters are replaced by new Parameter objects (gradients move with
   * them): create optimizers after moving the model.
   */
  // eslint-disable-next-line @typescript-eslint/no-redundant-type-constituents -- DType is spelled out for readers: DeviceLike takes any string, and a dtype name ('float32') is told apart at run time
  to(target: DeviceLike | DType | { device?: DeviceLike; dtype?: DType }): this {
    const opts = typeof target === 'string' && isDType(target) ? { dtype: target }
      : typeof target === 'object' && target !== null && !('type' in target) ? target
      : { device: target };
    const dev = opts.device === undefined ? undefined : toDevice(opts.device);
    if (opts.dtype !== undefined && !isFloating(opts.dtype)) throw new DTypeError('Module.to', 'dtype', 'a floating dtype', opts.dtype);
    const convert = (t: Tensor): Tensor | null => {
      const dtype = opts.dtype !== undefined && isFloating(t.dtype) ? opts.dtype : t.dtype;
      if ((dev === undefined || dev === t.device) && dtype === t.dtype) return null;
      return t.to({ device: dev ?? t.device, dtype });
    };
    // a tensor shared by several modules (or slots) is converted once and stays shared
    const replaced = new Map<Tensor, Tensor>();
    noGrad(() => {
      for (const mod of this.modules()) {
        for (const m of mod.members()) {
          const old = m.value;
          if (!(old instanceof Parameter) && !(old instanceof BufferTensor)) continue;
          let next = replaced.get(old);
          if (next === undefined) {
            const moved = convert(old);
            if (moved === null) continue;
            if (old instanceof Parameter) {
              const np = Parameter.adopt(moved, old.requiresGrad);
              if (old.grad) np.grad = convert(old.grad) ?? old.grad;
              next = np;
            } else {
              next = BufferTensor.adopt(moved);
            }
            replaced.set(old, next);
          }
          replaceMember(m, next);
        }
      }
      for (const old of replaced.keys()) old.dispose();
    });
    return this;
  }

  /**
   * Clears the gradients of every parameter: disposes them and sets them to null (default), or
   * with setToNone = false fills them with zeros in place. Disposing frees their memory at once, so
   * a loop calling zeroGrad every step stays flat; clone a gradient to keep it past this call.
   */
  zeroGrad(setToNone = true): void {
    checkBoolean(`${this.constructor.name}.zeroGrad`, 'setToNone', setToNone);
    zeroGrad(this.parameters(), setToNone);
  }

  /**
   * Parameters and buffers by dotted name, each module's own (parameters, then buffers) before its
   * submodules', as PyTorch's state_dict. The module's own tensors, not copies: read them, do not
   * dispose them.
   */
  stateDict(): Record<string, Tensor> {
    const out: Record<string, Tensor> = {};
    const seen = new Set<Tensor>();
    for (const [prefix, mod] of this.namedModules()) {
      const own = mod.members();
      for (const kind of [Parameter, BufferTensor]) {
        for (const m of own) {
          if (!(m.value instanceof kind) || seen.has(m.value)) continue;
          seen.add(m.value);
          out[prefix ? `${prefix}.${m.name}` : m.name] = m.value;
        }
      }
    }
    return out;
  }

  /**
   * Copies values into the module's parameters and buffers, in place (converting device and dtype).
   * Every key and shape is checked before anything is written: a mismatch is an error naming the
   * key, and the module is left as it was.
   */
  loadStateDict(input: Readonly<Record<string, Tensor>>, options: LoadStateDictOptions = {}): LoadStateDictResult {
    checkOptionKeys('loadStateDict', options, { strict: true });
    const strict = checkBoolean('loadStateDict', 'strict', options.strict ?? true);
    const own = this.stateDict();
    const state = this.upgradedState(input);
    const missingKeys = Object.keys(own).filter((k) => !(k in state));
    const unexpectedKeys = Object.keys(state).filter((k) => !(k in own));
    if (strict && (missingKeys.length > 0 || unexpectedKeys.length > 0)) {
      const parts = [];
      if (missingKeys.length) parts.push(`missing keys ${missingKeys.map((k) => `'${k}'`).join(', ')}`);
      if (unexpectedKeys.length) parts.push(`unexpected keys ${unexpectedKeys.map((k) => `'${k}'`).join(', ')}`);
      throw new ValueError('loadStateDict', 'state', "the module's keys exactly (pass { strict: false } to load a subset)", parts.join('; '));
    }
    for (const [k, target] of Object.entries(own)) {
      const src: unknown = state[k];
      if (src === undefined) continue;
      if (!(src instanceof Tensor)) throw new ValueError('loadStateDict', `state['${k}']`, 'a Tensor', describeValue(src));
      src.assertAlive('loadStateDict');
      if (src.shape.length !== target.shape.length || src.shape.some((s, i) => s !== target.shape[i])) {
        throw new ShapeError('loadStateDict', `state['${k}']`, `shape ${fmtShape(target.shape)} (the module's)`, fmtShape(src.shape));
      }
      if (isFloating(src.dtype) !== isFloating(target.dtype)) {
        throw new DTypeError('loadStateDict', `state['${k}']`, `a ${isFloating(target.dtype) ? 'floating' : 'integer'} dtype like the module's ${target.dtype}`, src.dtype);
      }
    }
    noGrad(() => {
      for (const [k, target] of Object.entries(own)) if (state[k]) target.copy_(state[k]);
    });
    return { missingKeys, unexpectedKeys };
  }

  /**
   * Called by `loadStateDict` on this module and every submodule before the keys are compared, with
   * a copy of the state dict being loaded and the module's key prefix (`'layer1.0.'`, or `''` for
   * the module loaded): a module whose layout changed renames its old keys here, and one that has
   * no place for an entry deletes it (PyTorch's `_load_from_state_dict`, which torchvision's
   * FrozenBatchNorm2d and FeaturePyramidNetwork override). The tensors stay the caller's: rename
   * or delete entries, never dispose them.
   */
  protected upgradeStateDict(_state: Record<string, Tensor>, _prefix: string): void {}

  /** A shallow copy of `state` that every module's upgradeStateDict went through, parents first. */
  private upgradedState(state: Readonly<Record<string, Tensor>>): Record<string, Tensor> {
    const copy: Record<string, Tensor> = Object.assign(Object.create(null) as Record<string, Tensor>, state);
    for (const [prefix, mod] of this.namedModules()) mod.upgradeStateDict(copy, prefix ? `${prefix}.` : '');
    return copy;
  }

  /**
   * Writes the state dict to `path` as a safetensors file (see state-file.ts for the format),
   * atomically: a crash mid-save leaves the previous file as it was.
   */
  save(path: string): void {
    saveStateDict(this.stateDict(), path);
  }

  /** Loads a state dict saved by `save` (or any safetensors file with the module's keys; every field is checked). */
  load(path: string, options: LoadStateDictOptions = {}): LoadStateDictResult {
    const state = loadStateDictFile(path);
    try {
      return this.loadStateDict(state, options);
    } finally {
      for (const t of Object.values(state)) t.dispose();
    }
  }
}
