// DistributedDataParallel across processes: after each step every rank's parameters are identical
// and equal to one process's step on the whole batch; noSync accumulation; unused parameters.
import { describe, expect, it } from 'vitest';
import { runRanks } from './support/run-ranks.js';

describe('DistributedDataParallel over the CPU backend', () => {
  for (const world of [2, 4]) {
    it(`steps as one process on the whole batch with ${world} ranks`, async () => {
      const r = await runRanks('ddp-step.rank.ts', world);
      expect(r.output.join('\n')).not.toMatch(/Error:/);
      expect(r.exitCode).toBe(0);
      for (let rank = 0; rank < world; rank++) expect(r.output[rank]).toContain(`rank ${rank}: ddp ok`);
    }, 120_000);
  }
});
