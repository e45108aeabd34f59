/**
 * nn modules made with any options (checked when made, as PyTorch's are) and called on small
 * inputs: a typed error, or an output of the shape PyTorch's formulas give.
 */
import fc from 'fast-check';
import { randn } from '@kiln/tensor';
import { BatchNorm2d, Conv2d, Dropout, GroupNorm, Linear, MaxPool2d, Upsample } from '@kiln/nn';
import { family } from '../support/family.js';
import { attempt, expectShape } from '../support/outcome.js';
import { someNumber } from '../support/values.js';

const size = fc.oneof({ weight: 5, arbitrary: fc.integer({ min: 0, max: 4 }) }, { weight: 1, arbitrary: someNumber });
const size2 = fc.oneof(size, fc.tuple(size, size), fc.constantFrom<unknown>([1, 2, 3], 'x', null));
const pair = (v: unknown): [number, number] => (Array.isArray(v) ? [v[0] as number, v[1] as number] : [v as number, v as number]);
const convOut = (n: number, k: number, s: number, p: number, d: number) => Math.floor((n + 2 * p - d * (k - 1) - 1) / s) + 1;

export const modules = family({
  title: 'nn modules: Conv2d, MaxPool2d, Upsample, Linear, BatchNorm2d, GroupNorm, Dropout with any options',
  arbitrary: fc.record({
    kind: fc.constantFrom('Conv2d', 'MaxPool2d', 'Upsample', 'Linear', 'BatchNorm2d', 'GroupNorm', 'Dropout'),
    a: size, b: size, k: size2, stride: fc.option(size2, { nil: undefined }), padding: fc.option(size2, { nil: undefined }),
    dilation: fc.option(size2, { nil: undefined }), groups: fc.option(size, { nil: undefined }), other: someNumber,
    input: fc.tuple(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 7 })),
  }),
  check({ kind, a, b, k, stride, padding, dilation, groups, other, input }) {
    const made = attempt(`new ${kind}`, () => {
      switch (kind) {
        case 'Conv2d': return new Conv2d(a, b, k as number, { stride: stride as number, padding: padding as number, dilation: dilation as number, groups });
        case 'MaxPool2d': return new MaxPool2d(k as number, { stride: stride as number, padding: padding as number, dilation: dilation as number });
        case 'Upsample': return new Upsample(other > 0 && other < 4 ? { scaleFactor: other } : { size: k as number });
        case 'Linear': return new Linear(a, b);
        case 'BatchNorm2d': return new BatchNorm2d(a, { eps: Math.abs(other), momentum: other > 1 ? null : other });
        case 'GroupNorm': return new GroupNorm(a, b);
        default: return new Dropout(other);
      }
    });
    if (!made.ok) return;
    const m = made.value;
    const x = kind === 'Linear' ? randn([input[0], a], { seed: 1 }) : randn([...input], { seed: 1 });
    const o = attempt(`${kind}.forward`, () => m.call(x));
    if (!o.ok) return;
    const y = o.value;
    const [n, c, h, w] = input;
    if (kind === 'Conv2d') {
      const [kh, kw] = pair(k), [sh, sw] = pair(stride ?? 1), [ph, pw] = pair(padding ?? 0), [dh, dw] = pair(dilation ?? 1);
      expectShape('Conv2d', y.shape, [n, b, convOut(h, kh, sh, ph, dh), convOut(w, kw, sw, pw, dw)]);
    } else if (kind === 'MaxPool2d') {
      const [kh, kw] = pair(k), [sh, sw] = pair(stride ?? k), [ph, pw] = pair(padding ?? 0), [dh, dw] = pair(dilation ?? 1);
      expectShape('MaxPool2d', y.shape, [n, c, convOut(h, kh, sh, ph, dh), convOut(w, kw, sw, pw, dw)]);
    } else if (kind === 'Linear') {
      expectShape('Linear', y.shape, [input[0], b]);
    } else if (kind === 'Upsample') {
      const out = other > 0 && other < 4 ? [Math.floor(h * other), Math.floor(w * other)] : pair(k);
      expectShape('Upsample', y.shape, [n, c, ...out]);
    } else {
      expectShape(kind, y.shape, x.shape);
    }
  },
});
