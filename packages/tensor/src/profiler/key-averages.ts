/**
 * A profile's events summed per name (torch.profiler's key_averages()) and printed as a table
 * (its `.table()`).
 *
 * For a range (recordFunction, an autograd node, a module): host total = its duration; host self =
 * that minus its child ranges' durations and its own kernels' launch times; device total = the
 * device time of every kernel launched inside it, at any depth; device self = of those launched
 * directly in it. For a kernel: host = its launch; device = its run on the device; self = total.
 */
import type { KernelEvent, RangeEvent, Session } from './session.js';

/** One row of {@link Profiler.keyAverages}: the events of one name and kind, summed. Times in ms. */
export interface ProfileRow {
  /** The kernel's op name ('add', 'matmul') or the range's name. */
  name: string;
  /** 'kernel': a kernel launch; 'range': a recordFunction range, an autograd node or a module's forward. */
  kind: 'kernel' | 'range';
  /** How many times it ran. */
  calls: number;
  /** Host milliseconds, children included. */
  hostTotal: number;
  /** Host milliseconds outside child ranges and kernel launches. */
  hostSelf: number;
  /** Device milliseconds of the kernels inside, at any depth. */
  deviceTotal: number;
  /** Device milliseconds of the kernels launched directly inside (a kernel's own, for a kernel). */
  deviceSelf: number;
  /** Bytes allocated inside, children included (a kernel: its outputs and temporaries). */
  bytes: number;
  /** Bytes allocated inside but not in a child. */
  selfBytes: number;
  /**
   * With `groupByInputShape`: the input shapes of this row's kernels, as `[[32, 64, 32, 32], [64, 64, 3, 3]]`
   * ('' for a range, whose launches may differ).
   */
  inputShapes?: string;
}

/** The columns {@link ProfileTableOptions.sortBy} can sort by (descending). */
export type ProfileSortKey = 'deviceTotal' | 'deviceSelf' | 'hostTotal' | 'hostSelf' | 'calls' | 'bytes' | 'selfBytes';

/** Options of {@link Profiler.table}. */
export interface ProfileTableOptions {
  /** The column rows are sorted by, largest first (default 'deviceTotal', ties by 'hostTotal'). */
  sortBy?: ProfileSortKey;
  /** Print at most this many rows (default: all). */
  rowLimit?: number;
  /**
   * One row per kernel name and input shapes, with an "Input Shapes" column (torch's
   * key_averages(group_by_input_shape=True)); the profile must have been recorded with `recordShapes`.
   */
  groupByInputShape?: boolean;
}

/** Options of {@link Profiler.keyAverages}. */
export interface KeyAveragesOptions {
  /** Kernels summed per name and input shapes rather than per name (needs `recordShapes`). */
  groupByInputShape?: boolean;
}

/** '[[32, 64, 32, 32], [64, 64, 3, 3]]': a kernel's input shapes as a table cell. */
export function formatShapes(shapes: readonly (readonly number[])[]): string {
  return `[${shapes.map((s) => `[${s.join(', ')}]`).join(', ')}]`;
}

const deviceMs = (k: KernelEvent): number => k.deviceEnd - k.deviceStart;

/** Every event summed by (kind, name), or by (kind, name, input shapes) for kernels when grouping by shape; in first-seen order. */
export function keyAverages(s: Session, options: KeyAveragesOptions = {}): ProfileRow[] {
  const byShape = options.groupByInputShape === true;
  const n = s.ranges.length;
  const childHost = new Float64Array(n), childBytes = new Float64Array(n), devTotal = new Float64Array(n), devSelf = new Float64Array(n);
  s.ranges.forEach((r: RangeEvent) => {
    if (r.parent >= 0) {
      childHost[r.parent] += r.end - r.start;
      childBytes[r.parent] += r.bytes;
    }
  });
  for (const k of s.kernels) {
    if (k.parent < 0) continue;
    childHost[k.parent] += k.end - k.start;
    childBytes[k.parent] += k.bytes;
    const d = deviceMs(k);
    devSelf[k.parent] += d;
    for (let p = k.parent; p >= 0; p = s.ranges[p].parent) devTotal[p] += d;
  }
  const rows = new Map<string, ProfileRow>();
  const add = (kind: ProfileRow['kind'], name: string, host: number, hostSelf: number, dev: number, dSelf: number, bytes: number, selfBytes: number, shapes?: string) => {
    const key = `${kind}\u0000${name}\u0000${shapes ?? ''}`;
    let r = rows.get(key);
    if (!r) {
      r = { name, kind, calls: 0, hostTotal: 0, hostSelf: 0, deviceTotal: 0, deviceSelf: 0, bytes: 0, selfBytes: 0 };
      if (byShape) r.inputShapes = shapes ?? '';
      rows.set(key, r);
    }
    r.calls++;
    r.hostTotal += host;
    r.hostSelf += hostSelf;
    r.deviceTotal += dev;
    r.deviceSelf += dSelf;
    r.bytes += bytes;
    r.selfBytes += selfBytes;
  };
  s.ranges.forEach((r, i) => {
    const host = r.end - r.start;
    add('range', r.name, host, host - childHost[i], devTotal[i], devSelf[i], r.bytes, r.bytes - childBytes[i]);
  });
  for (const k of s.kernels) {
    const host = k.end - k.start, d = deviceMs(k);
    add('kernel', k.name, host, host, d, d, k.bytes, k.bytes, byShape ? formatShapes(k.inputShapes ?? []) : undefined);
  }
  return [...rows.values()];
}

/** '12.345ms', '678.901us', '1.234s' (torch's style). */
export function formatMs(ms: number): string {
  if (ms >= 1000) return `${(ms / 1000).toFixed(3)}s`;
  if (ms >= 1) return `${ms.toFixed(3)}ms`;
  return `${(ms * 1000).toFixed(3)}us`;
}

/** '512 B', '1.50 KiB', '12.00 MiB'. */
export function formatBytes(b: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = b, u = 0;
  while (Math.abs(v) >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v} B` : `${v.toFixed(2)} ${units[u]}`;
}

const MAX_NAME = 55;

/** The rows as a fixed-width text table with the totals under it (torch's key_averages().table()). */
export function formatTable(s: Session, rows: readonly ProfileRow[], options: ProfileTableOptions = {}): string {
  const sortBy = options.sortBy ?? 'deviceTotal';
  const sorted = [...rows].sort((a, b) => b[sortBy] - a[sortBy] || b.hostTotal - a.hostTotal);
  const shown = options.rowLimit === undefined ? sorted : sorted.slice(0, Math.max(0, options.rowLimit));
  const hostAll = rows.reduce((t, r) => t + r.hostSelf, 0);
  // every kernel's device time once (a range's self device time is its kernels' again)
  const deviceAll = rows.reduce((t, r) => t + (r.kind === 'kernel' ? r.deviceSelf : 0), 0);
  const pct = (v: number, all: number) => (all > 0 ? `${((100 * v) / all).toFixed(2)}%` : '-');
  const name = (r: ProfileRow) => {
    const n = r.kind === 'kernel' ? r.name : `[${r.name}]`;
    return n.length > MAX_NAME ? `${n.slice(0, MAX_NAME - 3)}...` : n;
  };
  const shapes = rows.some((r) => r.inputShapes !== undefined);
  const header = ['Name', 'Self host %', 'Self host', 'Host total %', 'Host total', 'Host avg', 'Self device', 'Self device %', 'Device total', 'Device avg', 'Bytes', 'Self bytes', '# of Calls'];
  if (shapes) header.push('Input Shapes');
  const body = shown.map((r) => [
    name(r), pct(r.hostSelf, hostAll), formatMs(r.hostSelf), pct(r.hostTotal, hostAll), formatMs(r.hostTotal), formatMs(r.hostTotal / r.calls),
    formatMs(r.deviceSelf), pct(r.deviceSelf, deviceAll), formatMs(r.deviceTotal), formatMs(r.deviceTotal / r.calls),
    formatBytes(r.bytes), formatBytes(r.selfBytes), String(r.calls), ...(shapes ? [r.inputShapes ?? ''] : []),
  ]);
  const widths = header.map((h, c) => Math.max(h.length, ...body.map((row) => row[c].length)));
  // the first column (names) and the shapes (last, when shown) read left to right; numbers align right
  const left = (c: number) => c === 0 || (shapes && c === header.length - 1);
  const line = (cells: string[]) => cells.map((v, c) => (left(c) ? v.padEnd(widths[c]) : v.padStart(widths[c]))).join('  ').trimEnd();
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  return [
    rule, line(header), rule, ...body.map(line), rule,
    `Self host time total: ${formatMs(hostAll)}`,
    `Self device time total: ${formatMs(deviceAll)}`,
    `Wall time of the profile: ${formatMs(s.end - s.start)}; [names] are ranges (recordFunction, autograd nodes, modules), the others kernels`,
  ].join('\n');
}
