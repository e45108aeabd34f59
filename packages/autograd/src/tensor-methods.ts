/**
 * The autograd methods of Tensor, attached when @kiln/autograd is imported: backward, detach,
 * detach_, retainGrad and registerHook.
 */
import { AutogradError, Tensor, ValueError, describeValue } from '@kiln/tensor';
import { type BackwardOptions, backward } from './engine.js';
import { aliasOf } from './function.js';
import { type GradHook, type Node, type PostAccumulateGradHook, accumulatorOf, gradEdge } from './node.js';

/** What registerHook returns. */
export interface RemovableHandle {
  /** Unregisters the hook (a second call does nothing). */
  remove(): void;
}

// Tensor is declared in @kiln/tensor's tensor module (augmenting the re-export in its index would
// declare a second, unrelated interface): its './tensor' export is there for this augmentation.
declare module '@kiln/tensor/tensor' {
  interface Tensor {
    /**
     * Computes the gradient of this tensor with respect to the graph's leaves and adds it into their
     * `.grad`. A one-element tensor needs no `grad`; others need one of their shape. The options
     * may come first when there is no `grad`, as PyTorch's keyword: `loss.backward({ retainGraph: true })`.
     */
    backward(grad?: Tensor | null, options?: BackwardOptions): void;
    backward(options: BackwardOptions): void;
    /** A tensor sharing this one's elements (and version counter), with no history. */
    detach(): Tensor;
    /** Cuts this tensor from its history, in place. */
    detach_(): Tensor;
    /** Keeps the gradient of this non-leaf tensor in `.grad` during backward (a no-op on leaves). */
    retainGrad(): void;
    /** Calls hook with this tensor's gradient each backward pass; a returned tensor replaces the gradient. */
    registerHook(hook: GradHook): RemovableHandle;
    /**
     * Calls hook with this leaf tensor each backward pass, right after its gradient was accumulated
     * into `.grad` (PyTorch's register_post_accumulate_grad_hook): the gradient is final for this
     * pass, while the rest of the pass still runs. Only for leaves that require grad.
     */
    registerPostAccumulateGradHook(hook: PostAccumulateGradHook): RemovableHandle;
  }
}

Tensor.prototype.backward = function (this: Tensor, gradOrOptions?: Tensor | BackwardOptions | null, options?: BackwardOptions) {
  // an options object in the gradient's place (a plain object, not a tensor): backward({ retainGraph: true })
  if (gradOrOptions instanceof Tensor || gradOrOptions === null || gradOrOptions === undefined || Object.getPrototypeOf(gradOrOptions) !== Object.prototype) {
    backward(this, (gradOrOptions as Tensor | null | undefined) ?? undefined, options);
    return;
  }
  if (options !== undefined) {
    throw new ValueError('backward', 'options', 'the options once: backward(options) or backward(grad, options)', 'options in both places');
  }
  backward(this, undefined, gradOrOptions);
};

Tensor.prototype.detach = function () {
  this.assertAlive('detach');
  return aliasOf(this);
};

Tensor.prototype.detach_ = function () {
  if (this.base !== null && this.gradFn !== null) {
    throw new AutogradError({ op: 'detach_', detail: 'cannot detach a view in place; use detach() for a new tensor without history' });
  }
  this.gradFn = null;
  this.outputNr = 0;
  this.setRequiresGradInternal(false);
  return this;
};

Tensor.prototype.retainGrad = function () {
  if (!this.requiresGrad) throw new AutogradError({ op: 'retainGrad', detail: 'the tensor does not require grad, so it gets no gradient to retain' });
  if (this.isLeaf) return;
  const node = this.gradFn as Node;
  node.retained ??= new Map();
  node.retained.set(this.outputNr, new WeakRef(this));
  this.retainsGrad = true;
};

Tensor.prototype.registerHook = function (hook) {
  if (!this.requiresGrad) throw new AutogradError({ op: 'registerHook', detail: 'cannot register a hook on a tensor that does not require grad' });
  // checked here: otherwise the first backward fails with a TypeError from inside the engine
  if (typeof hook !== 'function') throw new AutogradError('registerHook', 'hook', 'a function', describeValue(hook));
  const [node, slot] = gradEdge(this, 'registerHook');
  const remove = node.addHook(slot, hook);
  return { remove };
};

Tensor.prototype.registerPostAccumulateGradHook = function (hook) {
  if (!this.requiresGrad) throw new AutogradError('registerPostAccumulateGradHook: cannot register a hook on a tensor that does not require grad');
  if (!this.isLeaf) throw new AutogradError('registerPostAccumulateGradHook: only leaf tensors accumulate into .grad; use registerHook on a non-leaf tensor');
  if (typeof hook !== 'function') throw new AutogradError(`registerPostAccumulateGradHook: expected a function, got ${String(hook)}`);
  const acc = accumulatorOf(this);
  const hooks = (acc.postHooks ??= []);
  hooks.push(hook);
  return {
    remove: () => {
      const k = hooks.indexOf(hook);
      if (k >= 0) hooks.splice(k, 1);
    },
  };
};
