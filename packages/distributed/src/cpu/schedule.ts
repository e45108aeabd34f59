/**
 * The CPU backend's collectives as ring schedules, one formula for every collective. A rank sends
 * only to the next rank on the ring and receives only from the previous one. Its schedule is a
 * first region to send (or none) and a list of receive steps: receive a region from the previous
 * rank, reduce it into the local buffer or copy it there, and, unless it is the last step, send
 * the region just updated on to the next rank. Every algorithm here has that shape (the region a
 * rank sends at step t + 1 is the one it received at step t), which is what makes it pipelined:
 * regions move in chunks, and chunk c goes on as soon as chunk c of the step before has arrived,
 * so the ring streams instead of waiting for whole regions (gloo's and NCCL's ring algorithms).
 *
 * All-reduce (rank r of W, the buffer cut into W segments): a reduce-scatter over W - 1 steps
 * (send segment r - t, receive segment r - t - 1 and add it in), after which rank r holds the sum
 * of segment r + 1, then an all-gather over W - 1 steps (send segment r + 1 - t, receive segment
 * r - t and copy it): 2(W - 1) steps, each rank sending 2(W - 1)/W of the buffer, the bandwidth
 * optimum. Indices are mod W.
 */

/** A range of elements [start, end) of the collective's buffer. */
export interface Region {
  start: number;
  end: number;
}

/** One receive step. */
export interface RecvStep {
  region: Region;
  /** Add (or max, min) the received values into the buffer, or copy them there. */
  action: 'reduce' | 'copy';
  /** After a chunk is received and applied, send the same chunk of the buffer to the next rank. */
  forward: boolean;
  /** The step the next rank receives that forward as (the ring algorithms: t + 1; broadcast: 0). */
  forwardAs: number;
  /** This step completes the reduction of its region ('avg' divides there). */
  final: boolean;
}

/** A rank's part of a collective. */
export interface Schedule {
  /** Sent to the next rank first, before anything is received (null: nothing). */
  initial: Region | null;
  steps: RecvStep[];
}

const mod = (a: number, w: number) => ((a % w) + w) % w;

/**
 * Part k of n elements cut into `parts` nearly equal parts (the first n % parts one longer),
 * computed without products that could leave the exact integers.
 */
export function evenPart(n: number, parts: number, k: number): Region {
  const base = Math.floor(n / parts), extra = n % parts;
  const start = base * k + Math.min(k, extra);
  return { start, end: start + base + (k < extra ? 1 : 0) };
}

/** Chunks of a region: at least one, even for an empty region, so every step sends a frame. */
export function chunkCount(region: Region, chunkElements: number): number {
  return Math.max(1, Math.ceil((region.end - region.start) / chunkElements));
}

/** Chunk c of a region. */
export function chunkOf(region: Region, c: number, chunkElements: number): Region {
  const start = Math.min(region.end, region.start + c * chunkElements);
  return { start, end: Math.min(region.end, start + chunkElements) };
}

/** All-reduce of n elements. */
export function allReduceSchedule(n: number, rank: number, world: number): Schedule {
  if (world === 1) return { initial: null, steps: [] };
  const seg = (k: number) => evenPart(n, world, mod(k, world));
  const steps: RecvStep[] = [];
  for (let t = 0; t < world - 1; t++) steps.push({ region: seg(rank - t - 1), action: 'reduce', forward: true, forwardAs: t + 1, final: t === world - 2 });
  for (let t = 0; t < world - 1; t++) steps.push({ region: seg(rank - t), action: 'copy', forward: t < world - 2, forwardAs: world + t, final: false });
  return { initial: seg(rank), steps };
}

/** All-gather: the buffer holds W blocks of `block` elements, this rank's own already in place. */
export function allGatherSchedule(block: number, rank: number, world: number): Schedule {
  if (world === 1) return { initial: null, steps: [] };
  const blk = (k: number): Region => ({ start: mod(k, world) * block, end: (mod(k, world) + 1) * block });
  const steps: RecvStep[] = [];
  for (let s = 0; s < world - 1; s++) steps.push({ region: blk(rank - s - 1), action: 'copy', forward: s < world - 2, forwardAs: s + 1, final: false });
  return { initial: blk(rank), steps };
}

/** Reduce-scatter: the buffer holds W blocks of `block` elements; block `rank` ends fully reduced. */
export function reduceScatterSchedule(block: number, rank: number, world: number): Schedule {
  if (world === 1) return { initial: null, steps: [] };
  const blk = (k: number): Region => ({ start: mod(k, world) * block, end: (mod(k, world) + 1) * block });
  const steps: RecvStep[] = [];
  for (let s = 0; s < world - 1; s++) steps.push({ region: blk(rank - s - 2), action: 'reduce', forward: s < world - 2, forwardAs: s + 1, final: s === world - 2 });
  return { initial: blk(rank - 1), steps };
}

/** Broadcast of n elements from `root`: a pipeline along the ring, root first. */
export function broadcastSchedule(n: number, rank: number, root: number, world: number): Schedule {
  if (world === 1) return { initial: null, steps: [] };
  const whole = { start: 0, end: n };
  const position = mod(rank - root, world);
  if (position === 0) return { initial: whole, steps: [] };
  return { initial: null, steps: [{ region: whole, action: 'copy', forward: position < world - 1, forwardAs: 0, final: false }] };
}
