/**
 * Kiln and PyTorch interleaved, on the CPU or a GPU: the twin runs as a server (retinanet_twin.py
 * --serve, one JSON line per request) and each round times one Kiln step, then one PyTorch step, so
 * that a shared machine's load (or a GPU machine's host that is slower at one moment than another)
 * falls on both alike. On the CPU each condition (a thread count, idle or with a competing process
 * spinning on one core) runs its own rounds.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { cpuThreads } from '@kiln/tensor';
import { type StepSetup, trainStep } from './kiln-step.js';

/** One condition's medians. */
export interface InterleavedRow {
  /** the thread count asked for (0: each side's default) and what each side ran with */
  threads: number;
  kilnThreads: number;
  torchThreads: number | null;
  load: 'idle' | 'busy';
  kilnMs: number;
  torchMs: number | null;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** A line-protocol client of the twin's --serve mode. */
class TwinServer {
  private readonly lines: AsyncIterableIterator<string>;
  private readonly child: ChildProcess;
  stderr = '';
  constructor(python: string, args: string[]) {
    this.child = spawn(python, ['tools/bench/retinanet_twin.py', '--serve', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stderr!.on('data', (d) => { this.stderr += String(d); });
    this.child.stdin!.on('error', () => {});   // a server that could not start (no PyTorch) closed its end
    this.lines = createInterface({ input: this.child.stdout! })[Symbol.asyncIterator]();
  }
  async next(): Promise<Record<string, unknown> | null> {
    const r = await this.lines.next();
    return r.done ? null : (JSON.parse(r.value) as Record<string, unknown>);
  }
  async request(req: object): Promise<Record<string, unknown> | null> {
    this.child.stdin!.write(`${JSON.stringify(req)}\n`);
    return this.next();
  }
  close(): void {
    if (this.child.exitCode === null) this.child.stdin!.end('quit\n');
  }
}

/** A process that keeps one core busy until stopped (the "busy" condition). */
function competitor(): ChildProcess {
  return spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' });
}

/**
 * Runs the conditions: for each thread count and load, `rounds` rounds of one Kiln step and one
 * PyTorch step (after a warm-up round), both in `precision` (bf16: autocast, the setup's own).
 * `twinArgs` tell the server where the exported data is; when the twin cannot start (no PyTorch),
 * the PyTorch column is null and `twinError` says why.
 */
export async function interleaved(setup: StepSetup, preset: string, opts: { threads: number[]; loads: ('idle' | 'busy')[]; rounds: number; python: string; precision: 'float32' | 'bf16'; twinArgs: string[] }): Promise<{ rows: InterleavedRow[]; torch: string | null; twinError: string | null; check: string | null }> {
  const server = new TwinServer(opts.python, opts.twinArgs);
  const hello = await server.next();
  const twinError = hello === null ? (server.stderr.trim() || 'the twin server ended before it was ready') : null;
  const defaultKiln = cpuThreads();
  const rows: InterleavedRow[] = [];
  try {
    for (const load of opts.loads) {
      const busy = load === 'busy' ? competitor() : null;
      try {
        for (const t of opts.threads) {
          cpuThreads(t || defaultKiln);
          const kiln: number[] = [], torch: number[] = [];
          let torchThreads: number | null = null;
          for (let r = 0; r <= opts.rounds; r++) {
            const t0 = performance.now();
            trainStep(setup);
            const k = performance.now() - t0;
            const reply = twinError ? null : await server.request({ preset, mode: 'eager', precision: opts.precision, threads: t, steps: 1 });
            if (r === 0) continue;   // warm-up round
            kiln.push(k);
            if (reply) {
              torch.push((reply.hostMs as number[])[0]);
              torchThreads = reply.threads as number;
            }
          }
          rows.push({ threads: t, kilnThreads: cpuThreads(), torchThreads, load, kilnMs: median(kiln), torchMs: torch.length ? median(torch) : null });
        }
      } finally {
        busy?.kill();
      }
    }
  } finally {
    cpuThreads(defaultKiln);
    server.close();
  }
  const checks = ((hello?.checks ?? []) as { relErrCls?: number; relErrBox?: number }[]).filter((c) => c.relErrCls !== undefined);
  const check = checks.length ? `losses at the initial weights agree: relative difference ${checks.map((c) => `${c.relErrCls!.toExponential(1)} / ${c.relErrBox!.toExponential(1)}`).join(', ')}` : null;
  return { rows, torch: hello ? String(hello.torch) : null, twinError, check };
}

/** The interleaved rows as a Markdown table. */
export function interleavedTable(rows: readonly InterleavedRow[], header: string[]): string {
  const f = (v: number | null) => (v === null ? '–' : v.toFixed(2));
  return [
    ...header,
    '',
    '| threads asked | Kiln threads | PyTorch threads | machine | Kiln ms | PyTorch eager ms | Kiln / PyTorch |',
    '|---:|---:|---:|---|---:|---:|---:|',
    ...rows.map((r) => `| ${r.threads || 'default'} | ${r.kilnThreads} | ${r.torchThreads ?? '–'} | ${r.load === 'busy' ? 'one competing process' : 'no extra process'} | ${f(r.kilnMs)} | ${f(r.torchMs)} | ${r.torchMs ? `${(r.kilnMs / r.torchMs).toFixed(2)}×` : '–'} |`),
  ].join('\n');
}
