/**
 * Devices and their backends. The core knows the CPU backend; `@kiln/cuda` registers 'cuda' when an
 * application imports it. A backend owns storage (allocation, host copies) and launches kernels by
 * name from its native addon's kernel table.
 */
import { DeviceError } from './errors.js';

export type DeviceType = 'cpu' | 'cuda';

export class Device {
  /** @internal use {@link device} */
  constructor(
    readonly type: DeviceType,
    readonly index: number,
  ) {}
  toString(): string {
    return this.type === 'cpu' ? 'cpu' : `${this.type}:${this.index}`;
  }
}

export type DeviceLike = Device | string;

const interned = new Map<string, Device>();

/** Parses 'cpu', 'cuda', 'cuda:1' (or passes a Device through). Devices are interned: compare with ===. */
export function device(d: DeviceLike): Device {
  if (d instanceof Device) return d;
  const hit = interned.get(d);
  if (hit) return hit;
  const m = /^(cpu|cuda)(?::(\d+))?$/.exec(d);
  if (!m) throw new DeviceError('device', 'device', "'cpu', 'cuda' or 'cuda:N'", JSON.stringify(d));
  const type = m[1] as DeviceType;
  const index = m[2] === undefined ? 0 : Number(m[2]);
  if (type === 'cpu' && index !== 0) throw new DeviceError('device', 'device', "'cpu' (one CPU device)", d);
  const key = type === 'cpu' ? 'cpu' : `${type}:${index}`;
  let dev = interned.get(key);
  if (!dev) {
    dev = new Device(type, index);
    interned.set(key, dev);
  }
  interned.set(d, dev);
  return dev;
}

export const cpu = device('cpu');

/** Memory figures of one device, in bytes. */
export interface MemoryStats {
  /** Bytes held by live tensors (rounded to the allocator's block sizes). */
  allocated: number;
  /** allocated + bytes cached by the allocator for reuse. */
  reserved: number;
  peakAllocated: number;
  allocCount: number;
  cacheHits: number;
}

/** Bytes owned by one device allocation, shared by a tensor and its views. */
export interface Storage {
  readonly device: Device;
  readonly nbytes: number;
  /** Address of the first byte, passed to kernels (exact as a number: below 2^53). */
  readonly address: number;
  /** CPU only: the ArrayBuffer over the bytes (TypedArray and ndarray views share it). */
  readonly buffer?: ArrayBuffer;
  /** Bumped by every in-place write; autograd compares it with the value it saved. */
  version: number;
  /** Number of undisposed tensors using this storage; at 0 the memory goes back to the allocator. */
  refs: number;
  readonly freed: boolean;
  free(): void;
}

export interface Backend {
  readonly type: DeviceType;
  deviceCount(): number;
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
  synchronize(device: Device): void;
  memoryStats(device: Device): MemoryStats;
  emptyCache(device: Device): void;
}

const backends = new Map<DeviceType, Backend>();

export function registerBackend(b: Backend): void {
  backends.set(b.type, b);
}

export function backendFor(d: Device, op = 'device'): Backend {
  const b = backends.get(d.type);
  if (!b) {
    throw new DeviceError(
      `${op}: the '${d.type}' device is not available: import '@kiln/cuda' once in your application to register it` +
        (d.type === 'cuda' ? ' (and check cuda.isAvailable())' : ''),
    );
  }
  return b;
}

export function hasBackend(type: DeviceType): boolean {
  return backends.has(type);
}

/** Memory figures of a device (`memoryStats('cuda:0')`). */
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
