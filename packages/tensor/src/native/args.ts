/**
 * The shared argument buffer of the native boundary. A kernel call is encoded here and the addon's
 * launch(id) reads it (native/core/call_record.h decodes and checks the same layout):
 *
 *   [device, nInputs, nOutputs, nAttrs,
 *    per tensor (inputs, then outputs): dtypeCode, ndim, storageAddress, storageBytes, offset,
 *                                       ...shape, ...strides,
 *    ...attrs]
 *
 * Each tensor travels with the extent of its storage (the block's address and size in bytes) and
 * its element offset, so the native side checks every view against the memory it may touch on
 * every call: a size, stride or offset that a TypeScript check missed is a typed error there, never
 * a read or write outside the block (about 50 ns for a call of three small tensors, docs/benchmarks.md).
 *
 * One Float64Array instead of JS objects keeps a call's boundary cost to a few hundred nanoseconds.
 * Each JS environment (the main thread, each worker thread) has its own buffer: this module's
 * state, handed to the addon that environment loads.
 */
import { dtypeInfo } from '../dtype.js';
import type { Tensor } from '../tensor.js';

export const ARG_BUFFER = new Float64Array(4096);

/**
 * The most input tensors, and the most output tensors, one kernel call may take (the launch
 * record's kMaxTensors, native/include/kiln/kernel.h; the binding rejects a call with more).
 * Multi-tensor kernels such as the fused optimizers size their batches by it.
 */
export const MAX_KERNEL_TENSORS = 16;

/** Writes one call into ARG_BUFFER. */
export function encodeCall(deviceIndex: number, inputs: readonly Tensor[], outputs: readonly Tensor[], attrs: readonly number[]): void {
  const a = ARG_BUFFER;
  a[0] = deviceIndex;
  a[1] = inputs.length;
  a[2] = outputs.length;
  a[3] = attrs.length;
  let p = 4;
  for (const list of [inputs, outputs]) {
    for (const t of list) {
      const s = t.storage;
      const nd = t.shape.length;
      a[p] = dtypeInfo[t.dtype].code;
      a[p + 1] = nd;
      a[p + 2] = s.address;
      a[p + 3] = s.nbytes;
      a[p + 4] = t.offset;
      p += 5;
      for (let i = 0; i < nd; i++) a[p + i] = t.shape[i]!;
      p += nd;
      for (let i = 0; i < nd; i++) a[p + i] = t.strides[i]!;
      p += nd;
    }
  }
  for (let i = 0; i < attrs.length; i++) a[p + i] = attrs[i]!;
}
