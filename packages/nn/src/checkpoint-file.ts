/**
 * Checkpoint files: a tree of plain values and tensors (PyTorch's `torch.save(obj, path)` /
 * `torch.load(path)` for what training saves), in one safetensors file so that any safetensors
 * reader can open the tensors:
 *
 * - every tensor is an entry of the file, named by its path in the tree (`model/layer1.0.conv1.weight`,
 *   `optimizer/state/3/expAvg`);
 * - the tree itself, with each tensor replaced by `{ "$tensor": "<entry name>" }`, is JSON in the
 *   metadata entry `kiln.checkpoint`. Values JSON cannot hold are tagged: `{ "$bigint": "123" }`,
 *   `{ "$number": "NaN" | "Infinity" | "-Infinity" | "-0" }`; an object with a key starting with `$` is
 *   refused, so tags never collide with data.
 */
import { type Tensor, Tensor as TensorClass, ValueError } from '@kiln/tensor';
import { decodeStateDict, saveStateDict } from './state-file.js';
import { readFileSync } from 'node:fs';

/** What a checkpoint holds: tensors, numbers, bigints, strings, booleans, null, and arrays and plain objects of them. */
export type CheckpointValue = Tensor | number | bigint | string | boolean | null | readonly CheckpointValue[] | { readonly [key: string]: CheckpointValue | undefined };

const METADATA_KEY = 'kiln.checkpoint';

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null) return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

/** The tree as JSON-ready values, its tensors collected by entry name. */
function encodeTree(v: unknown, path: string, tensors: Record<string, Tensor>): unknown {
  const where = path === '' ? 'the checkpoint' : `'${path}'`;
  if (v instanceof TensorClass) {
    v.assertAlive('saveCheckpoint');
    tensors[path] = v;
    return { $tensor: path };
  }
  if (typeof v === 'bigint') return { $bigint: v.toString() };
  if (typeof v === 'number') return Number.isFinite(v) && !Object.is(v, -0) ? v : { $number: Object.is(v, -0) ? '-0' : String(v) };
  if (typeof v === 'string' || typeof v === 'boolean' || v === null) return v;
  const child = (key: string | number): string => (path === '' ? String(key) : `${path}/${key}`);
  if (Array.isArray(v)) return v.map((e, i) => encodeTree(e, child(i), tensors));
  if (isPlainObject(v)) {
    const out: Record<string, unknown> = {};
    for (const [k, e] of Object.entries(v)) {
      if (e === undefined) continue;
      if (k.startsWith('$') || k.includes('/')) throw new ValueError('saveCheckpoint', 'value', "object keys that neither start with '$' nor contain '/'", `key '${k}' in ${where}`);
      out[k] = encodeTree(e, child(k), tensors);
    }
    return out;
  }
  throw new ValueError('saveCheckpoint', 'value', 'tensors, numbers, bigints, strings, booleans, null, arrays and plain objects', `${typeof v === 'object' ? (v).constructor?.name ?? 'an object' : typeof v} at ${where}`);
}

/** The tree with its tags replaced by tensors and values. */
function decodeTree(v: unknown, tensors: Record<string, Tensor>, source: string): CheckpointValue {
  if (Array.isArray(v)) return v.map((e) => decodeTree(e, tensors, source));
  if (!isPlainObject(v)) return v as CheckpointValue;
  if ('$tensor' in v) {
    const t = tensors[String(v.$tensor)];
    if (!t) throw new ValueError('loadCheckpoint', null, `a tensor entry '${String(v.$tensor)}' in ${source}`, 'no such entry');
    return t;
  }
  if ('$bigint' in v) return BigInt(String(v.$bigint));
  if ('$number' in v) return Number(v.$number);
  return Object.fromEntries(Object.entries(v).map(([k, e]) => [k, decodeTree(e, tensors, source)]));
}

/**
 * Writes a tree of values and tensors to `path` (see the file's comment for the format). Tensors
 * on any device are copied to the host; nothing is kept.
 *
 * @example
 * ```ts
 * saveCheckpoint('run/step-1000.safetensors', {
 *   model: model.stateDict(), optimizer: optimizer.stateDict(), scheduler: scheduler.stateDict(), step: 1000,
 * });
 * ```
 */
export function saveCheckpoint(path: string, value: CheckpointValue): void {
  const tensors: Record<string, Tensor> = {};
  const tree = encodeTree(value, '', tensors);
  saveStateDict(tensors, path, { [METADATA_KEY]: JSON.stringify(tree) });
}

/**
 * Reads a checkpoint written by {@link saveCheckpoint}: the same tree, its tensors on the CPU.
 * The caller owns the tensors: dispose them (`disposeCheckpoint`) once loaded into the model and
 * optimizer.
 *
 * @example
 * ```ts
 * const ckpt = loadCheckpoint('run/step-1000.safetensors') as { model: Record<string, Tensor>; step: number };
 * model.loadStateDict(ckpt.model);
 * disposeCheckpoint(ckpt);
 * ```
 */
export function loadCheckpoint(path: string): CheckpointValue {
  const { state, metadata } = decodeStateDict(readFileSync(path), path);
  const text = metadata[METADATA_KEY];
  try {
    if (typeof text !== 'string') throw new ValueError('loadCheckpoint', 'path', `a checkpoint (a '${METADATA_KEY}' metadata entry) in ${path}`, 'a safetensors file without one');
    let tree: unknown;
    try {
      tree = JSON.parse(text);
    } catch (e) {
      throw new ValueError('loadCheckpoint', 'path', `valid JSON in the '${METADATA_KEY}' entry of ${path}`, (e as Error).message);
    }
    const value = decodeTree(tree, state, path);
    const used = new Set<Tensor>();
    collectTensors(value, used);
    for (const t of Object.values(state)) if (!used.has(t)) t.dispose();
    return value;
  } catch (e) {
    for (const t of Object.values(state)) t.dispose();
    throw e;
  }
}

function collectTensors(v: unknown, into: Set<Tensor>): void {
  if (v instanceof TensorClass) into.add(v);
  else if (Array.isArray(v)) for (const e of v) collectTensors(e, into);
  else if (isPlainObject(v)) for (const e of Object.values(v)) collectTensors(e, into);
}

/** Disposes every tensor in a tree (what loadCheckpoint returned, once it has been loaded). */
export function disposeCheckpoint(value: CheckpointValue): void {
  const all = new Set<Tensor>();
  collectTensors(value, all);
  for (const t of all) t.dispose();
}
