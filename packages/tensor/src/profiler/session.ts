/**
 * What a running profile records, and the few entry points the dispatch path calls. While no
 * profile runs, `activeSession` is null and each entry point costs the dispatch path one check
 * (`launchKernel` and `empty` in dispatch.ts test it before anything else).
 *
 * Times are performance.now() milliseconds. A kernel's host time is its launch (the native call);
 * its device time is measured by the device's KernelTimer (CUDA: a pair of events on the device's
 * stream around the launch, read back when the profile stops) or, on a device without one (the
 * CPU, whose kernels run inside the native call), is the native call itself.
 */
import { type Backend, type Device, registeredBackends, device as toDevice } from '../device.js';
import { ValueError } from '../errors.js';

/** A named host range: a `recordFunction` call, an autograd node, a module's forward. Times in ms (performance.now()). */
export interface RangeEvent {
  /** The range's name. */
  readonly name: string;
  /** When it opened. */
  readonly start: number;
  /** When it closed. */
  end: number;
  /** Index of the enclosing range in the profile's ranges, or -1. */
  readonly parent: number;
  /** Bytes allocated while it was open (its children's included). */
  bytes: number;
}

/** One kernel launch. Times in ms on the host's clock (performance.now()). */
export interface KernelEvent {
  /** The kernel's name (the op's snake_case name). */
  readonly name: string;
  /** The device it ran on. */
  readonly device: Device;
  /** When the launch started, on the host. */
  readonly start: number;
  /** When the launch returned, on the host. */
  readonly end: number;
  /** Index of the innermost open range in the profile's ranges, or -1. */
  readonly parent: number;
  /** Bytes allocated in that range since its previous launch (this kernel's outputs and temporaries). */
  readonly bytes: number;
  /** True when a KernelTimer timed it on the device; false when it ran inside its launch (the CPU). */
  readonly timed: boolean;
  /** When the kernel started on the device, mapped onto the host's clock (set when the profile stops). */
  deviceStart: number;
  /** When it ended on the device, likewise. */
  deviceEnd: number;
  /**
   * The shapes of its input tensors as the kernel receives them, in its order (recorded with
   * `recordShapes`): an operand broadcast by an elementwise op arrives expanded to the result's shape.
   */
  readonly inputShapes?: readonly (readonly number[])[];
}

/** The events of one profile and the ranges open now. */
export class Session {
  readonly ranges: RangeEvent[] = [];
  readonly kernels: KernelEvent[] = [];
  private readonly open: number[] = [];
  /** bytes allocated in the innermost range since its last launch */
  private pending = 0;
  /** devices whose kernels a KernelTimer times, with the host time its clock started at */
  private readonly timed: { device: Device; backend: Backend; since: number }[] = [];
  private readonly timedDevices = new Set<Device>();
  readonly start: number;
  end = NaN;

  constructor(
    readonly deviceTime: boolean,
    /** Record each kernel's input shapes (ProfilerOptions.recordShapes). */
    readonly recordShapes = false,
  ) {
    if (deviceTime) {
      try {
        for (const b of registeredBackends()) {
          if (!b.kernelTimer) continue;
          for (let i = 0; i < b.deviceCount(); i++) {
            const dev = toDevice(`${b.type}:${i}`);
            this.timed.push({ device: dev, backend: b, since: b.kernelTimer.start(dev) });
            this.timedDevices.add(dev);
          }
        }
      } catch (e) {
        for (const t of this.timed) t.backend.kernelTimer!.stop(t.device);
        throw e;
      }
    }
    this.start = performance.now();
  }

  private parent(): number {
    return this.open.length > 0 ? this.open[this.open.length - 1] : -1;
  }

  push(name: string): void {
    this.pending = 0;
    const parent = this.parent();
    this.open.push(this.ranges.length);
    this.ranges.push({ name, start: performance.now(), end: NaN, parent, bytes: 0 });
  }

  pop(): void {
    const i = this.open.pop();
    if (i !== undefined) this.ranges[i].end = performance.now();
    this.pending = 0;
  }

  allocated(nbytes: number): void {
    this.pending += nbytes;
    for (const i of this.open) this.ranges[i].bytes += nbytes;
  }

  /** Launches kernel `id` and records it (nothing when the launch throws); `inputShapes` with recordShapes. */
  launch(backend: Backend, id: number, name: string, device: Device, inputShapes?: readonly (readonly number[])[]): void {
    const t0 = performance.now();
    backend.launch(id);
    const t1 = performance.now();
    const timed = this.timedDevices.has(device);
    // untimed: a CPU kernel ran inside the launch; a device that could be timed (deviceTime: false) gets 0
    const deviceEnd = timed ? NaN : backend.kernelTimer ? t0 : t1;
    this.kernels.push({
      name, device, start: t0, end: t1, parent: this.parent(), bytes: this.pending, timed, deviceStart: timed ? NaN : t0, deviceEnd,
      ...(inputShapes ? { inputShapes } : {}),
    });
    this.pending = 0;
  }

  /** Ends the open ranges and reads the device times back (waits for each timed device). */
  finish(): void {
    while (this.open.length > 0) this.pop();
    this.end = performance.now();
    for (const { device, backend, since } of this.timed) {
      const times = backend.kernelTimer!.stop(device);
      const mine = this.kernels.filter((k) => k.device === device);
      if (times.length !== 2 * mine.length) {
        throw new ValueError('Profiler.stop', null, `device times for the ${mine.length} launches on ${device}`, `${times.length / 2} (launches on that device that did not go through launchKernel?)`);
      }
      mine.forEach((k, j) => {
        k.deviceStart = since + times[2 * j];
        k.deviceEnd = since + times[2 * j + 1];
      });
    }
  }
}

/** The running profile, or null (the check the dispatch path makes). */
export let activeSession: Session | null = null;

/** Starts recording into a new session (one at a time). */
export function beginSession(deviceTime: boolean, recordShapes = false): Session {
  if (activeSession !== null) throw new ValueError('Profiler.start', null, 'no other profile running (profiles do not nest)', 'a profile already running');
  activeSession = new Session(deviceTime, recordShapes);
  return activeSession;
}

/** Stops recording; the session's events are complete after this. */
export function endSession(s: Session): void {
  if (activeSession !== s) throw new ValueError('Profiler.stop', null, 'a running profile', 'a profile that is not running');
  activeSession = null;
  s.finish();
}

/**
 * Runs `fn` as a named range of the running profile (as torch.profiler.record_function): its host
 * time, the kernels it launches and their device time, the bytes it allocates. Without a running
 * profile it only calls `fn` (one check). Ranges nest; an exception ends the range and propagates.
 * The range covers `fn`'s synchronous run: for an async function, it ends when `fn` returns its promise.
 *
 * @example
 * ```ts
 * const prof = profile(() => {
 *   recordFunction('forward', () => model.call(x));
 * });
 * console.log(prof.table({ rowLimit: 10 }));
 * ```
 */
export function recordFunction<T>(name: string, fn: () => T): T {
  const s = activeSession;
  if (s === null) return fn();
  s.push(name);
  try {
    return fn();
  } finally {
    // a range opened by another session (stopped and restarted inside fn) is not this one's
    if (activeSession === s) s.pop();
  }
}

/** True while a profile records (for code that builds a range name only when it will be used). */
export function isProfiling(): boolean {
  return activeSession !== null;
}
