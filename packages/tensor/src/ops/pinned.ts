/**
 * Page-locked ("pinned") host memory, PyTorch's `pin_memory()` / `is_pinned()`: a CPU tensor whose
 * memory the GPU reads directly, so that `to('cuda', { nonBlocking: true })` queues the upload and
 * returns at once, and the copy overlaps with the work queued before it. From ordinary (pageable)
 * memory the driver first copies the bytes into a pinned buffer of its own on the calling thread.
 */
import { type Device, backendFor, device as toDevice } from '../device.js';
import { DeviceError } from '../errors.js';
import { declareOp, recordOp } from '../dispatch.js';
import { allocatePinned } from '../native/cpu-backend.js';
import { contiguousStrides } from '../shape.js';
import { Tensor } from '../tensor.js';
import { copyInto } from './convert.js';

const pinMemoryOp = declareOp('pin_memory', ['input']);

/**
 * A copy of CPU tensor `t` in page-locked memory of the CUDA device (`t` itself when it is pinned
 * already, as PyTorch's `pin_memory()`). Pinned memory is a limited system resource: pin what is
 * uploaded often (a batch), not whole datasets. Differentiable (the gradient passes through).
 *
 * @example
 * ```ts
 * import '@kiln/cuda';
 * const batch = images.pinMemory();                            // once per batch (DataLoader's pinMemory)
 * const onGpu = batch.to('cuda', { nonBlocking: true });        // queued; returns at once
 * ```
 */
export function pinMemory(t: Tensor): Tensor {
  t.assertAlive('pinMemory');
  if (t.device.type !== 'cpu') {
    throw new DeviceError({ op: 'pinMemory', argument: 'self', expected: 'a CPU tensor', got: String(t.device), detail: 'only CPU tensors can be pinned' });
  }
  if (isPinned(t)) return t;
  const gpu: Device = toDevice('cuda');
  const pinned = backendFor(gpu, 'pinMemory').pinnedHost;
  if (!pinned) throw new DeviceError({ op: 'pinMemory', argument: 'device', detail: 'the CUDA backend registered offers no pinned host memory' });
  const nbytes = t.numel * t.itemsize;
  const storage = allocatePinned('cuda', pinned, nbytes);
  const out = new Tensor(storage, [...t.shape], contiguousStrides(t.shape), 0, t.dtype);
  if (nbytes > 0) copyInto(out, t);   // the copy kernel reads any strides: no contiguous copy first
  return recordOp(pinMemoryOp, [t], [out]);
}

/** True when `t` lies in page-locked host memory (see {@link pinMemory}). */
export function isPinned(t: Tensor): boolean {
  t.assertAlive('isPinned');
  return t.storage.pinnedFor !== undefined;
}

declare module '../tensor.js' {
  interface Tensor {
    /** A copy in page-locked host memory, for uploads that return at once. See {@link pinMemory}. */
    pinMemory(): Tensor;
    /** True when this tensor lies in page-locked host memory. See {@link isPinned}. */
    isPinned(): boolean;
  }
}

Tensor.prototype.pinMemory = function (this: Tensor) { return pinMemory(this); };
Tensor.prototype.isPinned = function (this: Tensor) { return isPinned(this); };
