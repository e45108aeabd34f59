/**
 * The profiler, as torch.profiler: record a region of a program and see, per kernel and per named
 * range, how many calls, how much host time, how much device time and how many bytes it took.
 *
 * ```ts
 * const prof = profile(() => trainStep());
 * console.log(prof.table({ sortBy: 'deviceTotal', rowLimit: 15 }));
 * prof.exportChromeTrace('step.json');   // open in https://ui.perfetto.dev or chrome://tracing
 * ```
 *
 * What it records (session.ts): every kernel launch (its name is the op's kernel name), with its
 * host time (the launch) and its device time (on CUDA from a pair of events the addon records on
 * the device's stream around the launch, read back when the profile stops; on the CPU the launch
 * call, in which the kernel runs); ranges: `recordFunction` blocks, autograd's backward nodes
 * (`Conv2dBackward`, ...), the forward of `@kiln/nn` modules (`nn.Module: Conv2d`), optimizer steps and
 * copies to the host (`copy_to_host`, whose host time includes waiting for the device); and the
 * bytes each allocates.
 */
import { ValueError } from '../errors.js';
import { checkOptionKeys } from '../check.js';
import { type KernelEvent, type RangeEvent, type Session, beginSession, endSession } from './session.js';
import { type KeyAveragesOptions, type ProfileRow, type ProfileTableOptions, formatTable, keyAverages } from './key-averages.js';
import { type ChromeTrace, chromeTrace } from './chrome-trace.js';
import { writeFileSync } from 'node:fs';

export { recordFunction, isProfiling } from './session.js';
export type { KernelEvent, RangeEvent } from './session.js';
export type { KeyAveragesOptions, ProfileRow, ProfileSortKey, ProfileTableOptions } from './key-averages.js';
export type { ChromeTrace, TraceEvent } from './chrome-trace.js';

/** What {@link Profiler.events} returns: every range and kernel launch, in the order they started. */
export interface ProfileEvents {
  /** The ranges; a range's `parent` and a kernel's `parent` index this list. */
  ranges: readonly Readonly<RangeEvent>[];
  /** The kernel launches. */
  kernels: readonly Readonly<KernelEvent>[];
}

/** Options of {@link Profiler} and {@link profile}. */
export interface ProfilerOptions {
  /**
   * Time kernels on devices that can (CUDA: events around each launch; default true). false records
   * host times only, without touching the device: those kernels show 0 device time. The CPU's
   * kernels are always timed by their launch, in which they run.
   */
  deviceTime?: boolean;
  /**
   * Record the shapes of each kernel's inputs (torch.profiler's record_shapes; default false), for
   * `keyAverages({ groupByInputShape: true })` and the table's "Input Shapes" column. Costs a little
   * host time per launch while profiling.
   */
  recordShapes?: boolean;
}

/**
 * Records kernels, ranges and allocations between `start()` and `stop()` (one profile at a time), as
 * torch.profiler.profile. Read the results after `stop()`.
 *
 * @example
 * ```ts
 * const prof = new Profiler().start();
 * const y = model.call(x);
 * y.sum().backward();
 * prof.stop();
 * console.log(prof.table({ rowLimit: 10 }));
 * ```
 */
export class Profiler {
  private session: Session | null = null;
  private running = false;

  constructor(
    /** How the profile records (see {@link ProfilerOptions}). */
    readonly options: ProfilerOptions = {},
  ) {
    checkOptionKeys('Profiler', options, { deviceTime: true, recordShapes: true });
  }

  /** Starts recording (waits for the timed devices' queued work first). Returns this. */
  start(): this {
    if (this.running) throw new ValueError('Profiler.start', null, 'a profiler that is not running', 'one already started');
    this.session = beginSession(this.options.deviceTime ?? true, this.options.recordShapes ?? false);
    this.running = true;
    return this;
  }

  /** Stops recording and reads the device times back (waits for the timed devices). Returns this. */
  stop(): this {
    if (!this.running) throw new ValueError('Profiler.stop', null, 'a running profiler', 'one that was not started');
    this.running = false;
    endSession(this.session!);
    return this;
  }

  private done(op: string): Session {
    if (this.session === null || this.running) throw new ValueError(op, null, 'a stopped profile', this.running ? 'one still running (call stop() first)' : 'a profiler never started');
    return this.session;
  }

  /** The recorded events: ranges and kernel launches, in the order they started. */
  events(): ProfileEvents {
    const s = this.done('Profiler.events');
    return { ranges: s.ranges, kernels: s.kernels };
  }

  /**
   * The events summed per kernel name and per range name (torch's key_averages()); with
   * `groupByInputShape`, kernels per name and input shapes (the profile needs `recordShapes`).
   */
  keyAverages(options: KeyAveragesOptions = {}): ProfileRow[] {
    const s = this.done('Profiler.keyAverages');
    checkOptionKeys('Profiler.keyAverages', options, { groupByInputShape: true });
    checkGrouping('Profiler.keyAverages', s, options);
    return keyAverages(s, options);
  }

  /**
   * keyAverages() as a text table, sorted by total device time unless `sortBy` says otherwise, with
   * the host and device totals under it (torch's key_averages().table()).
   */
  table(options: ProfileTableOptions = {}): string {
    const s = this.done('Profiler.table');
    checkOptionKeys('Profiler.table', options, { sortBy: true, rowLimit: true, groupByInputShape: true });
    checkGrouping('Profiler.table', s, options);
    return formatTable(s, keyAverages(s, options), options);
  }

  /** The profile in Chrome's Trace Event Format (what exportChromeTrace writes). */
  chromeTrace(): ChromeTrace {
    return chromeTrace(this.done('Profiler.chromeTrace'));
  }

  /** Writes the profile as Chrome trace JSON, for https://ui.perfetto.dev or chrome://tracing. */
  exportChromeTrace(path: string): void {
    writeFileSync(path, JSON.stringify(this.chromeTrace()));
  }
}

/** Grouping by input shape needs the shapes: a profile recorded without them is a clear error, not one group. */
function checkGrouping(op: string, s: Session, options: KeyAveragesOptions): void {
  if (options.groupByInputShape === true && !s.recordShapes) {
    throw new ValueError(op, 'groupByInputShape', 'a profile recorded with { recordShapes: true }', 'a profile recorded without input shapes');
  }
}

/**
 * Profiles one synchronous call: starts a {@link Profiler}, runs `fn`, stops (also when `fn` throws)
 * and returns the stopped profiler. For asynchronous code, call `start()` and `stop()` yourself.
 *
 * @example
 * ```ts
 * const prof = profile(() => { loss = step(); });
 * console.log(prof.table({ sortBy: 'hostTotal', rowLimit: 20 }));
 * ```
 */
export function profile(fn: () => unknown): Profiler;
export function profile(options: ProfilerOptions, fn: () => unknown): Profiler;
export function profile(a: ProfilerOptions | (() => unknown), b?: () => unknown): Profiler {
  const [options, fn] = typeof a === 'function' ? [{}, a] : [a, b];
  if (typeof fn !== 'function') throw new ValueError('profile', 'fn', 'a function to profile', String(fn));
  const prof = new Profiler(options).start();
  let result: unknown;
  try {
    result = fn();
  } finally {
    prof.stop();
  }
  if (result instanceof Promise) {
    throw new ValueError('profile', 'fn', 'a synchronous function (for async code use new Profiler().start() and stop())', 'a function returning a Promise');
  }
  return prof;
}
