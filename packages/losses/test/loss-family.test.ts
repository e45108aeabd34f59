// The composed losses (BCE with logits, cross-entropy, L1 / smooth L1 / Huber, GIoU, softmax focal,
// QFL, DFL, VFL) against the PyTorch fixtures on every device, in float64 and float32: the loss and
// the gradient of `input` (with the fixture's upstream gradient for 'none').
import { expect, it } from 'vitest';
import { expectClose, forEachDevice } from '@kiln/tensor/testing';
import { loadFixtures, toTensor } from './fixture-cases.js';
import { FAMILIES, tensorsOf } from './loss-family-fixtures.js';

const maxAbs = (xs: readonly number[]): number => xs.reduce((m, v) => Math.max(m, Math.abs(v)), 0);

forEachDevice('loss family against PyTorch fixtures', (dev) => {
  for (const [family, call] of Object.entries(FAMILIES)) {
    const cases = loadFixtures(family);
    for (const dtype of ['float64', 'float32'] as const) {
      it(`${family} ${dtype}: ${cases.length} cases, loss and input gradient`, () => {
        expect(cases.length).toBeGreaterThan(0);
        for (const c of cases) {
          const out = c.expected.output.data, grad = c.expected.gradInput.data;
          // float32: rtol 1e-5, and an atol scaled by the largest magnitude (a tiny element next to
          // a 1e4 one carries the rounding of the large one's arithmetic)
          const tol = (ref: readonly number[]) => (dtype === 'float64'
            ? { rtol: 1e-8, atol: 1e-12 * Math.max(1, maxAbs(ref)) }
            : { rtol: 1e-5, atol: 1e-6 * Math.max(1e-30, maxAbs(ref)) });
          const x = toTensor(c.inputs.input, dev, dtype).requiresGrad_();
          const loss = call(x, c, tensorsOf(c, dev, dtype));
          expect(loss.dtype, `${c.name} dtype`).toBe(dtype);
          expect(loss.shape, `${c.name} shape`).toEqual(c.expected.output.shape);
          expectClose(loss, out, { ...tol(out), what: `${c.name} loss` });
          loss.backward(c.gradOutput ? toTensor(c.gradOutput, dev, dtype) : undefined);
          expect(x.grad, `${c.name} has a gradient`).toBeDefined();
          expect(x.grad!.shape).toEqual(c.expected.gradInput.shape);
          expectClose(x.grad!, grad, { ...tol(grad), what: `${c.name} grad` });
        }
      });
    }
  }
});
