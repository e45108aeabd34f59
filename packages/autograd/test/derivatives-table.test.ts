// The derivative table covers every differentiable op the core declares, and the gradcheck cases
// (derivative-cases.ts, run by derivatives-<family>.test.ts) differentiate every one of them.
import { describe, expect, it } from 'vitest';
import { allOps } from '@kiln/tensor';
import { derivativeOf } from '@kiln/autograd';
import { allCases } from './derivative-cases.js';

describe('the derivative table', () => {
  it('has an entry for every differentiable op the core declares', () => {
    const missing = allOps().filter((op) => op.differentiable && !derivativeOf(op.name)).map((op) => op.name);
    expect(missing).toEqual([]);
  });
  it('every differentiable op is gradchecked by some case', () => {
    const covered = new Set(allCases().flatMap((c) => c.ops));
    const untested = allOps().filter((op) => op.differentiable && !covered.has(op.name)).map((op) => op.name);
    expect(untested).toEqual([]);
  });
});
