/**
 * @packageDocumentation
 * `@kiln/cuda`: import it once in an application to register the 'cuda' device.
 *
 * ```ts
 * import '@kiln/cuda';
 * import { cuda } from '@kiln/cuda';
 * import { randn } from '@kiln/tensor';
 * if (cuda.isAvailable()) {
 *   const x = randn([1024, 1024], { device: 'cuda' });
 *   console.log(x.sigmoid().sum().item());
 * }
 * ```
 *
 * Dense ops run on NVIDIA's libraries where they are installed (cuBLASLt for matmul and linear,
 * cuDNN 9 for conv2d), loaded at run time: `cudaLibraries()` says what was found,
 * `denseComputePath(op)` which path an op family takes, `setLibraryEnabled` and
 * `setCudnnBenchmark` switch them.
 */
import { type DeviceLike, DeviceError, device as toDevice, noteUnavailableBackend, registerBackend } from '@kiln/tensor';
import { type CudaDeviceProperties, type CudaMemoryStats, type PinnedMemoryStats, cudaAddon, cudaBackend, loadCuda, unavailableReason } from './backend.js';

if (loadCuda()) registerBackend(cudaBackend);
else noteUnavailableBackend('cuda', unavailableReason ?? 'unknown reason');

/** The addon of a usable CUDA device; a DeviceError naming `op` where there is none. */
function requireAddon(op: string): NonNullable<ReturnType<typeof cudaAddon>> {
  const a = cudaAddon();
  if (!a) throw new DeviceError({ op, argument: 'device', detail: `CUDA is not available: ${unavailableReason ?? 'unknown reason'}` });
  return a;
}

function cudaIndex(d: DeviceLike | number, op: string): number {
  const dev = typeof d === 'number' ? toDevice(`cuda:${d}`) : toDevice(d);
  if (dev.type !== 'cuda') throw new DeviceError(op, 'device', 'a CUDA device', String(dev));
  requireAddon(op);
  return dev.index;
}

/**
 * A CUDA event for timing device work, as torch.cuda.Event:
 * `start.record(); ...; end.record(); start.elapsedTime(end)` (milliseconds; waits for `end`).
 *
 * @example
 * ```ts
 * const start = new cuda.Event(), end = new cuda.Event();
 * start.record();
 * const y = x.matmul(x);
 * end.record();
 * console.log(`${start.elapsedTime(end).toFixed(3)} ms`);
 * start.dispose(); end.dispose();
 * ```
 */
export class CudaEvent {
  private handle: number;
  /** Creates an event on a CUDA device (a DeviceError when CUDA is unavailable). */
  constructor(
    /** The device whose stream the event is recorded on (default cuda:0). */
    readonly device: DeviceLike | number = 0,
  ) {
    cudaIndex(device, 'CudaEvent');
    this.handle = cudaAddon()!.eventCreate();
    eventRegistry.register(this, this.handle, this);
  }
  /** Records the event on the device's stream (after the work queued so far). */
  record(): this {
    cudaAddon()!.eventRecord(this.handle, cudaIndex(this.device, 'record'));
    return this;
  }
  /** Milliseconds between this event and `end`, both recorded; waits for `end` to complete. */
  elapsedTime(end: CudaEvent): number {
    return cudaAddon()!.eventElapsed(this.handle, end.handle);
  }
  /** Destroys the event now (a FinalizationRegistry does it otherwise). */
  dispose(): void {
    if (this.handle === 0) return;
    eventRegistry.unregister(this);
    cudaAddon()!.eventDestroy(this.handle);
    this.handle = 0;
  }
}
const eventRegistry = new FinalizationRegistry<number>((h) => cudaAddon()?.eventDestroy(h));

/**
 * The CUDA device's controls, as torch.cuda.
 *
 * @example
 * ```ts
 * import { cuda } from '@kiln/cuda';
 * if (cuda.isAvailable()) console.log(cuda.deviceCount(), cuda.deviceProperties(0).name);
 * else console.log('no CUDA:', cuda.unavailableReason());
 * ```
 */
export const cuda = {
  /** True when the addon is built and a GPU with a working driver is present. */
  isAvailable: (): boolean => cudaAddon() !== null,
  /** Why isAvailable() is false (null when it is true). */
  unavailableReason: (): string | null => unavailableReason,
  /** Number of CUDA devices (0 when unavailable). */
  deviceCount: (): number => cudaAddon()?.deviceCount() ?? 0,
  /** Name, memory, compute capability and versions of a device. */
  deviceProperties: (d: DeviceLike | number = 0): CudaDeviceProperties => cudaAddon()!.deviceProperties(cudaIndex(d, 'deviceProperties')),
  /** Waits for queued work; raises errors kernels reported (e.g. an index out of range). */
  synchronize: (d: DeviceLike | number = 0): void => cudaBackend.synchronize(toDevice(`cuda:${cudaIndex(d, 'synchronize')}`)),
  /** The device allocator's figures (bytes allocated, reserved, peak; cache hits; OOMs). */
  memoryStats: (d: DeviceLike | number = 0): CudaMemoryStats =>
    cudaBackend.memoryStats(toDevice(`cuda:${cudaIndex(d, 'memoryStats')}`)) as CudaMemoryStats,
  /** Frees the allocator's cached blocks (memory held by live tensors stays). */
  emptyCache: (d: DeviceLike | number = 0): void => cudaBackend.emptyCache(toDevice(`cuda:${cudaIndex(d, 'emptyCache')}`)),
  /**
   * The pinned host allocator's figures (`Tensor.pinMemory()`'s memory; PyTorch's
   * `torch.cuda.host_memory_stats()`): bytes in use and held, cache hits, uploads still queued.
   */
  hostMemoryStats: (): PinnedMemoryStats => requireAddon('hostMemoryStats').hostMemoryStats(),
  /** Frees the pinned host blocks no tensor uses (waiting for uploads still queued from them). */
  emptyHostCache: (): void => requireAddon('emptyHostCache').hostEmptyCache(),
  /** {@link CudaEvent}, as torch.cuda.Event. */
  Event: CudaEvent,
};

export type { CudaDeviceProperties, CudaMemoryStats, PinnedMemoryStats };
export {
  type CudaLibrary, type CudaLibraries, type CudaLibraryStatus, type DenseCallCounts, type DenseComputePath, type DenseOpFamily,
  cudaLibraries, cudnnGraphFallbackReason, denseCallCounts, denseComputePath, getCudnnBenchmark, getCudnnGraph, setCudnnBenchmark, setCudnnGraph, setLibraryEnabled,
} from './libraries.js';
export { type NcclBinding, ncclBinding, cudaDataAddress } from './nccl.js';
