/**
 * The derivative of matmul (packages/tensor/src/ops/matmul.ts; mm, bmm and dot record as matmul
 * too). For C = A B: dA = dC Bᵀ, dB = Aᵀ dC. A 1-D operand is taken as a matrix (a row for A, a
 * column for B) and the gradient brought back to 1-D; broadcast batch dims are summed by the engine.
 */
import { type Tensor, matmul, squeeze, transpose, unsqueeze } from '@kiln/tensor';
import { type DerivativeContext, defineDerivative } from '../derivative-table.js';

/** A, B and dC as (batches of) matrices, with the flags to undo the promotion of 1-D operands. */
function asMatrices(c: DerivativeContext): { a: Tensor; b: Tensor; g: Tensor; aVector: boolean; bVector: boolean } {
  const a0 = c.saved('input'), b0 = c.saved('other');
  const aVector = a0.ndim === 1, bVector = b0.ndim === 1;
  const a = aVector ? unsqueeze(a0, 0) : a0;
  const b = bVector ? unsqueeze(b0, 1) : b0;
  let g = c.grad;
  if (aVector) g = unsqueeze(g, bVector ? 0 : -2); // the removed M dim
  if (bVector) g = unsqueeze(g, -1); // the removed N dim
  return { a, b, g, aVector, bVector };
}

defineDerivative('matmul', {
  save: ['input', 'other'],
  grads: {
    input: (c) => {
      const { b, g, aVector } = asMatrices(c);
      const ga = matmul(g, transpose(b, -1, -2)); // [..., M, K]
      return aVector ? squeeze(ga.ndim > 2 ? ga.sum(Array.from({ length: ga.ndim - 2 }, (_, i) => i)) : ga, 0) : ga;
    },
    other: (c) => {
      const { a, g, bVector } = asMatrices(c);
      const gb = matmul(transpose(a, -1, -2), g); // [..., K, N]
      return bVector ? squeeze(gb.ndim > 2 ? gb.sum(Array.from({ length: gb.ndim - 2 }, (_, i) => i)) : gb, -1) : gb;
    },
  },
});
