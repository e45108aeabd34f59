/**
 * The weight-file loader on mutated valid files: bytes flipped, set to 0 or 255, truncated,
 * extended, header text edited (numbers, keys, nesting). Every load ends in a typed error or in
 * tensors that are exactly what the file's header and bytes say, never in more memory than the
 * file holds.
 */
import fc from 'fast-check';
import { type Tensor, arange, memoryStats, tensor } from '@kiln/tensor';
import { decodeStateDict, encodeStateDict } from '@kiln/nn';
import { family } from '../support/family.js';
import { attempt, expectShape } from '../support/outcome.js';

const original = encodeStateDict({
  weight: arange(12, undefined, 1, { dtype: 'float32' }).reshape([3, 4]),
  mask: tensor([true, false, true]),
  steps: tensor([7], { dtype: 'int64' }),
  empty: tensor([], { dtype: 'float64' }),
}, { epoch: '3' });
const headerLen = Number(new DataView(original.buffer).getBigUint64(0, true));
const headerText = Buffer.from(original.subarray(8, 8 + headerLen)).toString('utf8');

/** Edits of the header's text that keep it the same length or change it (the length field follows). */
const textEdits = fc.oneof(
  fc.record({ kind: fc.constant('replace' as const), at: fc.nat(headerText.length - 1), text: fc.constantFrom('9', '-1', '1e300', '0.5', '"', '{', '}', '[', ']', ',', 'null', '"__proto__"', '"weight"', ' ', '99999999999999999999') }),
  fc.record({ kind: fc.constant('swap-number' as const), which: fc.nat(20), value: fc.constantFrom('0', '1', '2', '3', '-4', '12', '48', '2.5', '1e20', '9007199254740993') }),
);

type TextEdit = { kind: 'replace'; at: number; text: string } | { kind: 'swap-number'; which: number; value: string };

function applyTextEdit(e: TextEdit): Uint8Array {
  let text = headerText;
  if (e.kind === 'replace') text = text.slice(0, e.at) + e.text + text.slice(e.at + 1);
  else {
    let i = 0;
    text = text.replace(/-?\d+(\.\d+)?/g, (m) => (i++ === e.which ? e.value : m));
  }
  const head = Buffer.from(text, 'utf8'), data = original.subarray(8 + headerLen);
  const out = new Uint8Array(8 + head.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(head.length), true);
  out.set(head, 8);
  out.set(data, 8 + head.length);
  return out;
}

const byteEdits = fc.array(fc.record({ at: fc.nat(original.length + 7), value: fc.constantFrom(0, 1, 2, 0x7f, 0x80, 0xff, 0x22, 0x7b) }), { minLength: 1, maxLength: 4 });

export const stateFile = family({
  title: 'weight-file loader: mutated files (bytes, truncation, header edits)',
  arbitrary: fc.oneof(
    fc.record({ how: fc.constant('bytes' as const), edits: byteEdits }),
    fc.record({ how: fc.constant('cut' as const), length: fc.nat(original.length + 16) }),
    fc.record({ how: fc.constant('text' as const), edit: textEdits }),
  ),
  check(m) {
    let bytes: Uint8Array;
    if (m.how === 'bytes') {
      bytes = original.slice();
      for (const e of m.edits) if (e.at < bytes.length) bytes[e.at] = e.value;
    } else if (m.how === 'cut') {
      bytes = new Uint8Array(m.length);
      bytes.set(original.subarray(0, Math.min(m.length, original.length)));
    } else bytes = applyTextEdit(m.edit);
    const before = memoryStats('cpu').allocated;
    const o = attempt('decodeStateDict', () => decodeStateDict(bytes));
    if (!o.ok) {
      if (memoryStats('cpu').allocated !== before) throw new Error('a refused file left memory allocated');
      return;
    }
    // accepted: every tensor is exactly what the header says, read from inside the file
    const hl = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
    const header = JSON.parse(Buffer.from(bytes.subarray(8, 8 + hl)).toString('utf8')) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
    let total = 0;
    for (const [key, t] of Object.entries<Tensor>(o.value.state)) {
      const h = header[key];
      expectShape(key, t.shape, h.shape);
      const [b, e] = h.data_offsets;
      const want = bytes.subarray(8 + hl + b, 8 + hl + e);
      const got = new Uint8Array(t.storage.buffer!, 0, e - b);
      if (Buffer.compare(Buffer.from(want), Buffer.from(got)) !== 0) throw new Error(`'${key}': values differ from the file's bytes`);
      total += e - b;
      t.dispose();
    }
    if (total > bytes.length) throw new Error(`tensors of ${total} bytes from a file of ${bytes.length}`);
  },
});
