/**
 * The tensors a Module owns: Parameter (learnable, requires grad) and BufferTensor (state that is saved
 * but not learned, such as BatchNorm's running statistics). A Module finds them by walking its own
 * properties, so assigning `this.weight = new Parameter(t)` is the whole registration.
 */
import { type Tensor as TensorType, Tensor, keep } from '@kiln/tensor';

/** A tensor handle over `data`'s elements (same storage, shape, strides and offset), outliving tidy scopes. */
function shareOf(data: TensorType, what: string): [TensorType['storage'], number[], number[], number, TensorType['dtype']] {
  data.assertAlive(what);
  return [data.storage, [...data.shape], [...data.strides], data.offset, data.dtype];
}

/**
 * A module's learnable tensor (PyTorch's nn.Parameter): a leaf that requires grad, sharing the
 * elements of the tensor it is made from (which keeps its own handle; see `Parameter.adopt`).
 */
export class Parameter extends Tensor {
  constructor(data: TensorType, requiresGrad = true) {
    super(...shareOf(data, 'Parameter'));
    keep(this);
    if (requiresGrad) this.requiresGrad = true;
  }

  /** A Parameter over t's elements that takes t's place: t's own handle is disposed. */
  static adopt(t: TensorType, requiresGrad = true): Parameter {
    const p = new Parameter(t, requiresGrad);
    t.dispose();
    return p;
  }
}

/**
 * Module state that is saved in the state dict and moved by `to()` but not learned (PyTorch's
 * nn.Buffer / register_buffer; named so as not to shadow Node's Buffer): never requires grad.
 */
export class BufferTensor extends Tensor {
  constructor(data: TensorType) {
    super(...shareOf(data, 'BufferTensor'));
    keep(this);
  }

  /** A BufferTensor over t's elements that takes t's place: t's own handle is disposed. */
  static adopt(t: TensorType): BufferTensor {
    const b = new BufferTensor(t);
    t.dispose();
    return b;
  }
}
