// The ring schedules, run in one process: W simulated ranks exchange chunked frames over FIFO links
// exactly as ring-worker.ts does (receive a chunk, reduce or copy it, forward it as the given step),
// for world sizes 1-5, sizes from empty to not divisible by W, and chunk sizes from 1 element up.
import { describe, expect, it } from 'vitest';
import {
  type Schedule, allGatherSchedule, allReduceSchedule, broadcastSchedule, chunkCount, chunkOf, evenPart, reduceScatterSchedule,
} from '../src/cpu/schedule.js';

interface Frame { step: number; chunk: number; data: number[] }

/** Runs one collective on `buffers` (one per rank, in place); fails on a deadlock or a frame out of order. */
function simulate(buffers: number[][], schedules: Schedule[], chunk: number): void {
  const W = buffers.length;
  const links: Frame[][] = buffers.map(() => []);             // links[r]: frames on their way to rank r
  const send = (r: number, step: number, c: number, region: { start: number; end: number }) =>
    links[(r + 1) % W].push({ step, chunk: c, data: buffers[r].slice(region.start, region.end) });
  const pos = schedules.map(() => ({ step: 0, chunk: 0 }));
  schedules.forEach((s, r) => {
    if (s.initial) for (let c = 0; c < chunkCount(s.initial, chunk); c++) send(r, 0, c, chunkOf(s.initial, c, chunk));
  });
  for (let progress = true; progress;) {
    progress = false;
    for (let r = 0; r < W; r++) {
      const s = schedules[r], p = pos[r];
      while (p.step < s.steps.length && links[r].length > 0) {
        const f = links[r].shift()!, st = s.steps[p.step];
        expect([f.step, f.chunk]).toEqual([p.step, p.chunk]);
        const region = chunkOf(st.region, p.chunk, chunk);
        expect(f.data.length).toBe(region.end - region.start);
        f.data.forEach((v, k) => { buffers[r][region.start + k] = st.action === 'reduce' ? buffers[r][region.start + k] + v : v; });
        if (st.forward) send(r, st.forwardAs, p.chunk, region);
        if (++p.chunk === chunkCount(st.region, chunk)) { p.chunk = 0; p.step++; }
        progress = true;
      }
    }
  }
  pos.forEach((p, r) => expect(p.step).toBe(schedules[r].steps.length));   // no rank left waiting
  links.forEach((l) => expect(l).toEqual([]));                              // nothing left unread
}

const input = (r: number, n: number) => Array.from({ length: n }, (_, i) => (r + 1) * 1000 + i);

describe('ring schedules', () => {
  for (const W of [1, 2, 3, 4, 5]) {
    for (const n of [0, 1, 2, 3, 5, 7, 16]) {
      for (const chunk of [1, 3, 100]) {
        it(`W=${W} n=${n} chunk=${chunk}`, () => {
          // all-reduce: every rank ends with the sum
          const bufs = Array.from({ length: W }, (_, r) => input(r, n));
          simulate(bufs, bufs.map((_, r) => allReduceSchedule(n, r, W)), chunk);
          const sum = Array.from({ length: n }, (_, i) => Array.from({ length: W }, (_, r) => input(r, n)[i]).reduce((a, b) => a + b, 0));
          bufs.forEach((b) => expect(b).toEqual(sum));
          // exactly one reduce step per element is final ('avg' divides there)
          for (let r = 0; r < W; r++) {
            const finals = allReduceSchedule(n, r, W).steps.filter((s) => s.final);
            expect(finals.length).toBe(W > 1 ? 1 : 0);
          }
          // all-gather and reduce-scatter of blocks of n
          const gathered = Array.from({ length: W }, (_, r) => Array.from({ length: W * n }, (_, i) => (Math.floor(i / Math.max(n, 1)) === r ? input(r, n)[i % n] : -1)));
          simulate(gathered, gathered.map((_, r) => allGatherSchedule(n, r, W)), chunk);
          const all = Array.from({ length: W }, (_, r) => input(r, n)).flat();
          gathered.forEach((b) => expect(b).toEqual(all));
          const scattered = Array.from({ length: W }, (_, r) => input(r, W * n));
          simulate(scattered, scattered.map((_, r) => reduceScatterSchedule(n, r, W)), chunk);
          scattered.forEach((b, r) => {
            const want = Array.from({ length: n }, (_, i) => Array.from({ length: W }, (_, q) => input(q, W * n)[r * n + i]).reduce((a, c) => a + c, 0));
            expect(b.slice(r * n, (r + 1) * n)).toEqual(want);
          });
          // broadcast from every root
          for (let root = 0; root < W; root++) {
            const bb = Array.from({ length: W }, (_, r) => input(r, n));
            simulate(bb, bb.map((_, r) => broadcastSchedule(n, r, root, W)), chunk);
            bb.forEach((b) => expect(b).toEqual(input(root, n)));
          }
        });
      }
    }
  }

  it('cuts n elements into nearly equal parts that cover them exactly', () => {
    for (const n of [0, 1, 7, 100]) {
      for (const parts of [1, 3, 8]) {
        const ps = Array.from({ length: parts }, (_, k) => evenPart(n, parts, k));
        expect(ps[0].start).toBe(0);
        expect(ps[parts - 1].end).toBe(n);
        ps.forEach((p, k) => {
          if (k > 0) expect(p.start).toBe(ps[k - 1].end);
          expect(p.end - p.start).toBeGreaterThanOrEqual(Math.floor(n / parts));
          expect(p.end - p.start).toBeLessThanOrEqual(Math.ceil(n / parts));
        });
      }
    }
  });
});
