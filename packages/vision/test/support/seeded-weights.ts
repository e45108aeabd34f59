// The seeded weights of tools/reference/torchvision_models.py, regenerated here: value i of the
// tensor named `key` (torchvision's key) is a function of (seed, key, i) only. See that file's
// docstring for the definition; the two must stay the same (the fixture's CRC-32s check it).
import { crc32 } from 'node:zlib';
import { type Tensor, fromTypedArray } from '@kiln/tensor';

function fnv1a32(text: string): number {
  let h = 0x811c9dc5;
  for (const b of Buffer.from(text, 'utf8')) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return h;
}

/** u_i in [0, 1) for i < n: 24-bit fractions of a hashed counter. */
export function uniform(seed: number, key: string, n: number): Float64Array {
  const base = (fnv1a32(key) ^ seed) >>> 0;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let x = (Math.imul(i, 0x9e3779b1) + base) >>> 0;
    x ^= x >>> 16;
    x = Math.imul(x, 0x85ebca6b) >>> 0;
    x ^= x >>> 13;
    x = Math.imul(x, 0xc2b2ae35) >>> 0;
    x ^= x >>> 16;
    out[i] = (x >>> 8) / 16777216;
  }
  return out;
}

/** The seeded values of `key` as float32 (int64 for num_batches_tracked), row-major. */
export function seededValues(seed: number, key: string, shape: readonly number[], clsBias: number): Float32Array | BigInt64Array {
  const n = shape.reduce((a, b) => a * b, 1);
  if (key.endsWith('num_batches_tracked')) return new BigInt64Array(n).fill(5n);
  const u = uniform(seed, key, n);
  const out = new Float32Array(n);    // float64 -> float32 rounds to nearest, ties to even, as numpy's astype
  let f: (x: number) => number;
  if (key.endsWith('running_var')) f = (x) => 0.5 + x;
  else if (key.endsWith('running_mean')) f = (x) => (x - 0.5) * 0.2;
  else if (key.endsWith('cls_logits.bias')) f = (x) => clsBias + (x - 0.5) * 0.2;
  else if (shape.length === 1 && key.endsWith('.weight')) f = (x) => 0.25 + 0.25 * x;
  else if (key.endsWith('.bias')) f = (x) => (x - 0.5) * 0.2;
  else {
    const bound = Math.sqrt(6 / (shape[1] * shape.slice(2).reduce((a, b) => a * b, 1)));
    f = (x) => (2 * x - 1) * bound;
  }
  for (let i = 0; i < n; i++) out[i] = f(u[i]);
  return out;
}

/** The CRC-32 of the values' little-endian bytes, as 8 hex digits (the fixture's form). */
export function crcOf(values: Float32Array | BigInt64Array): string {
  return crc32(new Uint8Array(values.buffer, values.byteOffset, values.byteLength)).toString(16).padStart(8, '0');
}

/** A torchvision state dict of seeded CPU tensors for the given keys and shapes. */
export function seededState(seed: number, shapes: Readonly<Record<string, readonly number[]>>, clsBias: number): Record<string, Tensor> {
  return Object.fromEntries(Object.entries(shapes).map(([key, shape]) => [key, fromTypedArray(seededValues(seed, key, shape, clsBias), [...shape])]));
}
