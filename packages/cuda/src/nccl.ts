/**
 * The addon's NCCL functions (native/cuda/nccl_binding.cc), for @kiln/distributed's 'nccl' backend:
 * the package reaches them here rather than loading the addon a second time.
 */
import type { Tensor } from '@kiln/tensor';
import { dtypeInfo } from '@kiln/tensor';
import { loadedCudaAddon } from './backend.js';
import type { CudaLibraryStatus } from './backend.js';

/** @internal The addon's NCCL entry points (see native/cuda/nccl_binding.cc). */
export interface NcclBinding {
  ncclStatus(): CudaLibraryStatus;
  ncclUniqueId(): Uint8Array;
  ncclInit(world: number, id: Uint8Array, rank: number, device: number, timeoutMs: number): number;
  ncclLaunch(handle: number, kind: number, address: number, count: number, ncclDtype: number, op: number, root: number, timeoutMs: number): number;
  ncclCompleted(handle: number): number;
  ncclFailure(handle: number): string;
  ncclAbort(handle: number, why: string): void;
  ncclDestroy(handle: number): void;
}

/** @internal The NCCL entry points of the loaded CUDA addon, or null (no addon, or one built without them). */
export function ncclBinding(): NcclBinding | null {
  const a = loadedCudaAddon() as unknown as Partial<NcclBinding> | null;
  return a !== null && typeof a.ncclInit === 'function' ? (a as NcclBinding) : null;
}

/** @internal The device address of a CUDA tensor's first element (its storage's address plus its offset). */
export function cudaDataAddress(t: Tensor): number {
  const storage = t.storage as unknown as { address?: number };
  if (t.device.type !== 'cuda' || typeof storage.address !== 'number') throw new TypeError('cudaDataAddress: a CUDA tensor is required');
  return storage.address + t.offset * dtypeInfo[t.dtype].itemsize;
}
