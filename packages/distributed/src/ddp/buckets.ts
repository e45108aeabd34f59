/**
 * How DistributedDataParallel groups gradients for its all-reduces, as PyTorch's reducer: the
 * parameters in reverse order of registration (a backward pass produces the last layers' gradients
 * first, so the first bucket fills first), cut into buckets of at most `capBytes` bytes (a
 * parameter larger than the cap gets a bucket of its own), one dtype per bucket.
 */
import type { DType, Tensor } from '@kiln/tensor';
import { dtypeInfo } from '@kiln/tensor';

/** One bucket's layout: its parameters and where each one's gradient lives in the flat buffer. */
export interface BucketLayout {
  dtype: DType;
  params: Tensor[];
  /** Element offset of each parameter's gradient in the bucket. */
  offsets: number[];
  /** Elements in the bucket. */
  numel: number;
}

/** Buckets of `params` (given in registration order) of at most `capBytes` bytes each. */
export function layoutBuckets(params: readonly Tensor[], capBytes: number): BucketLayout[] {
  const buckets: BucketLayout[] = [];
  const open = new Map<DType, BucketLayout>();   // the bucket being filled, per dtype
  for (let k = params.length - 1; k >= 0; k--) {
    const p = params[k];
    const bytes = p.numel * dtypeInfo[p.dtype].itemsize;
    let b = open.get(p.dtype);
    if (b !== undefined && b.numel > 0 && (b.numel * dtypeInfo[p.dtype].itemsize + bytes) > capBytes) b = undefined;
    if (b === undefined) {
      b = { dtype: p.dtype, params: [], offsets: [], numel: 0 };
      buckets.push(b);
      open.set(p.dtype, b);
    }
    b.params.push(p);
    b.offsets.push(b.numel);
    b.numel += p.numel;
  }
  return buckets;
}
