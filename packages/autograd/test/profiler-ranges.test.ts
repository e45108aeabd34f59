// Autograd's backward nodes appear in the profiler as ranges holding the kernels their derivative
// launched (the core's recordFunction hook: the core does not know autograd).
import { expect, it } from 'vitest';
import { profile, randn } from '@kiln/tensor';
import '@kiln/autograd';
import { forEachDevice } from '@kiln/tensor/testing';

forEachDevice('profiler ranges of backward nodes', (dev) => {
  it('each node that runs is a range named after it, with its kernels inside', () => {
    const x = randn([64], { device: dev, seed: 1 });
    const w = randn([64], { device: dev, seed: 2 }).requiresGrad_();
    const loss = x.mul(w).sigmoid().sum();
    const prof = profile(() => loss.backward());
    const { ranges, kernels } = prof.events();
    expect(ranges.map((r) => r.name)).toEqual(['SumBackward', 'SigmoidBackward', 'MulBackward', 'AccumulateGrad']);
    expect(ranges.every((r) => r.parent === -1)).toBe(true);
    const inside = (name: string) => kernels.filter((k) => k.parent >= 0 && ranges[k.parent].name === name).map((k) => k.name);
    expect(inside('MulBackward')).toContain('mul');
    expect(inside('SigmoidBackward').length).toBeGreaterThan(0);
    const mulRow = prof.keyAverages().find((r) => r.name === 'MulBackward' && r.kind === 'range')!;
    expect(mulRow.calls).toBe(1);
    expect(mulRow.deviceTotal).toBeGreaterThan(0);
    expect(w.grad!.shape).toEqual([64]);
    for (const t of [x, w, w.grad!, loss]) t.dispose();
  });
});
