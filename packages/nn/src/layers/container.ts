/** Containers of modules. */
import { type Tensor, ValueError, describeValue } from '@kiln/tensor';
import { Module } from '../module.js';

/**
 * Runs its modules in order, each on the previous one's output. The modules are its properties
 * '0', '1', ... (as in PyTorch, so state-dict keys read 'features.0.weight').
 */
export class Sequential extends Module {
  constructor(...modules: Module[]) {
    super();
    const self = this as unknown as Record<string, Module>;
    modules.forEach((m, i) => {
      if (!(m instanceof Module)) throw new ValueError('Sequential', `modules[${i}]`, 'a Module', describeValue(m));
      self[String(i)] = m;
    });
  }

  /** The modules, in order. */
  get layers(): Module[] {
    return this.children() as unknown as Module[];
  }

  /** Number of modules. */
  get length(): number {
    return this.layers.length;
  }

  /** The i-th module (negative counts from the end). */
  at(i: number): Module {
    const all = this.layers;
    const m = all[i < 0 ? i + all.length : i];
    if (!m) throw new ValueError('Sequential.at', 'index', `an index in [${-all.length}, ${all.length - 1}]`, String(i));
    return m;
  }

  forward(x: Tensor): Tensor {
    let y = x;
    for (const m of this.layers) y = m.call(y);
    return y;
  }
}
