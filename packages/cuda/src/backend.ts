/**
 * The 'cuda' backend: storage is device memory from the addon's caching allocator, addressed by
 * number; kernels come from kiln_cuda.node. Work is queued on one stream per device; downloads
 * synchronise (downloadAsync waits on a worker thread, not on the event loop).
 */
import { readFileSync } from 'node:fs';
import {
  type Backend, type Device, type MemoryStats, type Storage, type KernelAddon,
  InternalError, addonPath, allocateOrCollect, fromNativeError, kernelTable, loadAddon, locateAddon, missingAddonMessage,
} from '@kiln/tensor';
import { type CudaDeviceStatus, cudaAddonSpec, noDeviceReason } from './availability.js';

/** What `cuda.deviceProperties()` tells of a GPU (from cudaGetDeviceProperties). */
export interface CudaDeviceProperties {
  /** e.g. 'NVIDIA H200'. */
  name: string;
  /** Device memory in bytes. */
  totalMemory: number;
  /** Number of streaming multiprocessors. */
  multiProcessorCount: number;
  /** Compute capability, major part (9 for sm_90). */
  major: number;
  /** Compute capability, minor part. */
  minor: number;
  /** L2 cache size in bytes. */
  l2CacheSize: number;
  /** CUDA runtime version the addon was built with (e.g. 12040 for 12.4). */
  runtimeVersion: number;
  /** Newest CUDA version the installed driver supports, in the same form. */
  driverVersion: number;
}

/** The CUDA allocator's figures: {@link MemoryStats} and the number of out-of-memory failures. */
export interface CudaMemoryStats extends MemoryStats {
  /** Allocations that failed even after emptying the cache (each raised an OutOfMemoryError). */
  numOoms: number;
}

/** The pinned host allocator's figures (`cuda.hostMemoryStats()`), PyTorch's host_memory_stats. */
export interface PinnedMemoryStats extends MemoryStats {
  /** Uploads from pinned memory queued and not yet seen to have run. */
  pendingUploads: number;
}

/** What the addon reports of one of NVIDIA's libraries (see `cudaLibraries`). */
export interface CudaLibraryStatus {
  /** Loaded, its entry points found, and of a version Kiln's declarations describe. */
  available: boolean;
  /** Not switched off (KILN_DISABLE_CUBLASLT / KILN_DISABLE_CUDNN, `setLibraryEnabled`). */
  enabled: boolean;
  /** e.g. '13.0.2'; null when not loaded. */
  version: string | null;
  /** The file loaded; null when none. */
  path: string | null;
  /** Why it is not available: where Kiln looked, or what was wrong with what it found. */
  reason?: string;
}

/** The libraries the CUDA device can use, by name. */
export interface CudaLibraries {
  /** cuBLASLt (matmul, bmm, linear, and the products of the convolutions' fallback). */
  cublasLt: CudaLibraryStatus;
  /** cuDNN 9 (conv2d and its backward passes). */
  cudnn: CudaLibraryStatus;
  /** NVRTC, loaded with cuDNN for its runtime-compiled engines (optional). */
  nvrtc: CudaLibraryStatus;
}

/** How many products and convolutions each path has run in this process. */
export interface DenseCallCounts {
  /** Matrix products run by cuBLASLt. */
  matmulCublasLt: number;
  /** Matrix products run by Kiln's tiled kernel. */
  matmulKiln: number;
  /** Convolution kernels run by cuDNN (either of its APIs). */
  conv2dCudnn: number;
  /**
   * Of those, the ones run wholly through cuDNN's graph API with a cached execution plan (the
   * default; the legacy API runs the benchmark search, what the graph API declines, and everything
   * when KILN_CUDNN_GRAPH=0).
   */
  conv2dCudnnGraph: number;
  /** Convolution kernels run by Kiln's im2col path. */
  conv2dKiln: number;
}

interface CudaAddon extends KernelAddon {
  deviceCount(): number;
  deviceStatus(): CudaDeviceStatus;
  deviceProperties(i: number): CudaDeviceProperties;
  /** Device memory for `owner`, held weakly: the block goes back if owner is collected without free. */
  malloc(nbytes: number, device: number, owner: object): number;
  free(ptr: number, device: number): void;
  /** Returns the blocks whose owners a garbage collection took; how many. */
  sweep(): number;
  copyToDevice(ptr: number, device: number, src: ArrayBufferView): void;
  copyToHost(ptr: number, device: number, dst: ArrayBufferView): void;
  copyToHostAsync(ptr: number, device: number, dst: ArrayBufferView): Promise<void>;
  copyOnDevice(dst: number, src: number, nbytes: number, device: number): void;
  /** Pinned host memory (native/cuda/pinned_binding.cc). */
  hostAlloc(nbytes: number): ArrayBuffer;
  hostRelease(buffer: ArrayBuffer): void;
  copyToDeviceAsync(ptr: number, device: number, src: ArrayBufferView): void;
  hostMemoryStats(): PinnedMemoryStats;
  hostEmptyCache(): void;
  synchronize(device: number): void;
  memoryStats(device: number): CudaMemoryStats;
  emptyCache(device: number): void;
  eventCreate(): number;
  eventRecord(event: number, device: number): void;
  eventElapsed(start: number, end: number): number;
  eventDestroy(event: number): void;
  profileStart(device: number): void;
  profileStop(device: number): Float64Array;
  libraries(): CudaLibraries;
  libraryStatus(name: 'cublasLt' | 'cudnn'): CudaLibraryStatus;
  setLibraryEnabled(name: string, enabled: boolean): void;
  setCudnnBenchmark(on: boolean): void;
  cudnnBenchmark(): boolean;
  setCudnnGraph(on: boolean): void;
  cudnnGraph(): boolean;
  cudnnGraphFallbackReason(): string | null;
  denseCallCounts(): DenseCallCounts;
}

/** Why the CUDA device is unavailable, or null when it is available. */
export let unavailableReason: string | null = null;
let addon: CudaAddon | null = null;
/** The addon as loaded, also where no GPU is present (its library search works without one). */
let loaded: CudaAddon | null = null;
let kernels = new Map<string, number>();

function call<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    throw fromNativeError(e);
  }
}

/**
 * Why the last native build left the CUDA addon out, as it wrote it beside kiln_cpu.node
 * (native/CMakeLists.txt): KILN_CUDA=OFF, or no nvcc. A build older than that note says neither.
 */
function whyNotBuilt(note: string | null): string {
  const reason = note === null ? 'the build did not say why (built before it noted the reason?)' : readFileSync(note, 'utf8').trim();
  return `${reason}; rebuild with nvcc available and KILN_CUDA unset (\`npm run build -w @kiln/native\`), or set KILN_NATIVE_DIR to a build that has it`;
}

/** Loads the addon; records why CUDA is unavailable instead of throwing. */
export function loadCuda(): CudaAddon | null {
  if (addon || unavailableReason) return addon;
  if (!locateAddon(cudaAddonSpec)) {
    // a build (the repository's, or KILN_NATIVE_DIR's) notes why it left the CUDA addon out; an
    // installation from npm says which package to install
    const note = addonPath('kiln_cuda.skipped');
    unavailableReason = note !== null || process.env.KILN_NATIVE_DIR !== undefined
      ? `the CUDA addon kiln_cuda.node is not built: ${whyNotBuilt(note)}`
      : missingAddonMessage(cudaAddonSpec);
    return null;
  }
  try {
    const a = loadAddon<CudaAddon>(cudaAddonSpec.file, 'cuda', cudaAddonSpec);
    loaded = a;
    const status = a.deviceStatus();
    if (status.count === 0) {
      unavailableReason = noDeviceReason(status);
      return null;
    }
    addon = a;
    kernels = kernelTable(a);
  } catch (e) {
    unavailableReason = (e as Error).message;
  }
  return addon;
}

/**
 * Device memory. A storage dropped without dispose() is returned by the addon as soon as a garbage
 * collection has taken this object (it holds it weakly, native/core/weak_owners.h), even while a
 * loop runs synchronously; before an out-of-memory error a full collection is forced and the
 * allocation tried again.
 */
class CudaStorage implements Storage {
  version = 0;
  refs = 0;
  freed = false;
  readonly address: number;
  constructor(
    readonly device: Device,
    readonly nbytes: number,
  ) {
    const a = addon!;
    this.address = allocateOrCollect(() => a.malloc(nbytes, device.index, this), () => a.sweep());
  }
  free(): void {
    if (this.freed) return;
    this.freed = true;
    call(() => addon!.free(this.address, this.device.index));
  }
}

/** Throws unless [byteOffset, byteOffset + bytes) lies inside the storage (a host copy's range). */
function checkRange(s: Storage, byteOffset: number, bytes: number): void {
  if (!(Number.isSafeInteger(byteOffset) && byteOffset >= 0 && byteOffset + bytes <= s.nbytes)) {
    throw new InternalError({ op: 'cuda copy', expected: `bytes inside a storage of ${s.nbytes} bytes`, got: `[${byteOffset}, ${byteOffset + bytes})` });
  }
}

export const cudaBackend: Backend = {
  type: 'cuda',
  deviceCount: () => (addon ? addon.deviceCount() : 0),
  allocate: (d, nbytes) => new CudaStorage(d, nbytes),
  upload: (dst, byteOffset, src) => {
    checkRange(dst, byteOffset, src.byteLength);
    call(() => addon!.copyToDevice(dst.address + byteOffset, dst.device.index, src));
  },
  download: (src, byteOffset, dst) => {
    checkRange(src, byteOffset, dst.byteLength);
    call(() => addon!.copyToHost(src.address + byteOffset, src.device.index, dst));
  },
  downloadAsync: async (src, byteOffset, dst) => {
    checkRange(src, byteOffset, dst.byteLength);
    try {
      await addon!.copyToHostAsync(src.address + byteOffset, src.device.index, dst);
    } catch (e) {
      throw fromNativeError(e);
    }
  },
  kernelId: (name) => {
    warnOfMissingLibraries(name);
    return kernels.get(name) ?? -1;
  },
  launch: (id) => call(() => addon!.launch(id)),
  loadExtension: (path) => {
    const result = call(() => addon!.loadExtension(path));
    for (const [name, id] of result.kernels) kernels.set(name, id);
    return result;
  },
  synchronize: (d) => call(() => addon!.synchronize(d.index)),
  memoryStats: (d) => call(() => addon!.memoryStats(d.index)),
  emptyCache: (d) => call(() => addon!.emptyCache(d.index)),
  // Page-locked host memory: Tensor.pinMemory() and to('cuda', { nonBlocking: true })
  pinnedHost: {
    alloc: (nbytes) => allocateOrCollect(() => addon!.hostAlloc(nbytes), () => addon!.sweep()),
    release: (buffer) => call(() => addon!.hostRelease(buffer)),
    uploadAsync: (dst, byteOffset, src) => {
      checkRange(dst, byteOffset, src.byteLength);
      call(() => addon!.copyToDeviceAsync(dst.address + byteOffset, dst.device.index, src));
    },
  },
  // The profiler's device times: the addon records a pair of events around every launch on the
  // device's stream while timing is on (native/cuda/addon.cc, profileStart / profileStop).
  kernelTimer: {
    start: (d) => {
      call(() => addon!.profileStart(d.index));
      return performance.now();
    },
    stop: (d) => call(() => addon!.profileStop(d.index)),
  },
};

export function cudaAddon(): CudaAddon | null {
  return addon;
}

/** The addon as loaded, GPU or not (null when it is not built or failed to load). */
export function loadedCudaAddon(): CudaAddon | null {
  loadCuda();
  return loaded;
}

// The kernels whose speed depends on NVIDIA's libraries, and which library each family wants.
const denseKernels: Record<string, readonly ('cublasLt' | 'cudnn')[]> = {
  bmm: ['cublasLt'],
  linear: ['cublasLt'],
  conv2d: ['cudnn'],
  conv2d_backward_input: ['cudnn'],
  conv2d_backward_weight: ['cudnn'],
};
const warned = new Set<string>();

/**
 * The warnings for libraries that were looked for and not found (or not usable): one message per
 * library, naming it, where Kiln looked and the environment variable that points at it. A library
 * switched off on purpose gets none.
 */
export function missingLibraryWarnings(libs: Partial<Record<'cublasLt' | 'cudnn', CudaLibraryStatus>>, which: readonly ('cublasLt' | 'cudnn')[]): string[] {
  const uses = { cublasLt: 'matmul, bmm and linear', cudnn: 'conv2d and its backward passes' };
  return which.flatMap((name) => {
    const s = libs[name];
    if (!s || s.available || !s.enabled) return [];
    return [`Kiln: ${s.reason ?? `${name} is unavailable`}. ${uses[name]} on CUDA run on Kiln's own kernels (slower) until it is installed.`];
  });
}

/** On the first use of a dense kernel, loads its library and warns, once per library, when it is missing. */
function warnOfMissingLibraries(kernel: string): void {
  const which = denseKernels[kernel]?.filter((l) => !warned.has(l));
  if (!addon || !which || which.length === 0) return;
  which.forEach((l) => warned.add(l));
  const libs: Partial<Record<'cublasLt' | 'cudnn', CudaLibraryStatus>> = {};
  for (const l of which) libs[l] = addon.libraryStatus(l);
  for (const message of missingLibraryWarnings(libs, which)) process.emitWarning(message, { code: 'KILN_CUDA_LIBRARY_MISSING' });
}
