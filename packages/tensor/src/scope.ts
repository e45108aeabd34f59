/**
 * Scopes in the spirit of tf.tidy: every tensor created inside `tidy(fn)` that is not returned (or
 * kept with `keep`) is disposed when fn returns.
 */
import type { Tensor } from './tensor.js';
import { describeValue } from './check.js';
import { ValueError } from './errors.js';

const scopes: Set<Tensor>[] = [];

/** @internal called by the Tensor constructor */
export function trackTensor(t: Tensor): void {
  if (scopes.length > 0) scopes[scopes.length - 1].add(t);
}

/** Marks a tensor to outlive the current tidy scope. */
export function keep<T extends Tensor>(t: T): T {
  for (const s of scopes) s.delete(t);
  return t;
}

function collect(result: unknown, out: Set<Tensor>): void {
  if (result === null || typeof result !== 'object') return;
  if ('storage' in result && 'shape' in result && 'dispose' in result) {
    out.add(result as Tensor);
    return;
  }
  if (Array.isArray(result) || result instanceof Set) for (const r of result) collect(r, out);
  else if (result instanceof Map) for (const [k, v] of result) { collect(k, out); collect(v, out); }
  else if (Object.getPrototypeOf(result) === Object.prototype) for (const r of Object.values(result)) collect(r, out);
}

/** @internal True for a Promise or any thenable: what an async function returns (tidy and grad modes refuse one). */
export function isThenable(v: unknown): boolean {
  return v !== null && (typeof v === 'object' || typeof v === 'function') && typeof (v as { then?: unknown }).then === 'function';
}

/**
 * Runs fn and disposes the tensors it created, except those it returns (directly, or in an array,
 * a plain object, a Map or a Set, at any depth) — those move to the enclosing scope. If fn throws,
 * all of them are disposed. Gradients stored in `.grad` are not created inside the scope's reach if
 * the tensor they belong to was created outside it. fn must be synchronous: an async fn's tensors
 * made after its first `await` would escape the scope, and those it returns would be disposed, so a
 * returned Promise is a ValueError (as tf.tidy refuses one).
 *
 * @example
 * ```ts
 * const y = tidy(() => x.mul(2).add(1).sigmoid());   // the two temporaries are disposed; y is kept
 * ```
 */
export function tidy<R>(fn: () => R): R {
  if (typeof fn !== 'function') throw new ValueError('tidy', 'fn', 'a function to run', describeValue(fn));
  const scope = new Set<Tensor>();
  scopes.push(scope);
  let result: R;
  try {
    result = fn();
    if (isThenable(result)) throw new ValueError('tidy', 'fn', 'a synchronous function (tensors made after an await escape the scope)', 'a function that returned a Promise');
  } catch (e) {
    // fn threw (or returned a Promise): nothing is returned, so everything it created is released (as tf.tidy does)
    scopes.pop();
    for (const t of scope) if (!isReferencedAsGrad(t)) release(t, new Set());
    throw e;
  }
  scopes.pop();
  const kept = new Set<Tensor>();
  collect(result, kept);
  for (const t of scope) {
    if (kept.has(t)) trackTensor(t);
    else if (!isReferencedAsGrad(t)) release(t, kept);
  }
  return result;
}

/**
 * Disposes a tensor tidy made and does not keep, with the gradient it holds (a non-leaf's
 * retainGrad): a gradient outlives the scope only with the tensor it belongs to, else every step
 * of a loop would leave one behind.
 */
function release(t: Tensor, kept: ReadonlySet<Tensor>): void {
  const g = t.grad;
  if (g !== null && isReferencedAsGrad(g) && !kept.has(g)) {
    t.grad = null;
    g.dispose();
  }
  t.dispose();
}

/**
 * @internal for @kiln/autograd's engine: runs fn and collects into `created` the tensors made while
 * it ran (a nested tidy passes on only what it kept; keep() and markAsGrad() take a tensor out), so
 * the engine can dispose the gradients it made and no one else's. The enclosing scope then tracks
 * them as usual.
 */
export function collectCreated<R>(fn: () => R, created: Set<Tensor>): R {
  scopes.push(created);
  try {
    return fn();
  } finally {
    scopes.pop();
    if (scopes.length > 0) for (const t of created) trackTensor(t);
  }
}

// Tensors stored as some tensor's .grad must survive the scope that created them (backward inside tidy).
const gradTensors = new WeakSet<Tensor>();
/** @internal autograd marks accumulated gradients */
export function markAsGrad(t: Tensor): void {
  gradTensors.add(t);
  for (const s of scopes) s.delete(t);
}
function isReferencedAsGrad(t: Tensor): boolean {
  return gradTensors.has(t);
}
