/**
 * Mixed precision as PyTorch's `torch.autocast`: inside a scope for a device type, ops whose
 * declaration carries an autocast policy (declareOp's `autocast` option) cast their inputs first:
 * 'lower' ops (matrix products, convolutions) to the scope's bfloat16 / float16, 'float32' ops
 * (softmax, exp / log / pow, reductions, losses) to float32, 'promote' ops run on the widest dtype
 * of their inputs (their own type promotion does it). The state is per device type and applies to
 * ops whose inputs are on that device type. Casts are ordinary recorded `to` calls, so autograd
 * sends each gradient back through them to the float32 leaf in float32.
 *
 * Weight cast cache: the low-precision cast of a float32 leaf that requires grad (a parameter) is
 * made once per outermost scope and reused by every op in it, as PyTorch's cast cache. The cache is
 * dropped when the outermost scope exits; a cached cast is then owned like any other tensor of the
 * forward pass (the graph may still need it for backward): `tidy` releases it, or the collector.
 * A cached cast is made again when its parameter was changed in place (an optimizer step inside
 * the scope) or the cast was disposed (by a `tidy` nested inside the scope).
 */
import type { DeviceType } from './device.js';
import { type DType, isFloating } from './dtype.js';
import { type OpSchema, needsRecording } from './dispatch.js';
import { checkOptionKeys } from './check.js';
import { ValueError } from './errors.js';
import { to } from './ops/convert.js';
import { Tensor } from './tensor.js';

/** The low-precision dtypes an autocast scope may use. */
export type AutocastDType = 'bfloat16' | 'float16';

/** Options of {@link autocast}, as torch.autocast's arguments. */
export interface AutocastOptions {
  /** The device type whose ops the scope affects. */
  deviceType: DeviceType;
  /** The dtype of 'lower' ops (default: float16 on 'cuda', bfloat16 on 'cpu', as PyTorch). */
  dtype?: AutocastDType;
  /** false makes a scope in which autocast is off for the device type (default true). */
  enabled?: boolean;
  /** Whether casts of parameters are cached for the outermost scope (default true). */
  cacheEnabled?: boolean;
}

interface DeviceState {
  enabled: boolean;
  dtype: AutocastDType;
  cacheEnabled: boolean;
}

const defaults: Record<DeviceType, AutocastDType> = { cpu: 'bfloat16', cuda: 'float16' };
const state: Record<DeviceType, DeviceState> = {
  cpu: { enabled: false, dtype: 'bfloat16', cacheEnabled: true },
  cuda: { enabled: false, dtype: 'float16', cacheEnabled: true },
};
/** True while some device type has autocast on: the one check an op pays outside every scope. */
let anyEnabled = false;
const open: AutocastScope[] = [];

interface CachedCast {
  cast: Tensor;
  version: number;
}
/** The weight cast cache of the outermost scope: source tensor -> its casts by dtype. */
let cache = new Map<Tensor, Map<DType, CachedCast>>();
let cacheHits = 0;

function checkOptions(opts: AutocastOptions): DeviceState {
  const op = 'autocast';
  if (opts === null || typeof opts !== 'object') throw new ValueError(op, 'options', '{ deviceType, dtype?, enabled?, cacheEnabled? }', String(opts));
  checkOptionKeys(op, opts, { deviceType: true, dtype: true, enabled: true, cacheEnabled: true });
  if (opts.deviceType !== 'cpu' && opts.deviceType !== 'cuda') throw new ValueError(op, 'deviceType', "'cpu' or 'cuda'", String(opts.deviceType));
  const dtype = opts.dtype ?? defaults[opts.deviceType];
  if (dtype !== 'bfloat16' && dtype !== 'float16') throw new ValueError(op, 'dtype', "'bfloat16' or 'float16'", String(dtype));
  for (const k of ['enabled', 'cacheEnabled'] as const) {
    if (opts[k] !== undefined && typeof opts[k] !== 'boolean') throw new ValueError(op, k, 'a boolean', String(opts[k]));
  }
  return { enabled: opts.enabled ?? true, dtype, cacheEnabled: opts.cacheEnabled ?? true };
}

/**
 * An entered autocast scope; `[Symbol.dispose]()` (or `exit()`) restores the device type's previous
 * state. Scopes exit in the reverse order of entry; the outermost one's exit clears the cast cache.
 */
export class AutocastScope implements Disposable {
  private readonly previous: DeviceState;
  private exited = false;

  /** The device type whose state this scope set. */
  readonly deviceType: DeviceType;

  /** @internal made by {@link autocast} */
  constructor(deviceType: DeviceType, next: DeviceState) {
    this.deviceType = deviceType;
    this.previous = state[deviceType];
    state[deviceType] = next;
    open.push(this);
    anyEnabled = state.cpu.enabled || state.cuda.enabled;
  }

  /** Leaves the scope (a second call does nothing). */
  exit(): void {
    if (this.exited) return;
    if (open[open.length - 1] !== this) {
      throw new ValueError('autocast', 'scope', 'the innermost open scope to exit first (scopes exit in reverse order of entry)', 'an outer scope');
    }
    this.exited = true;
    open.pop();
    state[this.deviceType] = this.previous;
    anyEnabled = state.cpu.enabled || state.cuda.enabled;
    if (open.length === 0) clearAutocastCache();
  }

  /** {@link exit}, for `using scope = autocast({...})`. */
  [Symbol.dispose](): void {
    this.exit();
  }
}

/**
 * Runs `fn` with autocast on (or, with `enabled: false`, off) for ops on `deviceType`, as
 * `with torch.autocast(device_type, dtype):`; without `fn`, enters the scope and returns it for a
 * `using` declaration. Scopes nest: the innermost one's settings hold for its device type until it
 * exits. `fn` must be synchronous (as `tidy`'s). Outputs of 'lower' ops stay in the low dtype after
 * the scope, as in PyTorch; run the loss inside the scope (its ops are 'float32') or cast with `to`.
 *
 * @example
 * ```ts
 * const loss = autocast({ deviceType: 'cuda', dtype: 'bfloat16' }, () => {
 *   const y = model.forward(x);          // convolutions and linear layers in bfloat16
 *   return sigmoidFocalLoss(y, target);  // float32
 * });
 * loss.backward();                        // float32 gradients in the float32 parameters
 *
 * {
 *   using _ = autocast({ deviceType: 'cpu' });   // bfloat16 on the CPU until the block ends
 *   const z = x.matmul(w);                       // bfloat16
 * }
 * ```
 */
export function autocast(options: AutocastOptions): AutocastScope;
export function autocast<R>(options: AutocastOptions, fn: () => R): R;
export function autocast<R>(options: AutocastOptions, fn?: () => R): R | AutocastScope {
  const scope = new AutocastScope(options?.deviceType, checkOptions(options));
  if (fn === undefined) return scope;
  try {
    return fn();
  } finally {
    scope.exit();
  }
}

/**
 * Whether autocast is on for ops on `deviceType` (torch.is_autocast_enabled).
 *
 * @example
 * ```ts
 * autocast({ deviceType: 'cpu' }, () => isAutocastEnabled('cpu'));   // true
 * ```
 */
export function isAutocastEnabled(deviceType: DeviceType): boolean {
  return state[deviceType]?.enabled ?? false;
}

/**
 * The low-precision dtype of `deviceType`'s current scope, or its default outside any scope
 * (torch.get_autocast_dtype).
 *
 * @example
 * ```ts
 * getAutocastDtype('cuda');   // 'float16'
 * ```
 */
export function getAutocastDtype(deviceType: DeviceType): AutocastDType {
  return state[deviceType]?.dtype ?? defaults[deviceType];
}

/**
 * Drops the weight cast cache (torch.clear_autocast_cache); the outermost scope's exit does it.
 * The casts are not disposed: the graph of the forward pass may still hold them for backward.
 *
 * @example
 * ```ts
 * clearAutocastCache();
 * ```
 */
export function clearAutocastCache(): void {
  cache = new Map();
}

/** @internal Counts of the weight cast cache (for tests): entries now, hits since the process began. */
export function autocastCacheStats(): { entries: number; hits: number } {
  let entries = 0;
  for (const m of cache.values()) entries += m.size;
  return { entries, hits: cacheHits };
}

/** The dtype a 'lower' or 'float32' policy casts t to, or null to leave it. */
function targetOf(policy: 'lower' | 'float32', t: Tensor, low: AutocastDType): DType | null {
  if (!isFloating(t.dtype)) return null;
  if (policy === 'lower') return t.dtype !== 'float64' && t.dtype !== low ? low : null;
  return t.dtype === 'float16' || t.dtype === 'bfloat16' ? 'float32' : null;
}

/** A parameter's cast, from the cache when it is there and still current, else made and cached. */
function cachedCast(t: Tensor, dtype: DType): Tensor {
  let byDtype = cache.get(t);
  const hit = byDtype?.get(dtype);
  if (hit && !hit.cast.isDisposed && hit.version === t.storage.version) {
    cacheHits++;
    return hit.cast;
  }
  const cast = to(t, dtype);
  if (!byDtype) cache.set(t, (byDtype = new Map<DType, CachedCast>()));
  byDtype.set(dtype, { cast, version: t.storage.version });
  return cast;
}

/** Whether a cast of t may come from the cache (PyTorch's rule: float32 leaves requiring grad, not views). */
function cacheable(t: Tensor, dtype: DType, s: DeviceState): boolean {
  return s.cacheEnabled && dtype !== 'float32' && t.dtype === 'float32' && t.isLeaf && t.base === null && needsRecording([t]);
}

/** Every tensor among `args`, including those in arrays (cat's list). */
function tensorsOf(args: readonly unknown[]): Tensor[] {
  const out: Tensor[] = [];
  for (const a of args) {
    if (a instanceof Tensor) out.push(a);
    else if (Array.isArray(a)) for (const b of a) if (b instanceof Tensor) out.push(b);
  }
  return out;
}

/**
 * Runs `fn` on `args` cast by `schema`'s autocast policy when a scope is on for their device type
 * (else on `args` as they are). The casts made for this call alone are disposed afterwards unless
 * the graph recorded them (autograd holds what it saves, `tidy` or the collector frees it later).
 */
export function autocastCall<A extends readonly unknown[], R>(schema: OpSchema, args: A, fn: (...args: A) => R): R {
  const policy = schema.autocast;
  // 'promote' ops (binary elementwise, where, cat) promote their operands themselves
  if (!anyEnabled || policy === undefined || policy === 'promote') return fn(...args);
  const tensors = tensorsOf(args);
  if (tensors.length === 0) return fn(...args);
  for (const t of tensors) t.assertAlive(schema.name);
  const s = state[tensors[0].device.type];
  if (!s.enabled) return fn(...args);
  const temps: Tensor[] = [];
  const castOne = (a: unknown): unknown => {
    if (!(a instanceof Tensor)) return a;
    const dtype = targetOf(policy, a, s.dtype);
    if (dtype === null) return a;
    if (cacheable(a, dtype, s)) return cachedCast(a, dtype);
    const c = to(a, dtype);
    temps.push(c);
    return c;
  };
  const cast = args.map((a) => (Array.isArray(a) ? a.map(castOne) : castOne(a))) as unknown as A;
  // A recorded op's node may save any of its inputs (conv2d saves its input for the weight's
  // gradient even when the input needs none), and saved tensors are not counted references: the
  // casts of a recorded call are left to tidy or the collector, as the op's other intermediates.
  const recorded = needsRecording(tensorsOf(cast));
  let result: R;
  try {
    result = fn(...cast);
  } catch (e) {
    // the op failed: nothing uses this call's casts
    for (const t of temps) t.dispose();
    throw e;
  }
  if (recorded) return result;
  const kept = new Set(tensorsOf([result]));
  for (const t of temps) if (!kept.has(t)) t.dispose();
  return result;
}

/**
 * Wraps an op's function so that it applies the op's declared autocast policy (declareOp's
 * `autocast` option) to its tensor arguments (and tensor lists) before running; outside every
 * autocast scope the wrapper costs one check.
 *
 * @example
 * ```ts
 * const mmOp = declareOp('matmul', ['input', 'other'], { autocast: 'lower' });
 * export const mm = withAutocast(mmOp, (a: Tensor, b: Tensor): Tensor => mmUncast(a, b));
 * ```
 */
export function withAutocast<A extends readonly unknown[], R>(schema: OpSchema, fn: (...args: A) => R): (...args: A) => R {
  return (...args: A): R => (anyEnabled ? autocastCall(schema, args, fn) : fn(...args));
}

/** Whether some autocast scope is on (for call sites that apply a policy themselves). */
export function autocastActive(): boolean {
  return anyEnabled;
}
