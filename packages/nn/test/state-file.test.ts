// Weight files: saving is atomic (a writer killed mid-save leaves the previous file loadable), and
// loading checks every field of the file before allocating anything, so a damaged or malicious
// file is a typed error, never a crash, a polluted prototype or an allocation the file does not
// justify.
import { afterAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DTypeError, KilnError, ShapeError, ValueError, arange, memoryStats, tensor, DisposedError } from '@kiln/tensor';
import { decodeStateDict, encodeStateDict, loadStateDictFile, saveStateDict } from '@kiln/nn';
import { expectError, settleMemoryBeforeEach } from '@kiln/tensor/testing';

settleMemoryBeforeEach();

const dir = mkdtempSync(join(tmpdir(), 'kiln-state-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A safetensors file from a header object and a data region (no checks: to build bad files). */
function rawFile(header: unknown, data = new Uint8Array(0), headerText = JSON.stringify(header)): Uint8Array {
  const head = Buffer.from(headerText, 'utf8');
  const out = new Uint8Array(8 + head.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(head.length), true);
  out.set(head, 8);
  out.set(data, 8 + head.length);
  return out;
}
const f32 = (n: number) => new Uint8Array(new Float32Array(n).fill(1).buffer);

describe('loading checks every field', () => {
  const entry = (dtype: unknown, shape: unknown, offs: unknown) => ({ dtype, shape, data_offsets: offs });
  const cases: [string, Uint8Array, typeof KilnError, RegExp?][] = [
    ['a header that is an array', rawFile([1, 2]), ValueError, /a header that is a JSON object/],
    ['a header that is not JSON', rawFile(null, undefined, '{"a": '), ValueError, /a UTF-8 JSON header/],
    ['invalid UTF-8', (() => { const b = rawFile(null, undefined, '{"ab":1}'); b[10] = 0xff; return b; })(), ValueError, /UTF-8/],
    ['an entry that is not an object', rawFile({ a: 5 }), ValueError, /an object for 'a'/],
    ['an entry that is an array', rawFile({ a: [1] }), ValueError],
    ['an unknown dtype', rawFile({ a: entry('F8', [1], [0, 1]) }, new Uint8Array(1)), DTypeError],
    ['a missing field', rawFile({ a: { dtype: 'F32', shape: [1] } }, f32(1)), ValueError, /exactly dtype, shape and data_offsets/],
    ['an extra field', rawFile({ a: { ...entry('F32', [1], [0, 4]), x: 1 } }, f32(1)), ValueError],
    ['a fractional size', rawFile({ a: entry('F32', [1.5], [0, 6]) }, new Uint8Array(6)), ValueError],
    ['a negative size', rawFile({ a: entry('F32', [-1], [0, 0]) }), ValueError],
    ['a size beyond 2^53', rawFile({ a: entry('F32', [2 ** 60], [0, 4]) }, f32(1)), ValueError],
    ['too many dimensions', rawFile({ a: entry('F32', Array(13).fill(1), [0, 4]) }, f32(1)), ShapeError],
    ['offsets that do not match the shape', rawFile({ a: entry('F32', [2], [0, 4]) }, f32(1)), ValueError, /8 bytes of data for 'a'/],
    ['offsets reversed', rawFile({ a: entry('F32', [0], [4, 0]) }, f32(1)), ValueError],
    ['offsets past the end', rawFile({ a: entry('F32', [2], [0, 8]) }, f32(1)), ValueError, /inside the file/],
    ['overlapping tensors', rawFile({ a: entry('F32', [2], [0, 8]), b: entry('F32', [2], [4, 12]) }, f32(3)), ValueError, /does not overlap/],
    ['a gap between tensors', rawFile({ a: entry('F32', [1], [0, 4]), b: entry('F32', [1], [8, 12]) }, f32(3)), ValueError, /without gaps/],
    ['data no tensor covers', rawFile({ a: entry('F32', [1], [0, 4]) }, f32(2)), ValueError, /covering the 8 bytes/],
    ['a bool byte other than 0 or 1', rawFile({ a: entry('BOOL', [3], [0, 3]) }, new Uint8Array([0, 1, 7])), ValueError, /7 at element 2/],
    ['a key given twice', rawFile(null, f32(1), '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}'), ValueError, /given twice/],
    ['a __proto__ key', rawFile(null, f32(1), '{"__proto__":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}'), ValueError, /prototype/],
    ['a constructor key', rawFile({ constructor: entry('F32', [1], [0, 4]) }, f32(1)), ValueError],
    ['metadata that is not strings', rawFile({ __metadata__: { a: 1 } }), ValueError, /a string for __metadata__/],
    ['deep nesting', rawFile(null, undefined, `{"a":${'['.repeat(5000)}${']'.repeat(5000)}}`), ValueError, /nesting deeper/],
    ['a header length beyond the file', (() => { const b = new Uint8Array(16); new DataView(b.buffer).setBigUint64(0, 1000n, true); return b; })(), ValueError, /a header length <= 8/],
    ['a header length of 2^64 - 1', (() => { const b = new Uint8Array(16); new DataView(b.buffer).setBigUint64(0, 2n ** 64n - 1n, true); return b; })(), ValueError],
    ['a file shorter than 8 bytes', new Uint8Array(3), ValueError, /an 8-byte header length/],
  ];
  for (const [what, bytes, cls, message] of cases) {
    it(`refuses ${what}`, () => {
      const before = memoryStats('cpu').allocated;
      expect(() => decodeStateDict(bytes)).toThrow(cls);
      if (message) expect(() => decodeStateDict(bytes)).toThrow(message);
      expect(memoryStats('cpu').allocated).toBe(before);   // nothing allocated, nothing leaked
      expect(({} as Record<string, unknown>).dtype).toBeUndefined();
    });
  }

  it('reads valid files: several dtypes, empty tensors, metadata, keys in any order', () => {
    const state = {
      b: tensor([true, false, true]), a: arange(6, undefined, 1, { dtype: 'float64' }).reshape([2, 3]), e: tensor([], { dtype: 'int32' }),
    };
    const back = decodeStateDict(encodeStateDict(state, { note: 'x' }));
    expect(back.metadata).toEqual({ format: 'kiln', note: 'x' });
    expect(back.state.a.toArray()).toEqual([[0, 1, 2], [3, 4, 5]]);
    expect(back.state.b.toArray()).toEqual([true, false, true]);
    expect(back.state.e.shape).toEqual([0]);
    expect(Object.getPrototypeOf(back.state)).toBe(Object.prototype);
  });

  it('saving refuses keys that would be lost or reach a prototype, and non-string metadata', () => {
    for (const key of ['__metadata__', '__proto__', 'constructor']) {
      const state = Object.defineProperty({}, key, { value: tensor([1]), enumerable: true });
      expectError(() => encodeStateDict(state), ValueError, { op: 'saveStateDict', argument: 'state' });
    }
    expectError(() => encodeStateDict({ a: tensor([1]) }, { n: 1 as unknown as string }), ValueError, { op: 'saveStateDict', argument: "metadata['n']", expected: 'a string (safetensors metadata maps strings to strings)', got: '1' });
  });
});

describe('saving is atomic', () => {
  /** A child process that saves a large state dict to `path` over and over, alternating two versions. */
  function startWriter(path: string): ReturnType<typeof spawn> {
    const script = new URL('./state-file-writer.ts', import.meta.url).pathname;
    return spawn(process.execPath, ['--conditions=@kiln/source', '--import', 'tsx', script, path], { stdio: ['ignore', 'pipe', 'pipe'] });
  }

  it('a writer killed mid-save leaves the previous file loadable', async () => {
    const path = join(dir, 'model.safetensors');
    saveStateDict({ version: tensor([0], { dtype: 'int32' }) }, path);
    for (let round = 0; round < 3; round++) {
      const child = startWriter(path);
      let stderr = '';
      child.stderr!.on('data', (d) => (stderr += d));
      // wait until a save is under way (its temporary file exists), then kill it there
      const deadline = Date.now() + 60_000;
      let tempSeen = false;
      while (Date.now() < deadline && child.exitCode === null) {
        if (readdirSync(dir).some((f) => f.endsWith('.tmp'))) {
          tempSeen = true;
          break;
        }
        await new Promise((r) => setTimeout(r, 2 + round * 3));
      }
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
      expect(tempSeen, `the writer never started a save: ${stderr}`).toBe(true);
      const state = loadStateDictFile(path);             // whole and valid: the old file or a new complete one
      const v = state.version.toArray() as number[];
      expect([0, 1, 2]).toContain(v[0]);
      if (v[0] !== 0) expect(state.big.shape).toEqual([4 << 20]);
      for (const t of Object.values(state)) t.dispose();
      for (const f of readdirSync(dir)) if (f.endsWith('.tmp')) rmSync(join(dir, f));   // what the kill left behind
    }
    expect(existsSync(path)).toBe(true);
  }, 180_000);

  it('a save that fails leaves the old file and no temporary file', () => {
    const path = join(dir, 'keep.safetensors');
    saveStateDict({ a: tensor([1, 2]) }, path);
    const old = readFileSync(path);
    const gone = tensor([1]);
    gone.dispose();
    expectError(() => saveStateDict({ a: gone }, path), DisposedError, { op: 'saveStateDict' });
    expect(readFileSync(path)).toEqual(old);
    writeFileSync(join(dir, 'plain.bin'), 'x');
    expect(readdirSync(dir).filter((f) => f.startsWith('.keep'))).toEqual([]);
  });
});
