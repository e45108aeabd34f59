// A rank that dies (SIGKILL) or hangs in the middle of a step: the others leave the collective with
// a DistributedError naming the collective, their rank and what they waited for, within the
// timeout, never a hang. The ranks are started without kiln-run (which would stop them itself).
import { type ChildProcess, spawn } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { startStoreServer } from '../src/store/store-server.js';
import { SOURCE_NODE_ARGS, rankScript } from './support/run-ranks.js';

const started: ChildProcess[] = [];
afterEach(() => {
  for (const c of started.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

interface Ended { code: number | null; signal: string | null; output: string }

async function runFailing(mode: 'kill' | 'hang', world: number, timeoutMs: number): Promise<Ended[]> {
  const store = await startStoreServer('127.0.0.1', 0);
  try {
    return await Promise.all(Array.from({ length: world }, (_, rank) => new Promise<Ended>((resolve) => {
      const env = {
        ...process.env, RANK: String(rank), WORLD_SIZE: String(world), MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(store.port),
        KILN_AGENT_STORE: '1', TEST_TIMEOUT_MS: String(timeoutMs),
      };
      const c = spawn(process.execPath, [...SOURCE_NODE_ARGS, '--import', 'tsx', rankScript('failure.rank.ts'), mode], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      started.push(c);
      let output = '';
      c.stdout.on('data', (d: Buffer) => { output += d.toString(); });
      c.stderr.on('data', (d: Buffer) => { output += d.toString(); });
      // the hanging rank never ends by itself: once the others have, it is stopped
      c.on('close', (code, signal) => resolve({ code, signal, output }));
      if (mode === 'hang' && rank === 1) {
        const others = started.length;
        const stopLater = setInterval(() => {
          if (started.filter((s, k) => k !== others - 1 && s.exitCode !== null).length >= world - 1) {
            clearInterval(stopLater);
            c.kill('SIGKILL');
          }
        }, 100);
      }
    })));
  } finally {
    await store.close();
  }
}

function errorOf(e: Ended): { reason: string; op: string; rank: number; waitingFor: string; message: string; ms: number } {
  const line = e.output.split('\n').find((l) => l.startsWith('ERROR '));
  if (line === undefined) throw new Error(`no DistributedError reported; output:\n${e.output}`);
  return JSON.parse(line.slice(6)) as ReturnType<typeof errorOf>;
}

describe('a failing rank', () => {
  it('killed mid-collective: the others fail at once with peer-closed or peer-aborted', async () => {
    const ended = await runFailing('kill', 3, 20_000);
    expect(ended[1].signal).toBe('SIGKILL');
    // Each survivor names the rank whose link it lost: rank 1, or the other survivor when that one
    // saw rank 1 go first and exited (its closed connection is then how this rank hears of the
    // failure; which comes first depends on scheduling). At least one of them names rank 1.
    const messages: string[] = [];
    for (const rank of [0, 2]) {
      const e = errorOf(ended[rank]);
      expect(ended[rank].code).toBe(3);
      expect(['peer-closed', 'peer-aborted']).toContain(e.reason);
      expect(e.op).toBe('allReduce');
      expect(e.rank).toBe(rank);
      expect(e.message).toContain(`rank ${rank} of 3`);
      expect(e.message).toMatch(new RegExp(`rank (1|${2 - rank})\\b`));
      expect(e.ms).toBeLessThan(10_000);          // well within the 20 s timeout: detected, not timed out
      messages.push(e.message);
    }
    expect(messages.some((m) => /rank 1\b/.test(m)), messages.join('\n')).toBe(true);
  }, 90_000);

  it('hanging: the others fail with a timeout naming what they waited for', async () => {
    const ended = await runFailing('hang', 3, 1500);
    // Whichever of ranks 0 and 2 times out first aborts its group: the other learns it from the abort
    // passed round the ring (peer-aborted), from the closed connection to the aborting rank when that
    // link is its only way to hear of it (peer-closed: rank 2 sends to rank 0 but receives from the
    // hanging rank 1), or times out too; which comes first depends on scheduling.
    const errors = [0, 2].map((rank) => ({ rank, e: errorOf(ended[rank]), code: ended[rank].code }));
    for (const { rank, e, code } of errors) {
      expect(code).toBe(3);
      expect(['timeout', 'peer-aborted', 'peer-closed']).toContain(e.reason);
      expect(e.rank).toBe(rank);
      expect(e.ms).toBeLessThan(10_000);
    }
    const timedOut = errors.filter(({ e }) => e.reason === 'timeout');
    expect(timedOut.length).toBeGreaterThan(0);
    for (const { rank, e } of timedOut) {
      expect(e.message).toContain(`allReduce (collective #2 of this group, rank ${rank} of 3): timed out after 1500 ms waiting for`);
      expect(e.waitingFor).toMatch(/rank [12]/);
      expect(e.ms).toBeGreaterThanOrEqual(1400);
    }
  }, 90_000);
});
