/**
 * Runs a fuzz family in a child process and watches it: a case that crashes the process (a signal,
 * an abort) or hangs (no progress within the time limit) cannot take the test runner down, and the
 * report names the seed and the case to replay it:
 *
 *   KILN_FUZZ_SEED=<seed> KILN_FUZZ_PATH=<case> npx vitest run packages/fuzz-check -t '<family>'
 *
 * Case counts and the seed come from the environment: KILN_FUZZ_RUNS (cases per family, default
 * per family below), KILN_FUZZ_SEED (default 14, so CI runs the same cases; 'random' draws one),
 * KILN_FUZZ_PATH (replays one case of the seed), KILN_FUZZ_PRINT=1 (prints each case's input).
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const RUNNER = fileURLToPath(new URL('./run-family.ts', import.meta.url));

export interface FuzzSettings {
  seed: number;
  runs: number;
  path: string | undefined;
}

/** The run's settings: the family's default case count unless KILN_FUZZ_RUNS says otherwise. */
export function fuzzSettings(defaultRuns: number): FuzzSettings {
  const s = process.env.KILN_FUZZ_SEED;
  const seed = s === undefined || s === '' ? 14 : s === 'random' ? Math.floor(Math.random() * 2 ** 31) : Number(s);
  const runs = process.env.KILN_FUZZ_RUNS ? Number(process.env.KILN_FUZZ_RUNS) : defaultRuns;
  return { seed, runs, path: process.env.KILN_FUZZ_PATH || undefined };
}

export interface FamilyResult {
  /** Cases run. */
  cases: number;
  /** Wall time of the child process, ms. */
  ms: number;
}

/** Runs `family` in a child process; rejects with a replayable description of any defect. */
export function runFamilyIsolated(family: string, settings: FuzzSettings, timeoutMs: number): Promise<FamilyResult> {
  const { seed, runs, path } = settings;
  const args = ['--conditions=@kiln/source', '--import', 'tsx', RUNNER, family, String(seed), String(runs), ...(path ? [path] : [])];
  const replay = (c: string) => `KILN_FUZZ_SEED=${seed} KILN_FUZZ_PATH=${c} KILN_FUZZ_PRINT=1 npx vitest run packages/fuzz-check -t '${family}'`;
  const start = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '', timedOut = false;
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      const ms = Date.now() - start;
      const done = /done (\d+)/.exec(out);
      const fail = /fail (.*)/.exec(out);
      if (code === 0 && done) return resolve({ cases: Number(done[1]), ms });
      if (fail) return reject(new Error(`${family}: a case failed its check (seed ${seed}):\n${JSON.parse(fail[1])}`));
      const lastCase = [...out.matchAll(/case (\d+)/g)].at(-1)?.[1] ?? 'none';
      const how = timedOut ? `hung (no end within ${timeoutMs} ms)` : `died (exit code ${code ?? 'none'}, signal ${signal ?? 'none'})`;
      reject(new Error(`${family}: the process ${how} in case ${lastCase} (seed ${seed}); replay: ${replay(lastCase)}\n${err.slice(-2000)}`));
    });
  });
}
