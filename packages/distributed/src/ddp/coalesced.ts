/**
 * Broadcasts many tensors as one collective per dtype: they are copied into one flat buffer of the
 * backend's memory, broadcast, and copied back (DistributedDataParallel's parameters at
 * construction and its buffers before each forward; PyTorch's _broadcast_coalesced).
 */
import { type DType, type Tensor, tidy } from '@kiln/tensor';
import { noGrad } from '@kiln/autograd';
import type { ProcessGroup } from '../process-group.js';

/** Copies rank `src`'s values of `tensors` into every rank's, waiting for the result. */
export function broadcastCoalesced(group: ProcessGroup, tensors: readonly Tensor[], src: number): void {
  if (group.size === 1 || tensors.length === 0) return;
  const byDtype = new Map<DType, Tensor[]>();
  for (const t of tensors) {
    const list = byDtype.get(t.dtype) ?? [];
    list.push(t);
    byDtype.set(t.dtype, list);
  }
  for (const [dtype, list] of byDtype) {
    const numel = list.reduce((n, t) => n + t.numel, 0);
    const flat = group.commBuffer(numel, dtype);
    try {
      const pack = () => {
        let at = 0;
        for (const t of list) {
          flat.narrow(0, at, t.numel).reshape(t.shape).copy_(t);
          at += t.numel;
        }
      };
      const unpack = () => {
        let at = 0;
        for (const t of list) {
          t.copy_(flat.narrow(0, at, t.numel).reshape(t.shape));
          at += t.numel;
        }
      };
      if (group.rank === src) tidy(() => noGrad(pack));
      group.broadcast(flat, src).wait();
      if (group.rank !== src) tidy(() => noGrad(unpack));
    } finally {
      flat.dispose();
    }
  }
}
