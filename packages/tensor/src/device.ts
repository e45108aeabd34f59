/**
 * Devices and their backends. The core knows the CPU backend; `@kiln/cuda` registers 'cuda' when an
 * application imports it. A backend owns storage (allocation, host copies) and launches kernels by
 * name from its native addon's kernel table.
 */
import { DeviceError } from './errors.js';

/** The kinds of device: the CPU (always present) and CUDA (registered by `@kiln/cuda`). */
export type DeviceType = 'cpu' | 'cuda';

/**
 * A device: a type and an index (`cuda:1`). Devices are interned, so compare them with `===`;
 * get one with {@link device}.
 *
 * @example
 * ```ts
 * const x = zeros([2, 3], { device: 'cpu' });
 * console.log(x.device === device('cpu'), String(x.device));   // true 'cpu'
 * ```
 */
export class Device {
  /** @internal use {@link device} */
  constructor(
    /** 'cpu' or 'cuda'. */
    readonly type: DeviceType,
    /** The device's number among those of its type (always 0 for the CPU). */
    readonly index: number,
  ) {}
  /** 'cpu', or 'cuda:N'. */
  toString(): string {
    return this.type === 'cpu' ? 'cpu' : `${this.type}:${this.index}`;
  }
}

/** A Device, or its name: 'cpu', 'cuda' (= 'cuda:0') or 'cuda:N'. */
export type DeviceLike = Device | string;

const interned = new Map<string, Device>();

/**
 * Parses 'cpu', 'cuda', 'cuda:1' (or passes a Device through). Devices are interned: compare with ===.
 * A name that is no device is a DeviceError naming `op` and `argument` (the caller's, when given).
 *
 * @example
 * ```ts
 * device('cuda') === device('cuda:0');   // true
 * ```
 */
export function device(d: DeviceLike, op = 'device', argument = 'device'): Device {
  if (d instanceof Device) return d;
  const hit = interned.get(d);
  if (hit) return hit;
  const m = /^(cpu|cuda)(?::(\d+))?$/.exec(d);
  if (!m) throw new DeviceError(op, argument, "'cpu', 'cuda' or 'cuda:N'", JSON.stringify(d));
  const type = m[1] as DeviceType;
  const index = m[2] === undefined ? 0 : Number(m[2]);
  if (type === 'cpu' && index !== 0) throw new DeviceError(op, argument, "'cpu' (one CPU device)", d);
  const key = type === 'cpu' ? 'cpu' : `${type}:${index}`;
  let dev = interned.get(key);
  if (!dev) {
    dev = new Device(type, index);
    interned.set(key, dev);
  }
  interned.set(d, dev);
  return dev;
}

/** The CPU device. */
export const cpu = device('cpu');

/** Memory figures of one device, in bytes. */
export interface MemoryStats {
  /** Bytes held by live tensors (rounded to the allocator's block sizes). */
  allocated: number;
  /**
   * allocated + bytes cached by the allocator for reuse (on the CPU that includes small buffers
   * parked in the JS free list in front of the native allocator, which `emptyCache` releases too).
   */
  reserved: number;
  /** The highest `allocated` seen since the process started. */
  peakAllocated: number;
  /** Allocations served, from the cache or the system. */
  allocCount: number;
  /** Allocations served from the allocator's cache (on the CPU, its JS free list's too). */
  cacheHits: number;
}

/** Bytes owned by one device allocation, shared by a tensor and its views. */
export interface Storage {
  /** The device holding the bytes. */
  readonly device: Device;
  /** Size in bytes. */
  readonly nbytes: number;
  /** Address of the first byte, passed to kernels (exact as a number: below 2^53). */
  readonly address: number;
  /** CPU only: the ArrayBuffer over the bytes (TypedArray and ndarray views share it). */
  readonly buffer?: ArrayBuffer;
  /** Bumped by every in-place write; autograd compares it with the value it saved. */
  version: number;
  /** Number of undisposed tensors using this storage; at 0 the memory goes back to the allocator. */
  refs: number;
  /**
   * True once the memory went back to the allocator (or, for a user's own buffer wrapped by
   * `fromTypedArray`, once that buffer was detached: see `detached`).
   */
  readonly freed: boolean;
  /** CPU only: true when the user's buffer a `fromTypedArray` tensor views was detached or shrunk. */
  readonly detached?: boolean;
  /** CPU only: the device whose page-locked memory this is (see `Tensor.pinMemory()`), if any. */
  readonly pinnedFor?: DeviceType;
  /** Returns the memory to the allocator (called when `refs` reaches 0). */
  free(): void;
}

/**
 * Times kernels on a device for the profiler (`Backend.kernelTimer`): while on, the backend brackets
 * every launch on the device with device-side timestamps (CUDA: a pair of events on the device's
 * stream, recorded by the addon inside launch).
 */
export interface KernelTimer {
  /**
   * Starts timing the launches on `device`: waits for its queued work, starts its clock and returns
   * the host time (performance.now()) at which the device clock reads 0.
   */
  start(device: Device): number;
  /**
   * Stops timing; waits for the device and returns [start, end] in milliseconds on the device
   * clock for each launch since start(), in launch order.
   */
  stop(device: Device): Float64Array;
}

/**
 * A device type's implementation: storage and kernel launches. The CPU backend is built in;
 * `@kiln/cuda` registers the CUDA one with {@link registerBackend}.
 */
export interface Backend {
  /** The device type it serves. */
  readonly type: DeviceType;
  /** Number of devices of this type present. */
  deviceCount(): number;
  /** New storage of `nbytes` on `device` (uninitialised). */
  allocate(device: Device, nbytes: number): Storage;
  /** Copies host bytes into the storage at byteOffset. */
  upload(dst: Storage, byteOffset: number, src: ArrayBufferView): void;
  /** Copies bytes out of the storage, waiting for queued work. */
  download(src: Storage, byteOffset: number, dst: ArrayBufferView): void;
  /** As download, without blocking the event loop. */
  downloadAsync(src: Storage, byteOffset: number, dst: ArrayBufferView): Promise<void>;
  /** Index of a kernel in the addon's table, or -1. */
  kernelId(name: string): number;
  /** Runs kernel `id` with the arguments already encoded in the shared argument buffer. */
  launch(id: number): void;
  /** Waits for the device's queued work; raises errors its kernels reported. */
  synchronize(device: Device): void;
  /** The device allocator's figures. */
  memoryStats(device: Device): MemoryStats;
  /** Returns the allocator's cached blocks to the system. */
  emptyCache(device: Device): void;
  /**
   * Device-side kernel timing for the profiler; a backend without one (the CPU, whose kernels run
   * inside the launch call) has its kernels' device time taken as the launch call's.
   */
  readonly kernelTimer?: KernelTimer;
  /**
   * Opens an extension library and adds the kernels it offers for this device type to the
   * backend's kernel table (see {@link loadExtension}, which calls it).
   */
  loadExtension?(path: string): ExtensionLoadResult;
  /**
   * Page-locked host memory this device uploads from without staging (CUDA's): what
   * `Tensor.pinMemory()` allocates, and the uploads `to(device, { nonBlocking: true })` queues.
   */
  readonly pinnedHost?: PinnedHostMemory;
}

/**
 * A device's page-locked ("pinned") host memory: CPU storage that the device can read directly, so
 * that an upload from it can be queued and return at once (PyTorch's `pin_memory()` and
 * `non_blocking=True`).
 */
export interface PinnedHostMemory {
  /** A pinned buffer of exactly `nbytes` (from a cache of blocks; OutOfMemoryError when the system refuses). */
  alloc(nbytes: number): ArrayBuffer;
  /** Returns an alloc()ed buffer's block to the cache now and detaches the buffer. */
  release(buffer: ArrayBuffer): void;
  /**
   * Queues the upload of `src` (a view of a pinned buffer) into `dst` at `byteOffset` and returns:
   * the block is not handed out again before the upload has run, but writing into `src` before
   * then changes what arrives (as in PyTorch).
   */
  uploadAsync(dst: Storage, byteOffset: number, src: ArrayBufferView): void;
}

/** What a device addon reports after loading an extension library (native/core/extensions.h). */
export interface ExtensionLoadResult {
  /** The kernels registered on this device type: [op name, kernel id]. */
  readonly kernels: readonly (readonly [string, number])[];
  /** Every kernel the library offers: [device type code (0 cpu, 1 cuda), op name]. */
  readonly offered: readonly (readonly [number, string])[];
}

const backends = new Map<DeviceType, Backend>();
const registrationListeners: ((b: Backend) => void)[] = [];

/**
 * Makes a device type available (replacing an earlier backend of the same type). Extensions loaded
 * before it are loaded for it then (their kernels of this device type are registered).
 */
export function registerBackend(b: Backend): void {
  backends.set(b.type, b);
  for (const listener of registrationListeners) listener(b);
}

/** @internal Calls `listener` with every backend registered from now on (extensions.ts). */
export function onBackendRegistered(listener: (b: Backend) => void): void {
  registrationListeners.push(listener);
}

/** Why a device package that was imported registered no backend (its device is unusable here). */
const unavailableReasons = new Map<DeviceType, string>();

/**
 * @internal For a device package (`@kiln/cuda`) that loaded but found its device unusable: the
 * reason, which backendFor's error then quotes instead of asking for the import already made.
 */
export function noteUnavailableBackend(type: DeviceType, reason: string): void {
  unavailableReasons.set(type, reason);
}

/**
 * The backend of a device, or a DeviceError (naming `op`) that says how to make it available:
 * `import '@kiln/cuda'` for CUDA, or, once imported, why it has no device here.
 */
export function backendFor(d: Device, op = 'device'): Backend {
  const b = backends.get(d.type);
  if (!b) {
    const why = unavailableReasons.get(d.type);
    throw new DeviceError({
      op, argument: 'device',
      detail: why !== undefined
        ? `the '${d.type}' device is not available: ${why} (cuda.unavailableReason() says so too)`
        : `the '${d.type}' device is not available: import '@kiln/cuda' once in your application to register it` +
          (d.type === 'cuda' ? ' (and check cuda.isAvailable())' : ''),
    });
  }
  return b;
}

/** The registered backends (the profiler starts each one's kernel timer). */
export function registeredBackends(): Backend[] {
  return [...backends.values()];
}

/** True when a backend for the device type is registered. */
export function hasBackend(type: DeviceType): boolean {
  return backends.has(type);
}

/**
 * Memory figures of a device (`memoryStats('cuda:0')`).
 *
 * @example
 * ```ts
 * const before = memoryStats('cpu').allocated;
 * zeros([1024]).dispose();
 * console.log(memoryStats('cpu').allocated === before);   // true: the block went back to the cache
 * ```
 */
export function memoryStats(d: DeviceLike = 'cpu'): MemoryStats {
  const dev = device(d);
  return backendFor(dev, 'memoryStats').memoryStats(dev);
}

/** Returns the allocator's cached blocks of a device to the system. */
export function emptyCache(d: DeviceLike = 'cpu'): void {
  const dev = device(d);
  backendFor(dev, 'emptyCache').emptyCache(dev);
}

/** Waits for all work queued on a device; raises errors kernels reported. */
export function synchronize(d: DeviceLike = 'cpu'): void {
  const dev = device(d);
  backendFor(dev, 'synchronize').synchronize(dev);
}
