/**
 * The CPU device: storage from the native caching allocator (an external ArrayBuffer, so typed
 * arrays view it without copies), small storages recycled through a JS free list in front of it
 * (small-buffer-cache.ts), and kernels from kiln_cpu.node. A storage dropped without dispose() goes
 * back to the allocator once a garbage collection has taken its buffer; before an out-of-memory
 * error, a full collection is forced and the allocation tried again.
 */
import { type Backend, type Device, type DeviceType, type MemoryStats, type PinnedHostMemory, type Storage, cpu } from '../device.js';
import { constants as bufferConstants } from 'node:buffer';
import { DisposedError, OutOfMemoryError, ValueError, fromNativeError } from '../errors.js';
import { allocateOrCollect } from './collect.js';
import { type KernelAddon, kernelTable, loadAddon } from './load.js';
import { SMALL_LIMIT, SmallBufferCache } from './small-buffer-cache.js';

interface CpuAddon extends KernelAddon {
  alloc(nbytes: number): ArrayBuffer;
  release(buf: ArrayBuffer): void;
  address(buf: ArrayBuffer | ArrayBufferView): number;
  memoryStats(): MemoryStats;
  emptyCache(): void;
  numThreads(n?: number): number;
  cpuInfo(): CpuInfo;
  blockSize(nbytes: number): number;
  /** Returns the blocks whose buffers a garbage collection took; how many. */
  sweep(): number;
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

let smallCacheInstance: SmallBufferCache | null = null;
/** The JS cache of small buffers (made with the addon, whose size classes it uses). */
function smallCache(): SmallBufferCache {
  return (smallCacheInstance ??= new SmallBufferCache((n) => cpuAddon().blockSize(n)));
}

/**
 * Bytes of the live storages the allocator handed out (their block sizes), kept here because the
 * native figure also counts the buffers parked in smallCache(). A storage that was never disposed
 * and whose buffer the GC collected leaves it too high (the native finalizer returns the block
 * without telling JS) until the next memoryStats() call sets it back from the native figures.
 */
let liveBytes = 0;
/** The highest liveBytes seen (see cpuMemoryStats for how it is reported). */
let peakBytes = 0;
/** Zero-length buffer that a recycled storage's `buffer` reads as once it is freed. */
const DETACHED = new ArrayBuffer(0);

class CpuStorage implements Storage {
  readonly device = cpu;
  version = 0;
  refs = 0;
  private released = false;
  /**
   * Set when `buffer` was read from outside this file (toNdarray, a user's own typed array over
   * it): such a buffer is released to the native allocator on free, which detaches it, rather than
   * recycled, so a view kept past dispose() reads as empty, never as another tensor's data.
   */
  private exposed = false;
  constructor(
    private buf: ArrayBuffer,
    readonly nbytes: number,
    private readonly addr: number,
    /** The allocator's block size; 0 for a buffer it does not own (a user's own, a pinned one) */
    private readonly block: number,
    /** Pinned memory: the device whose pinned allocator made the buffer, and how to give it back. */
    readonly pinnedFor?: DeviceType,
    private readonly releasePinned?: (buffer: ArrayBuffer) => void,
  ) {}
  /**
   * The address kernels use. A user's own buffer (fromTypedArray) can be detached behind the
   * tensor's back (transferred to a worker, structuredClone with transfer): its memory may then be
   * freed, so every launch checks that it is still attached (a DisposedError otherwise).
   */
  get address(): number {
    if (this.block === 0 && this.detached) throw this.goneError('a kernel launch');
    return this.addr;
  }
  /** True when a user's own buffer (fromTypedArray) was detached or shrunk since. */
  get detached(): boolean {
    return this.block === 0 && this.buf.byteLength < this.nbytes;
  }
  get freed(): boolean {
    return this.released || this.detached;
  }
  get buffer(): ArrayBuffer {
    this.exposed = true;
    return this.bytes;
  }
  /** The buffer for this file's own copies, which keep no view of it. */
  get bytes(): ArrayBuffer {
    if (this.detached) throw this.goneError('reading or writing its values');
    return this.buf;
  }
  private goneError(what: string): DisposedError {
    return new DisposedError({
      op: what,
      detail: "the tensor's memory is gone: it was made by fromTypedArray (or fromNdarray) over a buffer " +
        'that was since detached (transferred to a worker or by structuredClone) or resized; keep the buffer, or copy it with tensor()',
    });
  }
  free(): void {
    if (this.released) return;
    this.released = true;
    if (this.releasePinned) {
      this.releasePinned(this.buf);   // detaches the buffer: a view kept past dispose() reads as empty
      return;
    }
    const block = this.block;
    if (block === 0) return;
    liveBytes -= block;
    if (block <= SMALL_LIMIT && !this.exposed && smallCache().put(block, this.buf, this.addr)) {
      this.buf = DETACHED;
    } else {
      cpuAddon().release(this.buf);
    }
  }
}

function nativeAlloc(nbytes: number): ArrayBuffer {
  const a = cpuAddon();
  return allocateOrCollect(() => a.alloc(nbytes), () => a.sweep());
}

function allocateCpu(nbytes: number): Storage {
  // CPU storage is an ArrayBuffer, and Node.js makes none larger than this (4 GiB in Node 20)
  if (nbytes > bufferConstants.MAX_LENGTH) {
    throw new OutOfMemoryError({
      op: 'cpu alloc', expected: `at most ${bufferConstants.MAX_LENGTH} bytes`, got: `${nbytes} bytes`,
      message: `cannot allocate ${nbytes} bytes on cpu: a CPU tensor is at most ${bufferConstants.MAX_LENGTH} bytes, the largest buffer Node.js ${process.version} makes`,
    });
  }
  const cache = smallCache();
  const block = cache.roundSize(nbytes);
  let buf: ArrayBuffer | null = null, address: number;
  if (block <= SMALL_LIMIT) {
    // the whole block, so that the buffer can serve any later request of this size class
    buf = cache.take(block);
    if (buf) address = cache.takenAddress;
    else address = addressOf(buf = nativeAlloc(block));
  } else {
    address = addressOf(buf = nativeAlloc(nbytes));
  }
  liveBytes += block;
  if (liveBytes > peakBytes) peakBytes = liveBytes;
  return new CpuStorage(buf, nbytes, address, block);
}

function addressOf(buffer: ArrayBuffer): number {
  return cpuAddon().address(buffer);
}

/**
 * The native allocator's figures with the JS cache taken into account: its parked buffers are
 * reserved, not allocated (as the native cache's own blocks), and its hits count as allocations
 * served from a cache. The peak is the highest liveBytes seen, capped by the native peak (which
 * counts parked buffers as allocated, so it is never below the true peak either): liveBytes can
 * only run high, by never-disposed storages the GC returned since the last call.
 */
function cpuMemoryStats(): MemoryStats {
  const n = cpuAddon().memoryStats();
  const allocated = n.allocated - smallCache().parkedBytes;
  liveBytes = allocated;
  peakBytes = Math.max(allocated, Math.min(peakBytes, n.peakAllocated));
  return {
    allocated,
    reserved: n.reserved,
    peakAllocated: peakBytes,
    allocCount: n.allocCount + smallCache().hits,
    cacheHits: n.cacheHits + smallCache().hits,
  };
}

/**
 * Wraps a user's buffer without copying. Its address stays fixed while it is attached; the storage
 * holds the buffer (so the collector cannot free it under a tensor) and checks at every launch that
 * it was not detached since.
 */
export function wrapCpuBuffer(buffer: ArrayBuffer | SharedArrayBuffer): Storage {
  // Node-API sees a SharedArrayBuffer only through a view of it (napi_get_typedarray_info)
  const address = buffer instanceof SharedArrayBuffer ? cpuAddon().address(new Uint8Array(buffer)) : addressOf(buffer);
  return new CpuStorage(buffer as ArrayBuffer, buffer.byteLength, address, 0);
}

/**
 * CPU storage over a pinned buffer from `pinned` (a device's page-locked memory, see
 * `Tensor.pinMemory()`), given back to it when the storage is freed. A buffer dropped without
 * dispose() goes back once a garbage collection has taken it, as every CPU buffer.
 */
export function allocatePinned(type: DeviceType, pinned: PinnedHostMemory, nbytes: number): Storage {
  const buffer = pinned.alloc(nbytes);
  return new CpuStorage(buffer, nbytes, addressOf(buffer), 0, type, (b) => pinned.release(b));
}

function bytesOf(v: ArrayBufferView): Uint8Array {
  return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}

export const cpuBackend: Backend = {
  type: 'cpu',
  deviceCount: () => 1,
  allocate: (_d: Device, nbytes: number) => allocateCpu(nbytes),
  upload(dst, byteOffset, src) {
    new Uint8Array((dst as CpuStorage).bytes, byteOffset, src.byteLength).set(bytesOf(src));
  },
  download(src, byteOffset, dst) {
    bytesOf(dst).set(new Uint8Array((src as CpuStorage).bytes, byteOffset, dst.byteLength));
  },
  downloadAsync(src, byteOffset, dst) {
    // synchronous on the CPU; an error still arrives as a rejection (the executor's throw)
    return new Promise<void>((resolve) => {
      this.download(src, byteOffset, dst);
      resolve();
    });
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
  loadExtension(path) {
    const a = cpuAddon();
    let result;
    try {
      result = a.loadExtension(path);
    } catch (e) {
      throw fromNativeError(e);
    }
    for (const [name, id] of result.kernels) kernels!.set(name, id);
    return result;
  },
  synchronize() {},
  memoryStats: () => cpuMemoryStats(),
  emptyCache() {
    const addon = cpuAddon();
    smallCache().drain((b) => addon.release(b));   // first back to the native cache, then all to the system
    addon.emptyCache();
  },
};

/**
 * The number of threads the CPU kernels use; pass `n` (an integer >= 1) to set it first. As
 * PyTorch's `torch.get_num_threads()` / `torch.set_num_threads(n)`. The default is one thread per
 * core the process may run on, or `KILN_NUM_THREADS` (else `OMP_NUM_THREADS`) when set. Ops below
 * about 32K elements stay on the calling thread whatever the count, and idle threads sleep, so more
 * threads than a machine has free cores costs little.
 *
 * @example
 * ```ts
 * import { cpuThreads } from '@kiln/tensor';
 * const before = cpuThreads();   // e.g. 2 on a 2-core machine
 * cpuThreads(1);                 // every CPU kernel on the calling thread
 * cpuThreads(before);
 * ```
 */
export function cpuThreads(n?: number): number {
  if (n !== undefined && !(Number.isInteger(n) && n >= 1 && n <= 1024)) {
    throw new ValueError('cpuThreads', 'n', 'an integer from 1 to 1024', String(n));
  }
  return cpuAddon().numThreads(n);
}

/** What the CPU kernels run on: see {@link cpuInfo}. */
export interface CpuInfo {
  /** threads the kernels use (see {@link cpuThreads}) */
  threads: number;
  /** the instruction set chosen at run time: 'baseline' (x86-64-v2), 'avx2' (AVX2 + FMA) or 'avx512' */
  isa: 'baseline' | 'avx2' | 'avx512';
  /** the matrix-product micro-kernels in use, e.g. 'avx2+fma: 6x16 float32, 6x8 float64' */
  gemm: string;
}

/**
 * The CPU device's threads, the instruction set its kernels chose for this processor, and its
 * matrix-product micro-kernels (as PyTorch's `torch.backends.cpu.get_cpu_capability()`). The
 * environment variable `KILN_CPU_ISA` (baseline, avx2) caps the instruction set, e.g. to test the
 * narrower kernels on a wider machine.
 *
 * @example
 * ```ts
 * import { cpuInfo } from '@kiln/tensor';
 * console.log(cpuInfo());   // { threads: 2, isa: 'avx2', gemm: 'avx2+fma: 6x16 float32, 6x8 float64' }
 * ```
 */
export function cpuInfo(): CpuInfo {
  return cpuAddon().cpuInfo();
}
