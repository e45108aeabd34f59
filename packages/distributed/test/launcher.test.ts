// kiln-run's launch(): each rank's environment, and the teardown when a rank fails (even a rank that
// ignores SIGTERM is stopped, with SIGKILL after the grace period).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ValueError } from '@kiln/tensor';
import { launch } from '../src/launcher/launch.js';
import { runRanks } from './support/run-ranks.js';

describe('launch', () => {
  it('gives each rank torchrun\'s environment with NVLink multicast off', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kiln-launch-'));
    try {
      const r = await runRanks('launcher.rank.ts', 2, [dir, 'ok']);
      expect(r).toMatchObject({ exitCode: 0, failedRank: null, message: '' });
      for (const rank of [0, 1]) {
        const env = JSON.parse(readFileSync(join(dir, `rank-${rank}.json`), 'utf8')) as Record<string, string>;
        expect(env).toMatchObject({
          RANK: String(rank), LOCAL_RANK: String(rank), WORLD_SIZE: '2', LOCAL_WORLD_SIZE: '2', MASTER_ADDR: '127.0.0.1',
          NCCL_NVLS_ENABLE: '0', TORCH_SYMM_MEM_DISABLE_MULTICAST: '1', NVSHMEM_DISABLE_NVLS: '1',
        });
        expect(Number(env.MASTER_PORT)).toBeGreaterThan(0);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it('stops every rank when one fails and exits with its status, naming it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kiln-launch-'));
    try {
      const start = performance.now();
      const r = await runRanks('launcher.rank.ts', 3, [dir, 'fail'], 500);
      expect(r.exitCode).toBe(7);
      expect(r.failedRank).toBe(1);
      expect(r.message).toMatch(/rank 1 \(pid \d+\) exited with code 7; stopping the other ranks/);
      expect(performance.now() - start).toBeLessThan(30_000);   // rank 0 ignores SIGTERM: SIGKILL after 500 ms
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it('refuses bad arguments with a ValueError', async () => {
    await expect(launch({ nprocPerNode: 0, script: 'x.ts' })).rejects.toThrow(ValueError);
    await expect(launch({ nprocPerNode: 2, script: '' })).rejects.toThrow(/script/);
  });
});
