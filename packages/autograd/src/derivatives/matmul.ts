/**
 * The derivatives of matmul (packages/tensor/src/ops/matmul.ts; mm, bmm and dot record as matmul
 * too) and linear (ops/linear.ts). For C = A B: dA = dC Bᵀ, dB = Aᵀ dC. A 1-D operand is taken as
 * a matrix (a row for A, a column for B) and the gradient brought back to 1-D; broadcast batch dims
 * are summed by the engine.
 */
import { type Tensor, matmul, squeeze, sum, transpose, unsqueeze } from '@kiln/tensor';
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

// y = x Wᵀ + b over the last dim, x [..., K], W [N, K], g = dy [..., N]: with the leading dims
// flattened into rows (x₂ [M, K], g₂ [M, N]), y₂ = x₂ Wᵀ + 1 bᵀ, so
//   dx = g W,  dW = g₂ᵀ x₂ (summed over every leading position),  db = Σ_rows g₂
defineDerivative('linear', {
  save: ['input', 'weight'],
  grads: {
    input: (c) => matmul(c.grad, c.saved('weight')),
    weight: (c) => {
      const x = c.saved('input'), g = c.grad;
      if (x.ndim === 1) return matmul(unsqueeze(g, 1), unsqueeze(x, 0));
      return matmul(transpose(g.reshape([-1, g.shape[g.ndim - 1]]), 0, 1), x.reshape([-1, x.shape[x.ndim - 1]]));
    },
    bias: (c) => (c.grad.ndim === 1 ? c.grad : sum(c.grad, Array.from({ length: c.grad.ndim - 1 }, (_, i) => i))),
  },
});
