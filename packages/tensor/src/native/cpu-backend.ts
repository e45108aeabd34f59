/**
 * The CPU device: storage from the native caching allocator (an external ArrayBuffer, so typed
 * arrays view it without copies) and kernels from kiln_cpu.node.
 */
import { type Backend, type Device, type MemoryStats, type Storage, cpu } from '../device.js';
import { fromNativeError } from '../errors.js';
import { type KernelAddon, kernelTable, loadAddon } from './load.js';

interface CpuAddon extends KernelAddon {
  alloc(nbytes: number): ArrayBuffer;
  release(buf: ArrayBuffer): void;
  address(buf: ArrayBuffer | ArrayBufferView): number;
  memoryStats(): MemoryStats;
  emptyCache(): void;
  numThreads(n?: number): number;
}

let addon: CpuAddon | null = null;
let kernels: Map<string, number> | null = null;

function cpuAddon(): CpuAddon {
  if (!addon) {
    addon = loadAddon<CpuAddon>('kiln_cpu.node', 'cpu');
    kernels = kernelTable(addon);
  }
  return addon;
}

class CpuStorage implements Storage {
  readonly device = cpu;
  version = 0;
  refs = 0;
  freed = false;
  readonly address: number;
  constructor(
    readonly buffer: ArrayBuffer,
    readonly nbytes: number,
    /** false for a user's own buffer (fromTypedArray), which the allocator does not own */
    private readonly pooled: boolean,
  ) {
    this.address = cpuAddon().address(buffer);
  }
  free(): void {
    if (this.freed) return;
    this.freed = true;
    if (this.pooled) cpuAddon().release(this.buffer);
  }
}

/** Wraps a user's ArrayBuffer without copying (its address stays fixed while it is alive). */
export function wrapCpuBuffer(buffer: ArrayBuffer): Storage {
  return new CpuStorage(buffer, buffer.byteLength, false);
}

function bytesOf(v: ArrayBufferView): Uint8Array {
  return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}

export const cpuBackend: Backend = {
  type: 'cpu',
  deviceCount: () => 1,
  allocate(_d: Device, nbytes: number): Storage {
    return new CpuStorage(cpuAddon().alloc(nbytes), nbytes, true);
  },
  upload(dst, byteOffset, src) {
    new Uint8Array(dst.buffer!, byteOffset, src.byteLength).set(bytesOf(src));
  },
  download(src, byteOffset, dst) {
    bytesOf(dst).set(new Uint8Array(src.buffer!, byteOffset, dst.byteLength));
  },
  async downloadAsync(src, byteOffset, dst) {
    this.download(src, byteOffset, dst);
  },
  kernelId(name) {
    cpuAddon();
    return kernels!.get(name) ?? -1;
  },
  launch(id) {
    try {
      addon!.launch(id);
    } catch (e) {
      throw fromNativeError(e);
    }
  },
  synchronize() {},
  memoryStats: () => cpuAddon().memoryStats(),
  emptyCache: () => cpuAddon().emptyCache(),
};

/** Number of threads the CPU kernels use (OpenMP); pass n to set it. */
export function cpuThreads(n?: number): number {
  return cpuAddon().numThreads(n);
}
