/**
 * The Tensor: a strided view (shape, strides, offset, dtype) over a device Storage. Ops live in
 * ops/*.ts and attach themselves to Tensor.prototype, so this file stays about the data model.
 */
import { type Device } from './device.js';
import { type DType, dtypeInfo } from './dtype.js';
import { AutogradError, DTypeError, DeviceError, DisposedError, ShapeError, ValueError } from './errors.js';
import { describeValue } from './check.js';
import { type Shape, fmtShape, isContiguous, numelOf, sameShape } from './shape.js';
import type { Storage } from './device.js';
import { trackTensor } from './scope.js';

/** What the core knows of an autograd graph node: @kiln/autograd implements it. */
export interface GradNode {
  /** The node's name, e.g. 'MulBackward' or a Function's 'SigmoidFocalLossFunctionBackward'. */
  readonly name: string;
}

/** A JS number, boolean or Tensor: where ops take a tensor they take a scalar too. */
export type TensorLike = Tensor | number | boolean;

/**
 * An n-dimensional array on a device: a strided view (shape, strides, offset, dtype) over a
 * refcounted {@link Storage}. Views (reshape, transpose, slice, ...) share their base's storage.
 * Create tensors with {@link tensor}, {@link zeros}, {@link randn} and the other factories; ops
 * are functions (`add(a, b)`) and methods (`a.add(b)`). Release device memory with
 * {@link Tensor.dispose | dispose()}, `using`, or {@link tidy}.
 *
 * @example
 * ```ts
 * const x = tensor([[1, 2], [3, 4]], { dtype: 'float32' });
 * const y = x.transpose(0, 1).mul(2);     // a view, then a new tensor
 * console.log(y.shape, y.toArray());      // [2, 2] [[2, 6], [4, 8]]
 * ```
 */
export class Tensor {
  /** The device memory this tensor views (shared with its views). */
  readonly storage: Storage;
  /** Sizes, outermost first; `[]` for a 0-d tensor. */
  readonly shape: readonly number[];
  /** Elements to step in the storage per index of each dimension (0 for broadcast dims). */
  readonly strides: readonly number[];
  /** Offset of element [0, ...] in the storage, in elements. */
  readonly offset: number;
  /** The element type. */
  readonly dtype: DType;
  private _grad: Tensor | null = null;
  /**
   * Accumulated gradient of a leaf tensor (set by backward). Assigning one checks it as PyTorch does
   * at assignment: a tensor of this one's shape, dtype and device, or null (a wrong gradient would
   * otherwise surface only at the optimizer's step, or not at all).
   */
  get grad(): Tensor | null {
    return this._grad;
  }
  /** Sets the gradient: a tensor of this one's shape, dtype and device, or null (see the getter). */
  set grad(g: Tensor | null) {
    if (g !== null) {
      if (!(g instanceof Tensor)) throw new ValueError('grad', 'grad', 'a Tensor or null', describeValue(g));
      if (!sameShape(g.shape, this.shape)) throw new ShapeError('grad', 'grad', `a gradient of the tensor's shape ${fmtShape(this.shape)}`, fmtShape(g.shape));
      if (g.dtype !== this.dtype) throw new DTypeError('grad', 'grad', `a gradient of the tensor's dtype ${this.dtype}`, g.dtype);
      if (g.device !== this.device) throw new DeviceError('grad', 'grad', `a gradient on the tensor's device ${String(this.device)}`, String(g.device));
    }
    this._grad = g;
  }
  /** The autograd node that produced this tensor; null for leaves. */
  gradFn: GradNode | null = null;
  /** @internal which output of gradFn this is */
  outputNr = 0;
  /** @internal the tensor this one is a view of, if any */
  base: Tensor | null = null;
  /** @internal keep .grad on a non-leaf (retainGrad) */
  retainsGrad = false;
  private _requiresGrad = false;
  private _disposed = false;

  /** @internal use the creation functions (tensor, zeros, ...) */
  constructor(storage: Storage, shape: Shape, strides: readonly number[], offset: number, dtype: DType) {
    this.storage = storage;
    this.shape = shape;
    this.strides = strides;
    this.offset = offset;
    this.dtype = dtype;
    storage.refs++;
    trackTensor(this);
  }

  /** The device holding the data. */
  get device(): Device {
    return this.storage.device;
  }
  /** Number of dimensions. */
  get ndim(): number {
    return this.shape.length;
  }
  /** Number of elements. */
  get numel(): number {
    return numelOf(this.shape);
  }
  /** Bytes per element. */
  get itemsize(): number {
    return dtypeInfo[this.dtype].itemsize;
  }
  /** True when the elements are laid out row-major without gaps (see {@link contiguous}). */
  get isContiguous(): boolean {
    return isContiguous(this.shape, this.strides);
  }
  /** Version counter shared with views: bumped by in-place ops. */
  get version(): number {
    return this.storage.version;
  }
  /** True for tensors no recorded op produced (user-created tensors, parameters). */
  get isLeaf(): boolean {
    return this.gradFn === null;
  }
  /** True after dispose() (or once its storage was freed). */
  get isDisposed(): boolean {
    return this._disposed || this.storage.freed;
  }

  /**
   * Whether autograd tracks this tensor (when `@kiln/autograd` is loaded). Only floating-point
   * tensors can require grad, and only a leaf's flag can be changed.
   */
  get requiresGrad(): boolean {
    return this._requiresGrad;
  }
  /** Sets the flag of a leaf tensor (an AutogradError for a non-leaf or a non-float tensor). */
  set requiresGrad(v: boolean) {
    // a truthy non-boolean ('yes') was stored as is
    if (typeof v !== 'boolean') throw new ValueError('requiresGrad', 'requiresGrad', 'true or false', describeValue(v));
    if (v && !dtypeInfo[this.dtype].isFloating) {
      throw new AutogradError({
        op: 'requiresGrad', expected: 'a floating-point tensor', got: this.dtype,
        message: `requiresGrad: only floating-point tensors can require gradients, got dtype ${this.dtype}`,
      });
    }
    if (!v && this.gradFn !== null) {
      throw new AutogradError({ op: 'requiresGrad', detail: 'you can only change requiresGrad of leaf tensors; use detach() to get a tensor without history' });
    }
    this._requiresGrad = v;
  }
  /** Sets requiresGrad in place and returns this (PyTorch's requires_grad_). */
  requiresGrad_(v = true): this {
    this.requiresGrad = v;
    return this;
  }
  /** @internal autograd marks op outputs without the leaf checks */
  setRequiresGradInternal(v: boolean): void {
    this._requiresGrad = v;
  }

  /**
   * Releases this tensor's hold on its storage; memory returns to the allocator when no tensor uses
   * it. A second dispose() of the same tensor does nothing (it never releases a hold twice, so the
   * storage stays alive for the views still using it); using the tensor after dispose() is a
   * DisposedError.
   */
  dispose(): void {
    if (this._disposed) return;
    this._disposed = true;
    const s = this.storage;
    if (--s.refs === 0 && !s.freed) s.free();
  }
  /** dispose(), for `using x = ...` declarations. */
  [Symbol.dispose](): void {
    this.dispose();
  }

  /** @internal throws if the tensor or its storage was disposed */
  assertAlive(op: string): void {
    if (this._disposed || this.storage.freed) {
      if (!this._disposed && this.storage.detached) {
        throw new DisposedError({ op, detail: "the tensor's memory is gone: it views a buffer (fromTypedArray) that was detached or resized since" });
      }
      throw new DisposedError({ op, detail: 'the tensor was disposed' });
    }
  }
}

