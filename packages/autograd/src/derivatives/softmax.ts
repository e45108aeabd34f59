/**
 * Derivatives of softmax and log-softmax (packages/tensor/src/ops/softmax.ts), through the fused
 * backward kernels, and of those kernels themselves (for double backward).
 */
import { exp, logSoftmaxBackward, mul, softmaxBackward, sub, sum } from '@kiln/tensor';
import { defineDerivative } from '../derivative-table.js';

const dimOf = (attrs: Readonly<Record<string, unknown>>): number => attrs.dim as number;

defineDerivative('softmax', { save: ['output'], grads: { input: (c) => softmaxBackward(c.grad, c.saved('output'), dimOf(c.attrs)) } });
defineDerivative('log_softmax', { save: ['output'], grads: { input: (c) => logSoftmaxBackward(c.grad, c.saved('output'), dimOf(c.attrs)) } });

/**
 * z = y (g - s) with s = sum(g y) along dim, y = softmax output. z is linear in g through the
 * symmetric Jacobian of softmax, so d/dg is softmaxBackward again; for y:
 * dz_i/dy_k = δ_ik (g_i - s) - y_i g_k, so the gradient is h (g - s) - g sum(h y).
 */
defineDerivative('softmax_backward', {
  save: ['grad_output', 'output'],
  grads: {
    grad_output: (c) => softmaxBackward(c.grad, c.saved('output'), dimOf(c.attrs)),
    output: (c) => {
      const g = c.saved('grad_output'), y = c.saved('output'), h = c.grad, d = dimOf(c.attrs);
      const s = sum(mul(g, y), d, true);
      return sub(mul(h, sub(g, s)), mul(g, sum(mul(h, y), d, true)));
    },
  },
});

/**
 * z = g - exp(y) sum(g) along dim, y = log-softmax output: dz_i/dg_k = δ_ik - exp(y_i), so the
 * gradient for g is h - sum(h exp(y)); dz_i/dy_k = -δ_ik exp(y_i) sum(g), so for y it is
 * -h exp(y) sum(g).
 */
defineDerivative('log_softmax_backward', {
  save: ['grad_output', 'output'],
  grads: {
    grad_output: (c) => {
      const d = dimOf(c.attrs);
      return sub(c.grad, sum(mul(c.grad, exp(c.saved('output'))), d, true));
    },
    output: (c) => {
      const d = dimOf(c.attrs);
      return mul(mul(c.grad, exp(c.saved('output'))), sum(c.saved('grad_output'), d, true)).neg();
    },
  },
});
