// Each collective against a float64 reference, across processes (CPU backend): sizes 0, 1, below
// and not divisible by the world size, many chunks; float32, float64, int32; every reduction; views.
import { describe, expect, it } from 'vitest';
import { runRanks } from './support/run-ranks.js';

describe('collectives over the CPU backend', () => {
  for (const world of [2, 3]) {
    it(`match the reference with ${world} ranks`, async () => {
      const r = await runRanks('collectives.rank.ts', world);
      expect(r.output.join('\n')).not.toMatch(/Error/);
      expect(r.exitCode).toBe(0);
      for (let rank = 0; rank < world; rank++) expect(r.output[rank]).toContain(`rank ${rank}: collectives ok`);
    }, 120_000);
  }
});
