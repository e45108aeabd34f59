/**
 * State dicts on disk, in the safetensors format (https://huggingface.co/docs/safetensors), so that
 * files open in PyTorch (`safetensors.torch.load_file`) and PyTorch's files open here:
 *
 * ```
 * bytes 0..8     N, the header's length (unsigned 64-bit little-endian)
 * bytes 8..8+N   a UTF-8 JSON header, padded with spaces to a multiple of 8 bytes:
 *                { "<key>": { "dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end] }, ...,
 *                  "__metadata__": { "format": "kiln" } }
 * bytes 8+N..    the data: each tensor's elements, contiguous, row-major, little-endian, at
 *                [begin, end) of this region (in key order, without gaps)
 * ```
 *
 * dtype codes: F32 float32, F64 float64, F16 float16, BF16 bfloat16, I32 int32, I64 int64, BOOL bool.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { endianness } from 'node:os';
import { type DType, type Tensor, DTypeError, ValueError, cpu, emptyOn, fmtShape } from '@kiln/tensor';
import { noGrad } from '@kiln/autograd';

const CODES: Record<DType, string> = {
  float32: 'F32', float64: 'F64', float16: 'F16', bfloat16: 'BF16', int32: 'I32', int64: 'I64', bool: 'BOOL',
};
const DTYPE_OF_CODE = new Map(Object.entries(CODES).map(([d, c]) => [c, d as DType]));
const ITEMSIZE: Record<DType, number> = { float32: 4, float64: 8, float16: 2, bfloat16: 2, int32: 4, int64: 8, bool: 1 };

function checkLittleEndian(op: string): void {
  if (endianness() !== 'LE') throw new ValueError(op, null, 'a little-endian machine (safetensors data is little-endian)', 'a big-endian one');
}

/** The raw bytes of t's elements, contiguous and row-major (a host copy). */
function rawBytes(t: Tensor): Uint8Array {
  const host = noGrad(() => t.to('cpu').contiguous());
  const bytes = new Uint8Array(host.storage.buffer!, host.offset * host.itemsize, host.numel * host.itemsize).slice();
  if (host !== t) host.dispose();
  return bytes;
}

/** Encodes a state dict as safetensors bytes. */
export function encodeStateDict(state: Readonly<Record<string, Tensor>>, metadata: Readonly<Record<string, string>> = {}): Uint8Array {
  checkLittleEndian('saveStateDict');
  const header: Record<string, unknown> = { __metadata__: { format: 'kiln', ...metadata } };
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const [key, t] of Object.entries(state)) {
    if (key === '__metadata__') throw new ValueError('saveStateDict', 'state', 'keys other than the reserved "__metadata__"', key);
    t.assertAlive('saveStateDict');
    const bytes = rawBytes(t);
    header[key] = { dtype: CODES[t.dtype], shape: [...t.shape], data_offsets: [offset, offset + bytes.length] };
    chunks.push(bytes);
    offset += bytes.length;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const head = Buffer.from(json, 'utf8');
  const out = new Uint8Array(8 + head.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(head.length), true);
  out.set(head, 8);
  let at = 8 + head.length;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** Decodes safetensors bytes into CPU tensors (the caller owns and disposes them). */
export function decodeStateDict(bytes: Uint8Array, source = 'state dict'): {
  /** The tensors by name. */
  state: Record<string, Tensor>;
  /** The file's `__metadata__` strings. */
  metadata: Record<string, string>;
} {
  const op = 'loadStateDict';
  checkLittleEndian(op);
  const bad = (what: string, got: string): ValueError => new ValueError(op, null, `${what} in ${source} (a safetensors file)`, got);
  if (bytes.length < 8) throw bad('an 8-byte header length', `${bytes.length} bytes`);
  const headerLen = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  if (headerLen > bytes.length - 8) throw bad(`a header length <= ${bytes.length - 8}`, String(headerLen));
  let header: Record<string, { dtype?: unknown; shape?: unknown; data_offsets?: unknown }>;
  try {
    header = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset + 8, headerLen).toString('utf8'));
  } catch (e) {
    throw bad('a JSON header', (e as Error).message);
  }
  const dataStart = 8 + headerLen, dataLen = bytes.length - dataStart;
  const state: Record<string, Tensor> = {};
  const metadata = (header.__metadata__ ?? {}) as Record<string, string>;
  try {
    for (const [key, entry] of Object.entries(header)) {
      if (key === '__metadata__') continue;
      const dtype = DTYPE_OF_CODE.get(String(entry.dtype));
      if (dtype === undefined) throw new DTypeError(op, `state['${key}']`, `one of ${[...DTYPE_OF_CODE.keys()].join(', ')}`, String(entry.dtype));
      const shape = entry.shape, offs = entry.data_offsets;
      if (!Array.isArray(shape) || !shape.every((s) => Number.isInteger(s) && s >= 0)) throw bad(`a shape for '${key}'`, JSON.stringify(shape));
      if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => Number.isInteger(o) && o >= 0)) throw bad(`data_offsets for '${key}'`, JSON.stringify(offs));
      const [begin, end] = offs as [number, number];
      const nbytes = shape.reduce((a: number, b: number) => a * b, 1) * ITEMSIZE[dtype];
      if (end - begin !== nbytes || end > dataLen) {
        throw bad(`${nbytes} bytes of data inside the file for '${key}' (${dtype} ${fmtShape(shape)})`, `data_offsets [${begin}, ${end}] of ${dataLen} bytes`);
      }
      const t = emptyOn(shape, dtype, cpu);
      state[key] = t;
      if (nbytes > 0) new Uint8Array(t.storage.buffer!, 0, nbytes).set(bytes.subarray(dataStart + begin, dataStart + end));
    }
  } catch (e) {
    for (const t of Object.values(state)) t.dispose();
    throw e;
  }
  return { state, metadata };
}

/** Writes a state dict to `path` as a safetensors file. */
export function saveStateDict(state: Readonly<Record<string, Tensor>>, path: string, metadata?: Readonly<Record<string, string>>): void {
  writeFileSync(path, encodeStateDict(state, metadata));
}

/** Reads a safetensors file into CPU tensors by key (the caller owns and disposes them). */
export function loadStateDictFile(path: string): Record<string, Tensor> {
  return decodeStateDict(readFileSync(path), path).state;
}

/**
 * Renames the snake_case parts of PyTorch state-dict keys to Kiln's camelCase property names
 * ('layer1.0.bn1.running_mean' -> 'layer1.0.bn1.runningMean'), for loading PyTorch checkpoints.
 */
export function fromTorchKeys<T>(state: Readonly<Record<string, T>>): Record<string, T> {
  const camel = (part: string): string => part.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
  return Object.fromEntries(Object.entries(state).map(([k, v]) => [k.split('.').map(camel).join('.'), v]));
}
