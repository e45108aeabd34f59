/**
 * The CPU backend's communication thread: one TCP connection to the next rank on the ring (sent
 * on) and one from the previous rank (read from), and the collectives run over them in the order
 * the main thread posts them, on buffers in shared memory (SharedArrayBuffer), each by its ring
 * schedule (schedule.ts), chunk by chunk. Reductions run Kiln's own kernels (add_, maximum_,
 * minimum_, div_) on tensors viewing the shared memory, so every dtype reduces as Kiln computes.
 *
 * Failures end the process group: a timeout, a closed connection that a collective still needed,
 * an abort frame from the previous rank, or ranks whose frames disagree. The failing rank sends an
 * abort frame with its reason to the next rank and closes its connections, so the failure reaches
 * every rank quickly rather than each waiting for its timeout.
 */
import { type Server, type Socket, createServer, connect } from 'node:net';
import { parentPort, workerData } from 'node:worker_threads';
import { type DType, type Tensor, dtypeInfo, fromTypedArray } from '@kiln/tensor';
import { type LinkData, notifyMain } from '../thread/worker-link.js';
import type { DistributedFailure } from '../errors.js';
import {
  FRAME_ABORT, FRAME_DATA, type Frame, FrameReader, HANDSHAKE_BYTES, decodeHandshake, encodeFrame, encodeHandshake,
} from './frame.js';
import {
  type Region, type Schedule, allGatherSchedule, allReduceSchedule, broadcastSchedule, chunkCount, chunkOf, reduceScatterSchedule,
} from './schedule.js';
import { COLLECTIVE_CODES, type CollectiveKind, REDUCE_CODES, type JobRequest, type ReduceOp } from './jobs.js';

interface Data {
  link: LinkData;
  rank: number;
  world: number;
  tag: number;
  chunkBytes: number;
}

interface ErrorInfo {
  reason: DistributedFailure;
  message: string;
  waitingFor: string;
}

interface Active {
  job: JobRequest;
  schedule: Schedule;
  chunkElements: number;
  itemsize: number;
  step: number;
  chunk: number;
  sendsLeft: number;
  /** Frames written but not yet handed to the system: the collective completes once they are. */
  unflushed: number;
  timer: NodeJS.Timeout;
}

const { link, rank, world, tag, chunkBytes } = workerData as Data;
const next = (rank + 1) % world, prev = (rank + world - 1) % world;
const dtypeByCode = new Map<number, DType>(Object.entries(dtypeInfo).map(([d, i]) => [i.code, d as DType]));
const NAMES: Record<CollectiveKind, string> = {
  allReduce: 'allReduce', broadcast: 'broadcast', allGather: 'allGather', reduceScatter: 'reduceScatter', barrier: 'barrier',
};
const KIND_BY_CODE = new Map(Object.entries(COLLECTIVE_CODES).map(([k, c]) => [c, k as CollectiveKind]));
const REDUCE_BY_CODE = new Map(Object.entries(REDUCE_CODES).map(([k, c]) => [c, k as ReduceOp]));

let server: Server | null = null;
let toNext: Socket | null = null;
let fromPrev: Socket | null = null;
let nextClosed: string | null = null;
let prevClosed: string | null = null;
let closing = false;
let broken: ErrorInfo | null = null;
let active: Active | null = null;
const queue: JobRequest[] = [];
const frames: Frame[] = [];
let scratch = new ArrayBuffer(Math.max(64, chunkBytes + 16));

const describeJob = (j: JobRequest) => `${NAMES[j.collective]} (collective #${j.seq} of this group, rank ${rank} of ${world})`;

// ---- failing ------------------------------------------------------------------------------------

function fail(info: ErrorInfo): void {
  if (broken !== null) return;
  broken = info;
  const jobs = active ? [active.job, ...queue] : [...queue];
  if (active) clearTimeout(active.timer);
  active = null;
  queue.length = 0;
  for (const j of jobs) notifyMain(link, { id: j.id, error: { ...info, message: `${describeJob(j)}: ${info.message}` } });
  notifyMain(link, { event: 'failed', error: info });
  // tell the next rank why, then close: the failure travels round the ring at once
  if (toNext && nextClosed === null && !toNext.destroyed) {
    const msg = Buffer.from(`rank ${rank} failed: ${info.message}`, 'utf8');
    toNext.end(encodeFrame({ kind: FRAME_ABORT, collective: 0, dtype: 0, reduce: 0, seq: 0, step: 0, chunk: 0, numel: 0, root: 0 }, msg));
  }
  fromPrev?.end();
  setTimeout(() => { toNext?.destroy(); fromPrev?.destroy(); }, 2000).unref();
}

function waitingFor(a: Active): string {
  const steps = a.schedule.steps;
  if (a.step >= steps.length) return `rank ${next} to take the data sent to it`;
  const count = chunkCount(steps[a.step].region, a.chunkElements);
  return `data from rank ${prev} (step ${a.step + 1} of ${steps.length}, chunk ${a.chunk + 1} of ${count})`;
}

// ---- running collectives ------------------------------------------------------------------------

function scheduleFor(j: JobRequest): Schedule {
  switch (j.collective) {
    case 'allReduce':
    case 'barrier': return allReduceSchedule(j.numel, rank, world);
    case 'broadcast': return broadcastSchedule(j.numel, rank, j.root, world);
    case 'allGather': return allGatherSchedule(j.numel / world, rank, world);
    case 'reduceScatter': return reduceScatterSchedule(j.numel / world, rank, world);
  }
}

/** A tensor viewing `count` elements of a job's buffer from element `start`. */
function bufferView(j: JobRequest, start: number, count: number): Tensor {
  const A = dtypeInfo[j.dtype].arrayType;
  return fromTypedArray(new A(j.buffer, j.byteOffset + start * dtypeInfo[j.dtype].itemsize, count), [count], j.dtype);
}

function bytesOf(a: Active, r: Region): Uint8Array {
  return new Uint8Array(a.job.buffer, a.job.byteOffset + r.start * a.itemsize, (r.end - r.start) * a.itemsize);
}

function send(a: Active, step: number, chunk: number, r: Region): void {
  const j = a.job;
  const frame = encodeFrame({
    kind: FRAME_DATA, collective: COLLECTIVE_CODES[j.collective], dtype: dtypeInfo[j.dtype].code, reduce: REDUCE_CODES[j.reduce],
    seq: j.seq, step, chunk, numel: j.numel, root: j.root,
  }, bytesOf(a, r));
  a.sendsLeft--;
  a.unflushed++;
  // completing only once the system has the data means a rank may exit right after its last
  // collective without losing what the next rank still needs
  toNext!.write(frame, () => {
    a.unflushed--;
    if (active === a) consume();
  });
}

/** Adds (max, min) a received chunk into the buffer; divides a finished 'avg' chunk by the world size. */
function reduceInto(a: Active, r: Region, payload: Buffer, final: boolean): void {
  const n = r.end - r.start;
  if (n === 0) return;
  if (scratch.byteLength < payload.length) scratch = new ArrayBuffer(payload.length);
  new Uint8Array(scratch, 0, payload.length).set(payload);
  const A = dtypeInfo[a.job.dtype].arrayType;
  const dst = bufferView(a.job, r.start, n);
  const src = fromTypedArray(new A(scratch, 0, n), [n], a.job.dtype);
  if (a.job.reduce === 'max') dst.maximum_(src);
  else if (a.job.reduce === 'min') dst.minimum_(src);
  else dst.add_(src);
  if (final && a.job.reduce === 'avg') dst.div_(world);
  src.dispose();
  dst.dispose();
}

function begin(j: JobRequest): void {
  if (broken !== null) {
    notifyMain(link, { id: j.id, error: { ...broken, message: `${describeJob(j)}: the process group failed earlier: ${broken.message}` } });
    return;
  }
  const itemsize = dtypeInfo[j.dtype].itemsize;
  const chunkElements = Math.max(1, Math.floor(chunkBytes / itemsize));
  const schedule = scheduleFor(j);
  let sendsLeft = schedule.initial ? chunkCount(schedule.initial, chunkElements) : 0;
  for (let t = 0; t < schedule.steps.length; t++) if (schedule.steps[t].forward) sendsLeft += chunkCount(schedule.steps[t].region, chunkElements);
  const a: Active = {
    job: j, schedule, chunkElements, itemsize, step: 0, chunk: 0, sendsLeft, unflushed: 0,
    timer: setTimeout(() => {
      if (active === a) fail({ reason: 'timeout', message: `timed out after ${j.timeoutMs} ms waiting for ${waitingFor(a)}`, waitingFor: waitingFor(a) });
    }, j.timeoutMs),
  };
  active = a;
  if (sendsLeft > 0 && nextClosed !== null) return fail({ reason: 'peer-closed', message: nextClosed, waitingFor: `the connection to rank ${next}` });
  if (schedule.initial) {
    const n = chunkCount(schedule.initial, chunkElements);
    for (let c = 0; c < n; c++) send(a, 0, c, chunkOf(schedule.initial, c, chunkElements));
  }
  consume();
}

function complete(a: Active): void {
  clearTimeout(a.timer);
  active = null;
  // the data written in place: the main thread reads it once it sees this reply
  notifyMain(link, { id: a.job.id, result: true });
  startNext();
}

function startNext(): void {
  while (active === null && queue.length > 0) begin(queue.shift()!);   // a broken group answers each at once
}

/** Checks a frame against what the active collective expects; fails the group (false) if it differs. */
function matches(a: Active, f: Frame): boolean {
  const h = f.header, j = a.job;
  const theirs = KIND_BY_CODE.get(h.collective) ?? `collective code ${h.collective}`;
  const differ = (what: string) => {
    fail({ reason: 'mismatch', message: `rank ${prev} ${what}; every rank must call the same collectives, in the same order, with tensors of the same size and dtype`, waitingFor: '' });
    return false;
  };
  if (h.seq !== j.seq || h.collective !== COLLECTIVE_CODES[j.collective]) {
    return differ(`ran ${theirs} as its collective #${h.seq} while this rank ran ${NAMES[j.collective]} as #${j.seq}`);
  }
  if (h.dtype !== dtypeInfo[j.dtype].code) return differ(`sent ${dtypeByCode.get(h.dtype) ?? `dtype code ${h.dtype}`} data where this rank has ${j.dtype}`);
  if (h.numel !== j.numel) return differ(`has ${h.numel} elements in its ${NAMES[j.collective]} buffer where this rank has ${j.numel}`);
  if (h.reduce !== REDUCE_CODES[j.reduce] && (j.collective === 'allReduce' || j.collective === 'reduceScatter')) {
    return differ(`reduces with '${REDUCE_BY_CODE.get(h.reduce) ?? `code ${h.reduce}`}' where this rank reduces with '${j.reduce}'`);
  }
  if (j.collective === 'broadcast' && h.root !== j.root) return differ(`broadcasts from rank ${h.root} where this rank broadcasts from rank ${j.root}`);
  const step = a.schedule.steps[a.step];
  const expected = chunkOf(step.region, a.chunk, a.chunkElements);
  if (h.step !== a.step || h.chunk !== a.chunk || h.payloadBytes !== (expected.end - expected.start) * a.itemsize) {
    return differ(`sent step ${h.step}, chunk ${h.chunk} (${h.payloadBytes} bytes) where this rank expected step ${a.step}, chunk ${a.chunk} (${(expected.end - expected.start) * a.itemsize} bytes)`);
  }
  return true;
}

function consume(): void {
  for (;;) {
    const a = active;
    if (a === null) return;
    const steps = a.schedule.steps;
    if (a.step >= steps.length) {
      if (a.sendsLeft === 0 && a.unflushed === 0) complete(a);
      return;
    }
    const f = frames.shift();
    if (f === undefined) {
      if (prevClosed !== null) fail({ reason: 'peer-closed', message: prevClosed, waitingFor: waitingFor(a) });
      return;
    }
    if (!matches(a, f)) return;
    const step = steps[a.step];
    const r = chunkOf(step.region, a.chunk, a.chunkElements);
    if (step.action === 'copy') bytesOf(a, r).set(f.payload);
    else {
      try {
        reduceInto(a, r, f.payload, step.final);
      } catch (e) {
        fail({ reason: 'usage', message: `reducing failed: ${(e as Error).message}`, waitingFor: '' });
        return;
      }
    }
    if (step.forward) {
      if (nextClosed !== null) return fail({ reason: 'peer-closed', message: nextClosed, waitingFor: `the connection to rank ${next}` });
      send(a, step.forwardAs, a.chunk, r);
    }
    if (++a.chunk === chunkCount(step.region, a.chunkElements)) {
      a.chunk = 0;
      a.step++;
    }
  }
}

function onFrame(f: Frame): void {
  if (broken !== null) return;
  if (f.header.kind === FRAME_ABORT) {
    fail({ reason: 'peer-aborted', message: f.payload.toString('utf8'), waitingFor: '' });
    return;
  }
  frames.push(f);
  consume();
}

// ---- connections --------------------------------------------------------------------------------

function watchNext(s: Socket): void {
  const gone = () => {
    if (closing || nextClosed !== null) return;
    nextClosed = `the connection to rank ${next} closed (rank ${next} exited or aborted)`;
    if (active !== null && active.sendsLeft > 0) fail({ reason: 'peer-closed', message: nextClosed, waitingFor: `the connection to rank ${next}` });
  };
  s.on('error', gone);
  s.on('close', gone);
  s.on('data', () => {});   // nothing is read on this connection
}

function watchPrev(s: Socket, leftover: Buffer): void {
  const reader = new FrameReader(onFrame);
  const gone = () => {
    if (closing || prevClosed !== null) return;
    prevClosed = `the connection from rank ${prev} closed (rank ${prev} exited or aborted)`;
    consume();   // a collective waiting for more data fails now; buffered frames are still used
  };
  s.on('error', gone);
  s.on('close', gone);
  s.on('data', (d: Buffer) => reader.push(d));
  if (leftover.length > 0) reader.push(leftover);
}

let onPrevConnected: (() => void) | null = null;
let acceptError: string | null = null;

function accept(s: Socket): void {
  s.setNoDelay(true);
  let got = Buffer.alloc(0);
  const onData = (d: Buffer) => {
    got = Buffer.concat([got, d]);
    if (got.length < HANDSHAKE_BYTES) return;
    s.off('data', onData);
    const h = decodeHandshake(got);
    if (h === null || h.tag !== tag || h.world !== world || h.rank !== prev || fromPrev !== null) {
      acceptError = h === null ? 'a connection that is not a Kiln ring connection'
        : h.world !== world ? `rank ${h.rank} connected with world size ${h.world}, this rank has ${world}`
        : h.tag !== tag ? `rank ${h.rank} connected from another process group`
        : `rank ${h.rank} connected, but only rank ${prev} sends to this rank`;
      s.destroy();
      return;
    }
    fromPrev = s;
    watchPrev(s, got.subarray(HANDSHAKE_BYTES));
    onPrevConnected?.();
  };
  s.on('data', onData);
  s.on('error', () => s.destroy());
}

function listen(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server = createServer(accept);
    server.once('error', reject);
    server.listen(0, host, () => resolve((server!.address() as { port: number }).port));
  });
}

function connectNext(host: string, port: number, deadline: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const s = connect({ host, port });
      s.once('connect', () => {
        s.removeAllListeners('error');
        s.setNoDelay(true);
        s.write(encodeHandshake(rank, world, tag));
        resolve(s);
      });
      s.once('error', (e: NodeJS.ErrnoException) => {
        s.destroy();
        if (Date.now() >= deadline) reject(new Error(`connecting to rank ${next} at ${host}:${port} failed (${e.code ?? e.message})`));
        else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}

async function setUp(id: number, host: string, port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const prevArrived = new Promise<void>((resolve) => {
    if (fromPrev !== null) resolve();
    else onPrevConnected = resolve;
  });
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for rank ${prev} to connect${acceptError ? ` (refused: ${acceptError})` : ''}`)), timeoutMs);
  });
  try {
    toNext = await Promise.race([connectNext(host, port, deadline), timeout]);
    watchNext(toNext);
    await Promise.race([prevArrived, timeout]);
    notifyMain(link, { id, result: true });
  } catch (e) {
    notifyMain(link, { id, error: { reason: 'timeout', message: (e as Error).message, waitingFor: `rank ${prev} to connect` } });
  } finally {
    clearTimeout(timer);
  }
}

// ---- messages from the main thread ----------------------------------------------------------------

type Message =
  | { id: number; listen: { host: string } }
  | { id: number; connect: { host: string; port: number; timeoutMs: number } }
  | { job: JobRequest }
  | { close: true };

parentPort!.on('message', (m: Message) => {
  if ('job' in m) {
    queue.push(m.job);
    startNext();
  } else if ('listen' in m) {
    listen(m.listen.host).then(
      (port) => notifyMain(link, { id: m.id, result: port }),
      (e: Error) => notifyMain(link, { id: m.id, error: { reason: 'usage', message: `cannot listen on ${m.listen.host}: ${e.message}`, waitingFor: '' } }),
    );
  } else if ('connect' in m) {
    void setUp(m.id, m.connect.host, m.connect.port, m.connect.timeoutMs);
  } else if ('close' in m) {
    closing = true;
    toNext?.end();
    fromPrev?.end();
    server?.close();
    parentPort!.close();
  }
});
