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
 *
 * Saving is atomic: the file is written whole next to the target, flushed to the disk and renamed
 * over the old one, so a crash or a kill mid-save leaves the previous checkpoint as it was. Loading
 * trusts nothing in the file: every field is checked (see decodeStateDict) before any tensor is
 * allocated, and nothing larger than the file itself is ever allocated.
 */
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { endianness } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { type DType, type Tensor, DTypeError, MAX_DIMS, ShapeError, ValueError, cpu, describeValue, emptyOn, fmtShape } from '@kiln/tensor';
import { noGrad } from '@kiln/autograd';
import { type JsonValue, StrictJsonError, parseStrictJson } from './strict-json.js';

const CODES: Record<DType, string> = {
  float32: 'F32', float64: 'F64', float16: 'F16', bfloat16: 'BF16', int32: 'I32', int64: 'I64', bool: 'BOOL',
};
const DTYPE_OF_CODE = new Map(Object.entries(CODES).map(([d, c]) => [c, d as DType]));
const ITEMSIZE: Record<DType, number> = { float32: 4, float64: 8, float16: 2, bfloat16: 2, int32: 4, int64: 8, bool: 1 };
/** The largest header read (safetensors' own limit): a larger one is not a state dict. */
const MAX_HEADER_BYTES = 100_000_000;
/** Keys that are not tensor names: the metadata's, and those that reach an object's prototype. */
const RESERVED_KEYS = new Set(['__metadata__', '__proto__', 'constructor', 'prototype']);

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
  const op = 'saveStateDict';
  checkLittleEndian(op);
  for (const [k, v] of Object.entries(metadata)) {
    if (typeof v !== 'string') throw new ValueError(op, `metadata['${k}']`, 'a string (safetensors metadata maps strings to strings)', describeValue(v));
  }
  const header: Record<string, unknown> = { __metadata__: { format: 'kiln', ...metadata } };
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const [key, t] of Object.entries(state)) {
    if (RESERVED_KEYS.has(key)) throw new ValueError(op, 'state', `keys other than the reserved ${[...RESERVED_KEYS].map((k) => JSON.stringify(k)).join(', ')}`, key);
    if (typeof t !== 'object' || t === null || !('storage' in t)) throw new ValueError(op, `state['${key}']`, 'a Tensor', describeValue(t));
    t.assertAlive(op);
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

/** One tensor's entry of a header, checked. */
interface Entry {
  key: string;
  dtype: DType;
  shape: number[];
  begin: number;
  end: number;
}

const isObject = (v: JsonValue | undefined): v is { [key: string]: JsonValue } => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Decodes safetensors bytes into CPU tensors (the caller owns and disposes them). Everything in the
 * file is checked before any tensor is allocated, and a file that fails a check is a typed error
 * (ValueError, or DTypeError for an unknown dtype) naming what is wrong:
 *
 * - the header's length fits the file (and 100 MB), the header is UTF-8 strict JSON (no key twice,
 *   no `__proto__`) whose value is an object of objects;
 * - `__metadata__`, if present, maps strings to strings;
 * - each entry has exactly `dtype` (a known code), `shape` (at most 12 safe non-negative integers)
 *   and `data_offsets` ([begin, end], safe integers, end - begin = the shape's bytes);
 * - the entries' byte ranges cover the data region exactly, without overlaps or gaps (so no byte is
 *   read twice, none is left unread, and the tensors never hold more bytes than the file);
 * - bool tensors hold only the bytes 0 and 1.
 */
export function decodeStateDict(bytes: Uint8Array, source = 'state dict'): {
  /** The tensors by name. */
  state: Record<string, Tensor>;
  /** The file's `__metadata__` strings. */
  metadata: Record<string, string>;
} {
  const op = 'loadStateDict';
  checkLittleEndian(op);
  const bad = (what: string, got: string): ValueError => new ValueError(op, null, `${what} in ${source} (a safetensors file)`, got);
  if (!(bytes instanceof Uint8Array)) throw new ValueError(op, 'bytes', 'a Uint8Array (a Buffer)', describeValue(bytes));
  if (bytes.length < 8) throw bad('an 8-byte header length', `${bytes.length} bytes`);
  const headerLen64 = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (headerLen64 > BigInt(Math.min(bytes.length - 8, MAX_HEADER_BYTES))) {
    throw bad(`a header length <= ${Math.min(bytes.length - 8, MAX_HEADER_BYTES)}`, String(headerLen64));
  }
  const headerLen = Number(headerLen64);
  let header: JsonValue;
  try {
    const text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerLen));
    header = parseStrictJson(text);
  } catch (e) {
    throw bad('a UTF-8 JSON header', e instanceof StrictJsonError || e instanceof TypeError ? e.message : String(e));
  }
  if (!isObject(header)) throw bad('a header that is a JSON object', describeValue(header));
  const dataStart = 8 + headerLen, dataLen = bytes.length - dataStart;

  const metadata: Record<string, string> = {};
  const meta = header.__metadata__;
  if (meta !== undefined) {
    if (!isObject(meta)) throw bad('__metadata__ that is an object of strings', describeValue(meta));
    for (const [k, v] of Object.entries(meta)) {
      if (typeof v !== 'string') throw bad(`a string for __metadata__['${k}']`, describeValue(v));
      Object.defineProperty(metadata, k, { value: v, enumerable: true, writable: true, configurable: true });
    }
  }

  const entries: Entry[] = [];
  for (const [key, entry] of Object.entries(header)) {
    if (key === '__metadata__') continue;
    if (RESERVED_KEYS.has(key)) throw bad('tensor names other than "constructor" and "prototype"', key);
    entries.push(checkEntry(op, key, entry, bad));
  }
  // The byte ranges, in order, must tile the data region: no overlap, no gap, nothing past its end.
  const ordered = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let next = 0;
  for (const e of ordered) {
    if (e.end > dataLen) {
      throw bad(`${e.end - e.begin} bytes of data inside the file for '${e.key}' (${e.dtype} ${fmtShape(e.shape)})`, `data_offsets [${e.begin}, ${e.end}] of ${dataLen} bytes`);
    }
    if (e.begin !== next) {
      throw bad(e.begin < next ? 'tensor data that does not overlap another tensor\'s' : 'tensor data without gaps between tensors',
        `data_offsets [${e.begin}, ${e.end}] for '${e.key}' where byte ${next} comes next`);
    }
    next = e.end;
  }
  if (next !== dataLen) throw bad(`tensors covering the ${dataLen} bytes of data`, `tensors covering ${next} bytes`);
  for (const e of entries) {
    if (e.dtype !== 'bool') continue;
    const data = bytes.subarray(dataStart + e.begin, dataStart + e.end);
    const at = data.findIndex((b) => b > 1);
    if (at >= 0) throw bad(`bytes 0 or 1 for the bool tensor '${e.key}'`, `${data[at]} at element ${at}`);
  }

  const state: Record<string, Tensor> = {};
  try {
    for (const e of entries) {
      const t = emptyOn(e.shape, e.dtype, cpu);
      state[e.key] = t;
      const n = e.end - e.begin;
      if (n > 0) new Uint8Array(t.storage.buffer!, 0, n).set(bytes.subarray(dataStart + e.begin, dataStart + e.end));
    }
  } catch (e) {
    for (const t of Object.values(state)) t.dispose();
    throw e;
  }
  return { state, metadata };
}

/** One header entry checked: an object of exactly dtype, shape and data_offsets, consistent. */
function checkEntry(op: string, key: string, entry: JsonValue, bad: (what: string, got: string) => ValueError): Entry {
  if (!isObject(entry)) throw bad(`an object for '${key}'`, describeValue(entry));
  const fields = Object.keys(entry).sort().join(',');
  if (fields !== 'data_offsets,dtype,shape') throw bad(`exactly dtype, shape and data_offsets for '${key}'`, `the fields ${fields || '(none)'}`);
  const dtype = typeof entry.dtype === 'string' ? DTYPE_OF_CODE.get(entry.dtype) : undefined;
  if (dtype === undefined) throw new DTypeError(op, `state['${key}']`, `one of ${[...DTYPE_OF_CODE.keys()].join(', ')}`, describeValue(entry.dtype));
  const shape = entry.shape, offs = entry.data_offsets;
  const safe = (v: JsonValue): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
  if (!Array.isArray(shape) || !shape.every(safe)) throw bad(`a shape of non-negative integers for '${key}'`, describeValue(shape));
  if (shape.length > MAX_DIMS) throw new ShapeError(op, `state['${key}']`, `at most ${MAX_DIMS} dimensions`, `${shape.length} dimensions`);
  if (!Array.isArray(offs) || offs.length !== 2 || !offs.every(safe) || offs[0] > offs[1]) {
    throw bad(`data_offsets [begin, end] (integers, begin <= end) for '${key}'`, describeValue(offs));
  }
  const [begin, end] = offs as [number, number];
  const nbytes = (shape).reduce((a, b) => a * b, 1) * ITEMSIZE[dtype];
  if (end - begin !== nbytes) {
    throw bad(`${nbytes} bytes of data for '${key}' (${dtype} ${fmtShape(shape)})`, `data_offsets [${begin}, ${end}]`);
  }
  return { key, dtype, shape: shape, begin, end };
}

/**
 * Writes `bytes` to `path` atomically: into a new temporary file in the same folder, flushed to the
 * disk (fsync), then renamed over `path` (rename replaces a file atomically on POSIX file systems),
 * and the folder flushed so that the rename itself survives a power loss. A crash at any point
 * leaves either the old file or the new one, never a half-written file; a failure removes the
 * temporary file and rethrows.
 */
export function writeFileAtomic(path: string, bytes: Uint8Array): void {
  const target = resolve(path);
  const temp = join(dirname(target), `.${basename(target)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  let fd = openSync(temp, 'wx');
  try {
    for (let at = 0; at < bytes.length;) at += writeSync(fd, bytes, at, bytes.length - at);
    fsyncSync(fd);
    closeSync(fd);
    fd = -1;
    renameSync(temp, target);
  } catch (e) {
    if (fd >= 0) closeSync(fd);
    try {
      unlinkSync(temp);
    } catch {
      // already renamed or never created
    }
    throw e;
  }
  syncFolder(dirname(target));
}

/** fsync of a folder (what makes a rename durable); some file systems do not support it. */
function syncFolder(folder: string): void {
  let fd = -1;
  try {
    fd = openSync(folder, 'r');
    fsyncSync(fd);
  } catch {
    // best effort: the rename is atomic either way
  } finally {
    if (fd >= 0) closeSync(fd);
  }
}

/** Writes a state dict to `path` as a safetensors file, atomically (see writeFileAtomic). */
export function saveStateDict(state: Readonly<Record<string, Tensor>>, path: string, metadata?: Readonly<Record<string, string>>): void {
  writeFileAtomic(path, encodeStateDict(state, metadata));
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
