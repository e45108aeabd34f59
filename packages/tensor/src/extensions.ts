/**
 * Extensions: native kernels from libraries built outside Kiln (with `kiln_add_extension` from
 * `@kiln/native`'s CMake package, see docs/writing-an-extension.md), loaded while the process runs.
 * Each device addon opens the library, checks the extension ABI version it was built against and
 * adds its kernels for that device to the same kernel table Kiln's own kernels are in, so that
 * `launchKernel` finds them by name. The op is then declared in TypeScript as a built-in op is.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Backend, type DeviceType, type ExtensionLoadResult, backendFor, device, hasBackend, onBackendRegistered } from './device.js';
import { ExtensionError } from './errors.js';

/** A device type an extension has kernels for but that were not loaded, and why. */
export interface SkippedDevice {
  /** The device type. */
  readonly device: DeviceType;
  /** The kernels the library offers for it. */
  readonly kernels: readonly string[];
  /** Why they were not loaded (no such device here, or an error loading them). */
  readonly reason: string;
}

/** What {@link loadExtension} loaded. */
export interface ExtensionInfo {
  /** The library's absolute path. */
  readonly path: string;
  /** The kernels registered, by device type (only device types with kernels appear). */
  readonly kernels: Readonly<Partial<Record<DeviceType, readonly string[]>>>;
  /**
   * Device types the library has kernels for that were not loaded, and why. A device registered
   * later (importing `@kiln/cuda` after the extension) gets the kernels then, and leaves this list.
   */
  readonly skipped: readonly SkippedDevice[];
}

interface Record_ {
  readonly path: string;
  kernels: Partial<Record<DeviceType, string[]>>;
  skipped: SkippedDevice[];
}

/** The device types of the extension ABI, by code (KILN_DEVICE_CPU = 0, KILN_DEVICE_CUDA = 1). */
const DEVICE_TYPES: readonly DeviceType[] = ['cpu', 'cuda'];

const loaded = new Map<string, Record_>();

function offeredByDevice(result: ExtensionLoadResult): Map<DeviceType, string[]> {
  const by = new Map<DeviceType, string[]>();
  for (const [code, name] of result.offered) {
    const type = DEVICE_TYPES[code];
    if (type === undefined) continue;   // the native side refuses unknown device types
    const list = by.get(type) ?? [];
    list.push(name);
    by.set(type, list);
  }
  return by;
}

function unavailable(type: DeviceType): string | null {
  if (!hasBackend(type)) {
    return `no '${type}' device is registered` + (type === 'cuda' ? ": import '@kiln/cuda' on a machine with a GPU (the kernels load when it registers)" : '');
  }
  const b = backendOf(type);
  if (b.deviceCount() === 0) return `no ${type} device is present`;
  if (!b.loadExtension) return `the ${type} backend cannot load extensions`;
  return null;
}

const backendOf = (type: DeviceType): Backend => backendFor(device(type), 'loadExtension');

/** Loads the library's kernels for one more device type; records why when it cannot. */
function loadOn(rec: Record_, b: Backend, offered: readonly string[]): void {
  try {
    const result = b.loadExtension!(rec.path);
    rec.kernels[b.type] = result.kernels.map(([name]) => name);
    rec.skipped = rec.skipped.filter((s) => s.device !== b.type);
  } catch (e) {
    rec.skipped = [...rec.skipped.filter((s) => s.device !== b.type), { device: b.type, kernels: offered, reason: (e as Error).message }];
  }
}

/**
 * Loads an extension library: a shared library built with `kiln_add_extension` (Kiln's CMake
 * package in `@kiln/native`, see docs/writing-an-extension.md) whose kernels are then launched by
 * name like Kiln's own. Its kernels are registered on every device type it has kernels for whose
 * device is present; the others are listed in `skipped`, with the reason (a device registered
 * later, by importing `@kiln/cuda`, gets them then). Loading a library again returns the same
 * record. An extension's package usually calls this when it is imported.
 *
 * Throws an {@link ExtensionError} when the file is missing or is not a Kiln extension, when it
 * was built against another Kiln's extension ABI (the message says what to rebuild), or when it
 * offers a kernel under a name Kiln or another extension already uses.
 *
 * @example
 * ```ts
 * const ext = loadExtension(new URL('../build/my_ops.so', import.meta.url));
 * console.log(ext.kernels.cpu, ext.skipped);   // ['my_op'], [{ device: 'cuda', kernels: ['my_op'], reason: ... }]
 * const myOp = declareOp('my_op', ['input']);
 * ```
 */
export function loadExtension(path: string | URL): ExtensionInfo {
  const file = resolve(typeof path === 'string' ? path : fileURLToPath(path));
  const known = loaded.get(file);
  if (known) return known;
  if (!existsSync(file)) {
    throw new ExtensionError({
      op: 'loadExtension', argument: 'path',
      detail: `the extension library ${file} does not exist: build it first ` +
        "(`npx kiln-build-extension` in the extension's package folder, which its build script usually runs)",
    });
  }
  // The CPU device opens the library first: it checks the ABI and learns every device's kernels.
  const result = backendOf('cpu').loadExtension!(file);
  const rec: Record_ = { path: file, kernels: {}, skipped: [] };
  for (const [type, names] of offeredByDevice(result)) {
    if (type === 'cpu') {
      rec.kernels.cpu = result.kernels.map(([name]) => name);
      continue;
    }
    const why = unavailable(type);
    if (why === null) loadOn(rec, backendOf(type), names);
    else rec.skipped.push({ device: type, kernels: names, reason: why });
  }
  loaded.set(file, rec);
  return rec;
}

/** The extensions loaded so far in this thread, in load order. */
export function loadedExtensions(): readonly ExtensionInfo[] {
  return [...loaded.values()];
}

// A device registered after an extension loaded (an application importing @kiln/cuda later) gets
// the extension's kernels for it.
onBackendRegistered((b) => {
  for (const rec of loaded.values()) {
    const skipped = rec.skipped.find((s) => s.device === b.type);
    if (skipped && b.loadExtension && b.deviceCount() > 0) loadOn(rec, b, skipped.kernels);
  }
});

/**
 * @internal Why no kernel `name` exists on a device type when an extension knows the op: its
 * kernels for that device were skipped, or it has none (built without them). Null otherwise.
 */
export function missingKernelHint(name: string, type: DeviceType): string | null {
  for (const rec of loaded.values()) {
    const skipped = rec.skipped.find((s) => s.device === type && s.kernels.includes(name));
    if (skipped) return `the extension ${rec.path} has a ${type} kernel for it, which was not loaded: ${skipped.reason}`;
    const elsewhere = (Object.keys(rec.kernels) as DeviceType[]).filter((t) => rec.kernels[t]!.includes(name));
    if (elsewhere.length > 0) {
      return `the extension ${rec.path} has kernels for it on ${elsewhere.join(', ')} only` +
        (type === 'cuda' ? ': it was built without CUDA kernels (nvcc was not found when it was built); rebuild it where nvcc is found' : '');
    }
  }
  return null;
}
