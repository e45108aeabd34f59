/**
 * The Node side of tools/bench/cpu_ops_server.py: one long-lived Python process per thread count
 * that times numpy and PyTorch CPU ops on request, so that a benchmark can interleave Kiln's calls
 * with theirs in one run. Python is /usr/bin/python3 (where Debian's python3-torch installs) unless
 * KILN_BENCH_PYTHON names another; when it or numpy / torch is missing, `start` says so and the
 * benchmark leaves those columns out instead of failing.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface, type Interface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const script = join(dirname(fileURLToPath(import.meta.url)), 'cpu_ops_server.py');

export interface ServerInfo {
  numpy: string | null;
  torch: string | null;
  threads: number;
}

/** A request as cpu_ops_server.py documents it (op, lib, shapes, dtype, reps). */
export type OpRequest = Record<string, unknown> & { op: string };

export class CpuOpsServer {
  private constructor(
    private readonly proc: ChildProcessWithoutNullStreams,
    private readonly lines: AsyncIterator<string>,
    private readonly rl: Interface,
    readonly info: ServerInfo,
  ) {}

  /** Starts a helper on `threads` threads; null (with the reason logged) when Python cannot run it. */
  static async start(threads: number, log: (s: string) => void): Promise<CpuOpsServer | null> {
    const python = process.env.KILN_BENCH_PYTHON ?? (existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3');
    const env = { ...process.env, OMP_NUM_THREADS: String(threads), OPENBLAS_NUM_THREADS: String(threads), MKL_NUM_THREADS: String(threads) };
    const proc = spawn(python, [script], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    proc.stderr.on('data', (d) => { stderr += String(d); });
    const failed = new Promise<null>((resolve) => proc.on('error', (e) => { log(`  (numpy / PyTorch columns left out: cannot run ${python}: ${e.message})`); resolve(null); }));
    const rl = createInterface({ input: proc.stdout });
    const lines = rl[Symbol.asyncIterator]();
    proc.stdin.write(`${JSON.stringify({ op: 'hello' })}\n`);
    const first = await Promise.race([lines.next(), failed]);
    if (!first || first.done) {
      if (first) log(`  (numpy / PyTorch columns left out: ${python} ${script} exited: ${stderr.trim().split('\n').pop() ?? ''})`);
      proc.kill();
      return null;
    }
    const info = JSON.parse(first.value) as ServerInfo;
    if (!info.numpy) log(`  (numpy is not installed for ${python}: its column is left out; apt-get install python3-numpy)`);
    if (!info.torch) log(`  (PyTorch is not installed for ${python}: its column is left out; apt-get install python3-torchvision)`);
    return new CpuOpsServer(proc, lines, rl, info);
  }

  /** Per-call times in ms of the request, or an error message. */
  async time(req: OpRequest): Promise<number[] | string> {
    this.proc.stdin.write(`${JSON.stringify(req)}\n`);
    const r = await this.lines.next();
    if (r.done) return 'the Python helper exited';
    const reply = JSON.parse(r.value) as { ms?: number[]; error?: string };
    return reply.ms ?? reply.error ?? 'no reply';
  }

  close(): void {
    this.rl.close();
    this.proc.stdin.end();
    this.proc.kill();
  }
}
