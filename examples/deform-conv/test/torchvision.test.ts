// deformConv2d against torchvision.ops.deform_conv2d, an independent implementation with the same
// offset and mask layouts: its outputs and the gradients of every argument for a random upstream
// gradient, on small float64 cases (test/fixtures/torchvision.json, written by
// tools/torchvision_fixture.py with torch 1.13 / torchvision 0.14), on every device.
import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { type Tensor, tensor } from '@kiln/tensor';
import { deformConv2d } from '../src/index.js';
import { forEachDevice } from './devices.js';
import { dense, worstError } from './helpers.js';

interface Array_ {
  shape: number[];
  data: number[];
}
interface FixtureCase {
  name: string;
  stride: [number, number];
  padding: [number, number];
  dilation: [number, number];
  input: Array_;
  offset: Array_;
  weight: Array_;
  mask: Array_ | null;
  bias: number[] | null;
  output: Array_;
  upstream: number[];
  grads: { input: number[]; offset: number[]; weight: number[]; mask: number[] | null; bias: number[] | null };
}

const fixture = JSON.parse(readFileSync(new URL('./fixtures/torchvision.json', import.meta.url), 'utf8')) as { cases: FixtureCase[] };

forEachDevice('deformConv2d against torchvision', (dev) => {
  it('has fixture cases', () => expect(fixture.cases.length).toBeGreaterThanOrEqual(3));

  for (const c of fixture.cases) {
    it(`${c.name}: output and the gradients of every argument (float64)`, () => {
      const t = (a: Array_): Tensor => tensor(a.data, { dtype: 'float64', device: dev }).reshape(a.shape).requiresGrad_();
      const x = t(c.input), offset = t(c.offset), weight = t(c.weight);
      const mask = c.mask ? t(c.mask) : null;
      const bias = c.bias ? tensor(c.bias, { dtype: 'float64', device: dev }).requiresGrad_() : null;
      const y = deformConv2d(x, offset, weight, { mask, bias, stride: c.stride, padding: c.padding, dilation: c.dilation });
      expect(y.shape).toEqual(c.output.shape);
      expect(worstError(dense(y).data, c.output.data, 1e-12, 1e-12)).toBeLessThanOrEqual(1);
      y.backward(tensor(c.upstream, { dtype: 'float64', device: dev }).reshape(c.output.shape));
      const pairs: [string, Tensor | null, number[] | null][] = [
        ['input', x, c.grads.input], ['offset', offset, c.grads.offset], ['weight', weight, c.grads.weight],
        ['mask', mask, c.grads.mask], ['bias', bias, c.grads.bias],
      ];
      for (const [name, leaf, expected] of pairs) {
        if (leaf === null || expected === null) continue;
        expect(worstError(dense(leaf.grad!).data, expected, 1e-11, 1e-11), name).toBeLessThanOrEqual(1);
      }
    });
  }
});
