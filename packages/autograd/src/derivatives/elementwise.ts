/**
 * Derivatives of the elementwise ops (packages/tensor/src/ops/elementwise.ts). Binary ops may have a
 * JS number operand (`c.value` gives it); gradients may have the broadcast shape, the engine sums
 * them down to each input's shape.
 */
import {
  type Tensor, type TensorLike, add, cos, div, eq, floorDivide, ge, gt, le, log, logicalAnd, lt, mul, neg, pow, reluBackward, sigmoid, sign, sin,
  sub, trunc, where, zerosLike,
} from '@kiln/tensor';
import { type DerivativeContext, defineDerivative } from '../derivative-table.js';

/** A saved operand that may be a JS number (booleans do not reach differentiable ops' formulas). */
const operand = (c: DerivativeContext, name: string): Tensor | number => c.value(name) as Tensor | number;

defineDerivative('exp', { save: ['output'], grads: { input: (c) => mul(c.grad, c.saved('output')) } });
defineDerivative('log', { save: ['input'], grads: { input: (c) => div(c.grad, c.saved('input')) } });
defineDerivative('log1p', { save: ['input'], grads: { input: (c) => div(c.grad, add(c.saved('input'), 1)) } });
// d/dx (e^x - 1) = e^x = y + 1
defineDerivative('expm1', { save: ['output'], grads: { input: (c) => mul(c.grad, add(c.saved('output'), 1)) } });
// d/dx √x = 1 / (2√x) = 1 / (2y)
defineDerivative('sqrt', { save: ['output'], grads: { input: (c) => div(c.grad, mul(c.saved('output'), 2)) } });
// y = x^(-1/2): dy/dx = -x^(-3/2) / 2 = -y³ / 2
defineDerivative('rsqrt', { save: ['output'], grads: { input: (c) => mul(c.grad, mul(pow(c.saved('output'), 3), -0.5)) } });
// σ' = σ(1 - σ)
defineDerivative('sigmoid', {
  save: ['output'],
  grads: { input: (c) => { const y = c.saved('output'); return mul(c.grad, mul(y, sub(1, y))); } },
});
// d/dx log σ(x) = 1 - σ(x) = σ(-x)
defineDerivative('logsigmoid', { save: ['input'], grads: { input: (c) => mul(c.grad, sigmoid(neg(c.saved('input')))) } });
// d/dx log(1 + e^x) = σ(x)
defineDerivative('softplus', { save: ['input'], grads: { input: (c) => mul(c.grad, sigmoid(c.saved('input'))) } });
// d/dx x·σ(x) = σ(x) + x·σ(x)(1 - σ(x)) = σ(x)·(1 + x·(1 - σ(x)))
defineDerivative('silu', {
  save: ['input'],
  grads: {
    input: (c) => {
      const x = c.saved('input'), s = sigmoid(x);
      return mul(c.grad, mul(s, add(1, mul(x, sub(1, s)))));
    },
  },
});
// tanh' = 1 - tanh²
defineDerivative('tanh', {
  save: ['output'],
  grads: { input: (c) => { const y = c.saved('output'); return mul(c.grad, sub(1, mul(y, y))); } },
});
defineDerivative('sin', { save: ['input'], grads: { input: (c) => mul(c.grad, cos(c.saved('input'))) } });
defineDerivative('cos', { save: ['input'], grads: { input: (c) => neg(mul(c.grad, sin(c.saved('input')))) } });
// log2' = 1 / (x ln 2)
defineDerivative('log2', { save: ['input'], grads: { input: (c) => div(c.grad, mul(c.saved('input'), Math.LN2)) } });
// atan' = 1 / (1 + x²)
defineDerivative('atan', { save: ['input'], grads: { input: (c) => { const x = c.saved('input'); return div(c.grad, add(1, mul(x, x))); } } });
defineDerivative('neg', { grads: { input: (c) => neg(c.grad) } });
// |x|' = sign(x) (0 at 0, as PyTorch)
defineDerivative('abs', { save: ['input'], grads: { input: (c) => mul(c.grad, sign(c.saved('input'))) } });
// sign is piecewise constant: zero gradient
defineDerivative('sign', { grads: { input: (c) => zerosLike(c.grad) } });
// floor, ceil, trunc and round are piecewise constant too (PyTorch's zero gradient, also at the jumps)
for (const op of ['floor', 'ceil', 'trunc', 'round']) defineDerivative(op, { grads: { input: (c) => zerosLike(c.grad) } });
// relu' = 1 where the output is positive (0 at 0, as PyTorch's threshold_backward)
defineDerivative('relu', { save: ['output'], grads: { input: (c) => reluBackward(c.grad, c.saved('output')) } });
// relu_backward(g, y) = g * [y > 0] is linear in g with the same mask, and piecewise constant in y
// (zero almost everywhere: relu's second derivative, as PyTorch's threshold_backward gives)
defineDerivative('relu_backward', {
  save: ['output'],
  grads: { grad_output: (c) => reluBackward(c.grad, c.saved('output')), output: (c) => zerosLike(c.grad) },
});

// identities return the upstream gradient itself (no copy): the implicit 1 of backward() stays recognisable (isImplicitGradient)
defineDerivative('add', { grads: { input: (c) => c.grad, other: (c) => c.grad } });
defineDerivative('sub', { grads: { input: (c) => c.grad, other: (c) => neg(c.grad) } });
defineDerivative('mul', {
  save: ['input', 'other'],
  grads: {
    input: (c) => mul(c.grad, operand(c, 'other')),
    other: (c) => mul(c.grad, operand(c, 'input')),
  },
});
// d(a/b)/da = 1/b; d(a/b)/db = -a/b²
defineDerivative('div', {
  save: ['input', 'other'],
  grads: {
    input: (c) => div(c.grad, operand(c, 'other')),
    other: (c) => {
      const b = c.saved('other');
      return neg(div(mul(c.grad, operand(c, 'input')), mul(b, b)));
    },
  },
});

// d(a^b)/da = b·a^(b-1), taken as 0 where b = 0 (also at a = 0, where a^(b-1) is infinite)
function powInputGrad(c: DerivativeContext): Tensor {
  const a = c.saved('input'), b = operand(c, 'other');
  if (typeof b === 'number') return b === 0 ? zerosLike(c.grad) : mul(c.grad, mul(pow(a, b - 1), b));
  return where(eq(b, 0), 0, mul(c.grad, mul(pow(a, sub(b, 1)), b)));
}
// d(a^b)/db = a^b·log(a), taken as 0 where a = 0 and b >= 0 (the limit from inside the domain)
function powExponentGrad(c: DerivativeContext): Tensor {
  const a = operand(c, 'input'), b = c.saved('other');
  const g = mul(c.grad, mul(c.saved('output'), typeof a === 'number' ? Math.log(a) : log(a)));
  if (typeof a === 'number') return a === 0 ? where(ge(b, 0), 0, g) : g;
  return where(logicalAnd(eq(a, 0), ge(b, 0)), 0, g);
}
defineDerivative('pow', { save: ['input', 'other', 'output'], grads: { input: powInputGrad, other: powExponentGrad } });

/** The gradient goes to the operand that won, split in half on ties (as PyTorch). */
function winnerGrad(grad: Tensor, wins: Tensor, ties: Tensor): Tensor {
  return where(wins, grad, where(ties, mul(grad, 0.5), 0));
}
const operands = (c: DerivativeContext): [TensorLike, TensorLike] => [operand(c, 'input'), operand(c, 'other')];
// fmod(a, b) = a - trunc(a / b) · b and remainder(a, b) = a - floor(a / b) · b: the rounded
// quotient is piecewise constant, so d/da = 1 and d/db = -(the rounded quotient) (PyTorch's)
defineDerivative('fmod', {
  save: ['input', 'other'],
  grads: { input: (c) => c.grad, other: (c) => neg(mul(c.grad, trunc(div(...operands(c))))) },
});
defineDerivative('remainder', {
  save: ['input', 'other'],
  grads: { input: (c) => c.grad, other: (c) => neg(mul(c.grad, floorDivide(...operands(c)))) },
});
// floor(a / b) is piecewise constant in both
defineDerivative('floor_divide', { grads: { input: (c) => zerosLike(c.grad), other: (c) => zerosLike(c.grad) } });
defineDerivative('maximum', {
  save: ['input', 'other'],
  grads: {
    input: (c) => { const [a, b] = operands(c); return winnerGrad(c.grad, gt(a, b), eq(a, b)); },
    other: (c) => { const [a, b] = operands(c); return winnerGrad(c.grad, lt(a, b), eq(a, b)); },
  },
});
defineDerivative('minimum', {
  save: ['input', 'other'],
  grads: {
    input: (c) => { const [a, b] = operands(c); return winnerGrad(c.grad, lt(a, b), eq(a, b)); },
    other: (c) => { const [a, b] = operands(c); return winnerGrad(c.grad, gt(a, b), eq(a, b)); },
  },
});

// passes where min <= x <= max (bounds included, as PyTorch's clamp_backward)
defineDerivative('clamp', {
  save: ['input'],
  grads: {
    input: (c) => {
      const x = c.saved('input');
      const { min, max } = c.attrs as { min?: number; max?: number };
      const above = min === undefined ? null : ge(x, min);
      const below = max === undefined ? null : le(x, max);
      const inside = above && below ? logicalAnd(above, below) : (above ?? below)!;
      return where(inside, c.grad, 0);
    },
  },
});

defineDerivative('where', {
  save: ['condition'],
  grads: {
    input: (c) => where(c.saved('condition'), c.grad, 0),
    other: (c) => where(c.saved('condition'), 0, c.grad),
  },
});
