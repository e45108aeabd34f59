/**
 * A profile as Chrome trace JSON (the Trace Event Format, which chrome://tracing and Perfetto's UI
 * open). The host is process 0 with one thread: ranges and kernel launches, nested by time. Each
 * timed device (a CUDA GPU) is a process of its own with one track per stream (Kiln queues a
 * device's work on one stream), holding the kernels as they ran there; a flow arrow links each
 * launch to its kernel. Timestamps are microseconds since the profile started, on the host's clock
 * (device times are mapped onto it when the profile stops).
 */
import { formatShapes } from './key-averages.js';
import type { Session } from './session.js';

/** One event of the Trace Event Format. */
export interface TraceEvent {
  /** The range's or kernel's name, or the metadata's ('process_name', 'thread_name'). */
  name: string;
  /** 'X' a complete event (ts + dur), 'M' metadata, 's' / 'f' a flow's start and end. */
  ph: 'X' | 'M' | 's' | 'f';
  /** Process: 0 the host, 1.. a device. */
  pid: number;
  /** Thread: the host's main thread, or a device's stream. */
  tid: number;
  /** Start, microseconds since the profile started. */
  ts?: number;
  /** Duration in microseconds. */
  dur?: number;
  /** 'range', 'launch', 'kernel' or 'flow'. */
  cat?: string;
  /** A flow's id (the launch's index). */
  id?: number;
  /** A flow end binds to the enclosing slice ('e'). */
  bp?: 'e';
  /** Details: bytes allocated, the device. */
  args?: Record<string, unknown>;
}

/** A whole trace: what {@link Profiler.exportChromeTrace} writes. */
export interface ChromeTrace {
  /** The events. */
  traceEvents: TraceEvent[];
  /** How viewers show times. */
  displayTimeUnit: 'ms';
}

const HOST_PID = 0;
const HOST_TID = 0;
const STREAM_TID = 0;

/** The session's events in the Trace Event Format: `{ traceEvents, displayTimeUnit }`. */
export function chromeTrace(s: Session): ChromeTrace {
  const us = (ms: number) => (ms - s.start) * 1000;
  const events: TraceEvent[] = [
    { name: 'process_name', ph: 'M', pid: HOST_PID, tid: HOST_TID, args: { name: 'host' } },
    { name: 'thread_name', ph: 'M', pid: HOST_PID, tid: HOST_TID, args: { name: 'main thread' } },
  ];
  for (const r of s.ranges) {
    events.push({ name: r.name, cat: 'range', ph: 'X', pid: HOST_PID, tid: HOST_TID, ts: us(r.start), dur: (r.end - r.start) * 1000, args: { bytes: r.bytes } });
  }
  const devicePids = new Map<string, number>();
  s.kernels.forEach((k, i) => {
    const dev = String(k.device);
    const onHost = !k.timed;   // the kernel ran inside its launch
    events.push({
      name: k.name, cat: onHost ? 'kernel' : 'launch', ph: 'X', pid: HOST_PID, tid: HOST_TID, ts: us(k.start), dur: (k.end - k.start) * 1000,
      args: { device: dev, bytes: k.bytes, ...(k.inputShapes ? { 'Input Shapes': formatShapes(k.inputShapes) } : {}) },
    });
    if (onHost) return;
    let pid = devicePids.get(dev);
    if (pid === undefined) {
      devicePids.set(dev, (pid = devicePids.size + 1));
      events.push({ name: 'process_name', ph: 'M', pid, tid: STREAM_TID, args: { name: dev } });
      events.push({ name: 'thread_name', ph: 'M', pid, tid: STREAM_TID, args: { name: 'stream 0' } });
    }
    events.push({ name: k.name, cat: 'kernel', ph: 'X', pid, tid: STREAM_TID, ts: us(k.deviceStart), dur: (k.deviceEnd - k.deviceStart) * 1000, args: { device: dev } });
    events.push({ name: 'launch', cat: 'flow', ph: 's', id: i, pid: HOST_PID, tid: HOST_TID, ts: us(k.start) });
    events.push({ name: 'launch', cat: 'flow', ph: 'f', bp: 'e', id: i, pid, tid: STREAM_TID, ts: us(k.deviceStart) });
  });
  return { traceEvents: events, displayTimeUnit: 'ms' };
}
