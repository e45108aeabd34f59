// The fuzz suite: each family of generated cases (test/families) runs in a child process that this
// test watches (test/support/isolated.ts), so a case that crashes or hangs fails the test with the
// seed and the case that replay it instead of taking the runner down. Every case must end in a
// typed error or in a result a reference confirms.
//
// Cases per family: the defaults below (about 3,000 cases in all, for CI); KILN_FUZZ_RUNS=N runs N
// per family, KILN_FUZZ_SEED=S (or 'random') another seed, KILN_FUZZ_PATH=P one case of it.
import { expect, it } from 'vitest';
import { families } from './families/index.js';
import { fuzzSettings, runFamilyIsolated } from './support/isolated.js';

const DEFAULT_RUNS: Record<string, number> = {
  creation: 500, views: 500, elementwise: 400, reduce: 300, copy: 300, indexing: 300, modules: 300, borrowed: 200, stateFile: 600,
};

for (const [name, fam] of Object.entries(families)) {
  const settings = fuzzSettings(DEFAULT_RUNS[name] ?? 200);
  it(`${name}: ${fam.title} (${settings.path ? `case ${settings.path}` : `${settings.runs} cases`}, seed ${settings.seed})`, async () => {
    const r = await runFamilyIsolated(name, settings, 120_000 + settings.runs * 200);
    console.log(`[fuzz] ${name}: ${r.cases} cases in ${(r.ms / 1000).toFixed(1)} s (seed ${settings.seed})`);
    expect(r.cases).toBeGreaterThan(0);
  }, 600_000);
}
