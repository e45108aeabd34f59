/**
 * fromTypedArray over buffers that stay, are transferred (detached) or resized: a kernel either
 * reads the right values or the call is a typed error; it never reads memory that went away.
 */
import fc from 'fast-check';
import { DisposedError, fromTypedArray } from '@kiln/tensor';
import { family } from '../support/family.js';
import { attempt, expectValues, flat } from '../support/outcome.js';

export const borrowed = family({
  title: 'fromTypedArray: buffers detached, transferred or resized after the tensor was made',
  arbitrary: fc.record({
    n: fc.integer({ min: 0, max: 64 }),
    offset: fc.integer({ min: 0, max: 8 }),
    fate: fc.constantFrom('keep', 'transfer', 'resize-shrink', 'resize-grow'),
    resizable: fc.boolean(),
    op: fc.constantFrom('sum', 'add', 'toArray', 'copy_'),
  }),
  check({ n, offset, fate, resizable, op }) {
    const bytes = (n + offset) * 4;
    // (resizable ArrayBuffers are ES2024; this project's lib is ES2023, Node 20 has them)
    const Resizable = ArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => ArrayBuffer;
    const buffer = resizable ? new Resizable(bytes, { maxByteLength: bytes * 2 + 8 }) : new ArrayBuffer(bytes);
    const a = new Float32Array(buffer, offset * 4, n);
    for (let i = 0; i < n; i++) a[i] = i + 0.5;
    const t = fromTypedArray(a);
    const expected = Array.from({ length: n }, (_, i) => i + 0.5);
    if (fate === 'transfer') structuredClone(buffer, { transfer: [buffer] });
    else if (fate === 'resize-shrink' && resizable) (buffer as ArrayBuffer & { resize(n: number): void }).resize(0);
    else if (fate === 'resize-grow' && resizable) (buffer as ArrayBuffer & { resize(n: number): void }).resize(bytes * 2 + 8);
    const o = attempt(op, () => {
      if (op === 'sum') return [t.sum().item()];
      if (op === 'add') return flat(t.add(1)).map((v) => v - 1);
      if (op === 'copy_') return flat(t.clone().copy_(t));
      return (t.toArray() as number[]);
    });
    const gone = fate === 'transfer' && !resizable && n + offset > 0;   // a resizable buffer was copied
    if (!o.ok) {
      if (!(gone && o.error instanceof DisposedError)) throw new Error(`${op} after ${fate}: unexpected ${(o.error as Error).message}`);
      return;
    }
    if (gone) throw new Error(`${op} after ${fate}: read a detached buffer`);
    const want = op === 'sum' ? [expected.reduce((x, y) => x + y, 0)] : expected;
    expectValues(`${op} after ${fate}${resizable ? ' (resizable)' : ''}`, o.value, want, 1e-6);
  },
});
