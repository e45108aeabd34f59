/**
 * The gradient `loss.backward()` starts from when given none: ones of the loss's shape, which the
 * engine makes. A Function whose forward already computed its gradient for an upstream gradient of
 * 1 (SigmoidFocalLossFunction's fused gradient) hands that out as is when its upstream gradient is
 * this tensor, unchanged, or a view of it that identities and sums passed down. Knowing it needs
 * no read of the device: autograd remembers the tensors here, with the storage version they had,
 * so an in-place change since then makes them unknown again.
 */
import type { Tensor } from '@kiln/tensor';

const implicit = new WeakMap<Tensor, number>();

/** Marks the ones the engine made as the implicit gradient of a root (engine.ts). */
export function markImplicitGradient(t: Tensor): Tensor {
  implicit.set(t, t.storage.version);
  return t;
}

/** `view`, a view of `of` (same storage), is the implicit gradient when `of` is. */
export function sameImplicitGradient(view: Tensor, of: Tensor): Tensor {
  const version = implicit.get(of);
  if (version !== undefined && view.storage === of.storage) implicit.set(view, version);
  return view;
}

/**
 * True when `gradOutput` is the implicit gradient of `loss.backward()` (a tensor of ones the engine
 * made, or a view of it, not changed since), so a Function's backward may skip multiplying by it.
 * A gradient the caller passed, even ones, is not: this is what backward() itself supplied.
 *
 * @example
 * ```ts
 * static override backward(ctx: FusedCtx, gradOutput: Tensor): Tensor {
 *   return isImplicitGradient(gradOutput) ? ctx.fusedGrad : ctx.fusedGrad.mul(gradOutput);
 * }
 * ```
 */
export function isImplicitGradient(gradOutput: Tensor): boolean {
  const version = implicit.get(gradOutput);
  return version !== undefined && version === gradOutput.storage.version;
}
