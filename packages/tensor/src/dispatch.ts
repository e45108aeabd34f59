/**
 * Op declaration and dispatch. An op is declared once (`declareOp`: its snake_case name, shared
 * with the native kernels, and its input names, used by autograd's derivative table); its
 * TypeScript function computes output shapes and dtypes, allocates outputs and calls
 * `launchKernel`, which finds the kernel of that name in the device's addon. The core records the
 * graph through the AutogradHook that @kiln/autograd installs; it knows nothing else of autograd.
 */
import { type Backend, type Device, backendFor } from './device.js';
import { type DType, dtypeInfo } from './dtype.js';
import { MAX_DIMS, describeValue } from './check.js';
import { DTypeError, DeviceError, InternalError, OutOfMemoryError, ShapeError } from './errors.js';
import { missingKernelHint } from './extensions.js';
import { encodeCall } from './native/args.js';
import { rebuildHint } from './native/load.js';
import { activeSession } from './profiler/session.js';
import { contiguousStrides, fmtShape, numelOf, type Shape } from './shape.js';
import { Tensor } from './tensor.js';

/**
 * How an op runs inside an {@link autocast} scope (PyTorch's autocast op lists): 'lower' casts its
 * floating inputs (not float64) to the scope's dtype (matrix products, convolutions); 'float32'
 * casts float16 / bfloat16 inputs to float32 (losses, softmax, exp / log / pow, reductions);
 * 'promote' runs on the widest floating dtype of its inputs, which the op's own type promotion
 * gives. An op with no policy runs on its inputs as they are.
 */
export type AutocastPolicy = 'lower' | 'float32' | 'promote';

/** Options of {@link declareOp}. */
export interface OpOptions {
  /** false for ops with no gradient (comparisons, argmax, integer ops); default true */
  differentiable?: boolean;
  /** the op's autocast policy (see {@link AutocastPolicy}); default none */
  autocast?: AutocastPolicy;
}

/** An op's declaration: its name, its inputs' names, whether it has a gradient, its autocast policy. */
export interface OpSchema {
  /** snake_case, the kernel's name in every device's table */
  readonly name: string;
  /** names of the tensor inputs, in call order (autograd's derivatives refer to them by name) */
  readonly inputs: readonly string[];
  /** false for ops with no gradient (comparisons, argmax, integer ops) */
  readonly differentiable: boolean;
  /** what an autocast scope does to its inputs (none when undefined) */
  readonly autocast?: AutocastPolicy;
}

const schemas = new Map<string, OpSchema>();

/**
 * Declares an op once, by the snake_case name its kernels are registered under and the names of
 * its tensor inputs (which autograd's derivative table refers to). Non-differentiable ops (comparisons,
 * argmax) pass `false` (or `{ differentiable: false }`); an op's autocast policy is declared here
 * too (`{ autocast: 'lower' }`), and the op's function applies it with {@link withAutocast}.
 *
 * @example
 * ```ts
 * const siluOp = declareOp('silu', ['input']);
 * const mmOp = declareOp('matmul', ['input', 'other'], { autocast: 'lower' });
 * ```
 */
export function declareOp(name: string, inputs: readonly string[], options: boolean | OpOptions = true): OpSchema {
  const o: OpOptions = typeof options === 'boolean' ? { differentiable: options } : options;
  const s: OpSchema = { name, inputs, differentiable: o.differentiable ?? true, ...(o.autocast ? { autocast: o.autocast } : {}) };
  schemas.set(name, s);
  return s;
}

/** Every declared op (autograd's tests check each differentiable one has a derivative). */
export function allOps(): readonly OpSchema[] {
  return [...schemas.values()];
}

/** An op input as recorded: a tensor, or a JS scalar / non-tensor argument that gets no gradient. */
export type OpInput = Tensor | number | boolean | null | undefined;

/** The interface @kiln/autograd implements to record the graph (installed with setAutogradHook). */
export interface AutogradHook {
  /** Whether ops record the graph now (false inside noGrad). */
  isGradEnabled(): boolean;
  /** Called after an op ran with some input requiring grad while grad mode is on. */
  record(op: OpSchema, inputs: readonly OpInput[], outputs: readonly Tensor[], attrs: Readonly<Record<string, unknown>>): void;
  /** target was overwritten in place by an op whose out-of-place result is `result`. */
  recordInplace(target: Tensor, result: Tensor): void;
}

let hook: AutogradHook | null = null;

/** Installs (or, with null, removes) the graph recorder; `@kiln/autograd` calls it when imported. */
export function setAutogradHook(h: AutogradHook | null): void {
  hook = h;
}
/** The installed graph recorder, or null when `@kiln/autograd` is not loaded. */
export function autogradHook(): AutogradHook | null {
  return hook;
}

/** True when an op over these inputs must be recorded. */
export function needsRecording(inputs: readonly OpInput[]): boolean {
  if (hook === null || !hook.isGradEnabled()) return false;
  for (const t of inputs) if (t instanceof Tensor && t.requiresGrad) return true;
  return false;
}

/** Records the op if needed; returns outputs[0] for convenience. */
export function recordOp(
  op: OpSchema,
  inputs: readonly OpInput[],
  outputs: readonly Tensor[],
  attrs: Readonly<Record<string, unknown>> = {},
): Tensor {
  if (needsRecording(inputs)) hook!.record(op, inputs, outputs, attrs);
  return outputs[0];
}

/** Bytes one tensor may hold: 2^46 (64 TiB), the native allocators' limit. */
const MAX_TENSOR_BYTES = 2 ** 46;

/**
 * Allocates an uninitialised contiguous tensor. Every tensor an op makes comes through here, so
 * this is where a size that cannot exist becomes an error before anything is allocated: more than
 * MAX_DIMS dimensions is a ShapeError, more bytes than a device can hold an OutOfMemoryError (the
 * shape's sizes are checked by whoever took them from the user).
 */
export function empty(shape: Shape, dtype: DType, dev: Device): Tensor {
  const backend = backendFor(dev);
  if (shape.length > MAX_DIMS) throw new ShapeError('empty', 'shape', `at most ${MAX_DIMS} dimensions`, `${shape.length} dimensions`);
  const nbytes = numelOf(shape) * dtypeInfo[dtype].itemsize;
  if (!(nbytes <= MAX_TENSOR_BYTES)) {
    throw new OutOfMemoryError({
      op: 'empty', argument: 'shape', expected: 'at most 2^46 bytes per tensor', got: `${nbytes} bytes`,
      message: `cannot allocate a ${dtype} tensor of shape ${fmtShape(shape)} on ${dev}: ${nbytes} bytes (at most 2^46 bytes per tensor)`,
    });
  }
  if (activeSession !== null) activeSession.allocated(nbytes);
  const storage = backend.allocate(dev, nbytes);
  return new Tensor(storage, [...shape], contiguousStrides(shape), 0, dtype);
}

/** The one device of several tensors, or a DeviceError naming the argument that differs. */
export function commonDevice(op: string, names: readonly string[], tensors: readonly (Tensor | undefined | null)[]): Device {
  let dev: Device | null = null;
  let first = '';
  tensors.forEach((t, i) => {
    if (t === undefined || t === null) return;
    if (!(t instanceof Tensor)) throw new DTypeError(op, names[i] ?? `input ${i}`, 'a Tensor', describeValue(t));
    t.assertAlive(op);
    if (dev === null) {
      dev = t.device;
      first = names[i] ?? `input ${i}`;
    } else if (t.device !== dev) {
      throw new DeviceError(op, names[i] ?? `input ${i}`, `a tensor on ${dev} (the device of '${first}')`, `a tensor on ${t.device}`);
    }
  });
  if (dev === null) throw new InternalError({ op, detail: 'no tensor argument' });
  return dev;
}

const idCache = new WeakMap<Backend, Map<string, number>>();

function kernelIdOf(backend: Backend, name: string, dev: Device): number {
  let ids = idCache.get(backend);
  if (!ids) {
    ids = new Map();
    idCache.set(backend, ids);
  }
  let id = ids.get(name);
  if (id === undefined) {
    id = backend.kernelId(name);
    if (id < 0) {
      // an extension that has the kernel elsewhere (or skipped it) says why; else the addon is older than the op
      const hint = missingKernelHint(name, dev.type);
      const why = hint === null
        ? `the device's addon does not provide it (built before the op was added?). ${rebuildHint()}`
        : `${hint}.`;
      throw new DeviceError({ op: name, detail: `no kernel for this op on ${dev}: ${why}` });
    }
    ids.set(name, id);
  }
  return id;
}

/**
 * True when the device's addon provides a kernel named `name` (an optional fused path, such as the
 * optimizers' `adam_update`, checks before choosing itself over composed ops).
 *
 * @example
 * ```ts
 * if (hasKernel(p.device, 'adam_update')) launchKernel('adam_update', grads, outputs, attrs);
 * ```
 */
export function hasKernel(dev: Device, name: string): boolean {
  return backendFor(dev, name).kernelId(name) >= 0;
}

/**
 * Runs the kernel `name` of the inputs' device. Outputs must be allocated; attributes are numbers
 * in the order the kernel reads them.
 */
export function launchKernel(name: string, inputs: readonly Tensor[], outputs: readonly Tensor[], attrs: readonly number[] = []): void {
  const dev = (outputs[0] ?? inputs[0]).device;
  const backend = backendFor(dev, name);
  const id = kernelIdOf(backend, name, dev);
  for (const t of outputs) t.assertAlive(name);
  encodeCall(dev.index, inputs, outputs, attrs);
  if (activeSession !== null) activeSession.launch(backend, id, name, dev, activeSession.recordShapes ? inputs.map((t) => [...t.shape]) : undefined);
  else backend.launch(id);
}

/** A ShapeError-style description of a tensor argument for messages. */
export function describeTensor(t: Tensor): string {
  return `a ${t.dtype} tensor of shape ${fmtShape(t.shape)} on ${t.device}`;
}
