/** deepCopy: an independent copy of a module tree (PyTorch's `copy.deepcopy(model)`). */
import { Tensor } from '@kiln/tensor';
import { noGrad } from '@kiln/autograd';
import { Module } from './module.js';
import { BufferTensor, Parameter } from './parameter.js';

/**
 * An independent copy of `module`: the same classes and structure, with every parameter and buffer
 * cloned (same device, dtype and `requiresGrad`; gradients are not copied) and every submodule
 * copied, so that changing one never changes the other. A module or tensor reached twice is copied
 * once and stays shared in the copy. Other properties (numbers, options, anchors' config, plain
 * tensors that are neither parameters nor buffers) are shared with the original, as they are
 * read-only in Kiln's modules. What `ModelEma` averages into.
 *
 * @example
 * ```ts
 * const ema = deepCopy(model).eval();
 * ema.parameters()[0] !== model.parameters()[0];   // true: its own tensors
 * ```
 */
export function deepCopy<M extends Module<never[], unknown>>(module: M): M {
  return noGrad(() => copyValue(module, new Map())) as M;
}

function copyValue(v: unknown, memo: Map<unknown, unknown>): unknown {
  if (typeof v !== 'object' || v === null) return v;
  const done = memo.get(v);
  if (done !== undefined) return done;
  let copy: unknown;
  if (v instanceof Parameter) copy = Parameter.adopt(v.detach().clone(), v.requiresGrad);
  else if (v instanceof BufferTensor) copy = BufferTensor.adopt(v.clone());
  else if (v instanceof Tensor) return v;
  else if (Array.isArray(v)) {
    const arr: unknown[] = [];
    memo.set(v, arr);
    for (const e of v) arr.push(copyValue(e, memo));
    return arr;
  } else if (v instanceof Module) {
    const m = Object.create(Object.getPrototypeOf(v) as object) as Record<string, unknown>;
    memo.set(v, m);
    for (const key of Object.keys(v)) m[key] = copyValue((v as unknown as Record<string, unknown>)[key], memo);
    return m;
  } else {
    return v;
  }
  memo.set(v, copy);
  return copy;
}
