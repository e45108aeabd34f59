/**
 * The launcher (torchrun's role, for one machine): starts one process per rank with the
 * environment initProcessGroup reads, hosts the store they meet through, forwards signals, and
 * tears every rank down when one fails, so that a job never hangs on a dead rank: the others get
 * SIGTERM, then SIGKILL after a grace period, and the launcher exits with the failed rank's status
 * and a message naming it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { ValueError } from '@kiln/tensor';
import { startStoreServer } from '../store/store-server.js';

/** Options of {@link launch}. */
export interface LaunchOptions {
  /** Processes (ranks) to start on this machine: one per GPU with NCCL. */
  nprocPerNode: number;
  /** The script each rank runs (TypeScript runs through tsx). */
  script: string;
  /** Arguments of the script. */
  args?: readonly string[];
  /** The store's address (default 127.0.0.1). */
  masterAddr?: string;
  /** The store's port (default 0: a free port the system chooses). */
  masterPort?: number;
  /** Node.js options for every rank, before the script (kiln-run passes its own on too). */
  nodeArgs?: readonly string[];
  /** Environment variables added to every rank's. */
  env?: Readonly<Record<string, string>>;
  /** Milliseconds between SIGTERM and SIGKILL when ranks are torn down (default 5000). */
  killTimeout?: number;
  /** Where the launcher's own messages go (default: standard error). */
  log?: (message: string) => void;
  /** Receives each rank's standard output and error (default: the ranks write to the launcher's own). */
  onOutput?: (rank: number, text: string) => void;
}

/** How a launch ended. */
export interface LaunchResult {
  /** 0 when every rank exited 0; else the failed rank's exit status (128 + signal number when killed). */
  exitCode: number;
  /** The first rank that failed, or null. */
  failedRank: number | null;
  /** Why the launch failed ('' when it did not). */
  message: string;
}

/** Keeps NVLink multicast off in every rank (shared machines: see docs/distributed.md). */
export const MULTICAST_OFF: Readonly<Record<string, string>> = {
  NCCL_NVLS_ENABLE: '0', TORCH_SYMM_MEM_DISABLE_MULTICAST: '1', NVSHMEM_DISABLE_NVLS: '1',
};

const SIGNAL_NUMBERS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGSEGV: 11, SIGPIPE: 13, SIGTERM: 15, SIGABRT: 6 };
const isTypeScript = (f: string) => /\.(ts|mts|cts)$/.test(f);

/** The Node.js options a rank runs with: the given ones, and tsx for a TypeScript script. */
export function rankNodeArgs(script: string, nodeArgs: readonly string[]): string[] {
  const args = [...nodeArgs];
  const hasTsx = args.some((a, i) => a === 'tsx' && (args[i - 1] === '--import' || args[i - 1] === '--loader')) || args.some((a) => /^--(import|loader)=tsx$/.test(a));
  if (isTypeScript(script) && !hasTsx) args.push('--import', 'tsx');
  return args;
}

/**
 * Runs `script` in `nprocPerNode` processes, ranks 0..n-1, and resolves when all have exited (or
 * were torn down after one failed).
 *
 * @example
 * ```ts
 * const { exitCode, message } = await launch({ nprocPerNode: 2, script: 'train.ts', args: ['--epochs', '3'] });
 * if (exitCode !== 0) console.error(message);
 * ```
 */
export async function launch(o: LaunchOptions): Promise<LaunchResult> {
  const n = o.nprocPerNode;
  if (!Number.isInteger(n) || n < 1) throw new ValueError('launch', 'nprocPerNode', 'an integer >= 1', String(n));
  if (typeof o.script !== 'string' || o.script === '') throw new ValueError('launch', 'script', 'the path of a script', String(o.script));
  const killTimeout = o.killTimeout ?? 5000;
  const log = o.log ?? ((m: string) => process.stderr.write(`${m}\n`));
  const masterAddr = o.masterAddr ?? '127.0.0.1';
  const store = await startStoreServer(masterAddr, o.masterPort ?? 0);
  const nodeArgs = rankNodeArgs(o.script, o.nodeArgs ?? []);

  const children: (ChildProcess | null)[] = [];
  const exited = new Array<boolean>(n).fill(false);
  let failedRank: number | null = null;
  let exitCode = 0;
  let message = '';
  let tearingDown = false;
  let killTimer: NodeJS.Timeout | null = null;

  const signalAll = (sig: NodeJS.Signals) => {
    children.forEach((c, r) => {
      if (c?.pid === undefined || exited[r]) return;
      try {
        process.kill(-c.pid, sig);   // the rank's whole process group (its own children too)
      } catch {
        // already gone
      }
    });
  };
  const tearDown = (sig: NodeJS.Signals) => {
    if (tearingDown) return;
    tearingDown = true;
    signalAll(sig);
    killTimer = setTimeout(() => signalAll('SIGKILL'), killTimeout);
    killTimer.unref();
  };

  const forwarded: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  const onSignal = (sig: NodeJS.Signals) => {
    if (failedRank === null) {
      exitCode = 128 + (SIGNAL_NUMBERS[sig] ?? 0);
      message = `kiln-run: received ${sig}; stopping every rank`;
      log(message);
    }
    tearDown(sig);
  };
  for (const s of forwarded) process.on(s, onSignal);

  try {
    await new Promise<void>((resolve) => {
      let left = n;
      for (let rank = 0; rank < n; rank++) {
        const env = {
          ...MULTICAST_OFF, ...process.env, ...o.env,
          RANK: String(rank), LOCAL_RANK: String(rank), WORLD_SIZE: String(n), LOCAL_WORLD_SIZE: String(n), GROUP_RANK: '0',
          MASTER_ADDR: masterAddr, MASTER_PORT: String(store.port), KILN_AGENT_STORE: '1',
        };
        const onOutput = o.onOutput;
        const child = spawn(process.execPath, [...nodeArgs, o.script, ...(o.args ?? [])], { env, stdio: onOutput ? ['ignore', 'pipe', 'pipe'] : 'inherit', detached: true });
        if (onOutput) {
          child.stdout!.on('data', (d: Buffer) => onOutput(rank, d.toString('utf8')));
          child.stderr!.on('data', (d: Buffer) => onOutput(rank, d.toString('utf8')));
        }
        children.push(child);
        const done = (code: number | null, signal: NodeJS.Signals | null, spawnError?: Error) => {
          if (exited[rank]) return;
          exited[rank] = true;
          const status = spawnError ? 1 : code ?? 128 + (signal ? SIGNAL_NUMBERS[signal] ?? 0 : 0);
          if (status !== 0 && failedRank === null && !tearingDown) {
            failedRank = rank;
            exitCode = status;
            const how = spawnError ? `could not start (${spawnError.message})` : signal ? `was killed by ${signal}` : `exited with code ${code ?? 'unknown'}`;
            message = `kiln-run: rank ${rank} (pid ${child.pid ?? '?'}) ${how}; stopping the other ranks`;
            log(message);
            tearDown('SIGTERM');
          }
          if (--left === 0) resolve();
        };
        child.on('close', (code: number | null, signal: NodeJS.Signals | null) => done(code, signal));   // after its output is read
        child.on('error', (e) => done(null, null, e));
      }
    });
  } finally {
    for (const s of forwarded) process.off(s, onSignal);
    if (killTimer) clearTimeout(killTimer);
    await store.close();
  }
  return { exitCode, failedRank, message };
}
