#!/usr/bin/env node
/**
 * kiln-run: starts a data-parallel job on this machine, as torchrun.
 *
 *   kiln-run --nproc-per-node 4 train.ts --epochs 3
 */
import { launch } from './launch.js';

const USAGE = `Usage: kiln-run [options] script [script arguments]
  --nproc-per-node <n>    processes (ranks) to start: one per GPU with the nccl backend (default 1)
  --master-addr <host>    the address of the store the ranks meet through (default 127.0.0.1)
  --master-port <port>    its port (default: a free port)
  --kill-timeout <ms>     grace between SIGTERM and SIGKILL when ranks are stopped (default 5000)
  --node-arg <option>     a Node.js option for every rank (repeatable), e.g. --node-arg=--expose-gc
  --help
Each rank gets RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, MASTER_ADDR and MASTER_PORT (read by
initProcessGroup) and NCCL_NVLS_ENABLE=0 (NVLink multicast off) unless set. When a rank fails, the
others are stopped and kiln-run exits with its status.`;

function fail(message: string): never {
  process.stderr.write(`kiln-run: ${message}\n(kiln-run --help lists the options)\n`);
  process.exit(2);
}

function parse(argv: string[]) {
  const o = { nproc: 1, masterAddr: '127.0.0.1', masterPort: 0, killTimeout: 5000, nodeArgs: [] as string[], script: '', args: [] as string[] };
  const int = (name: string, v: string | undefined, min: number) => {
    const n = Number(v);
    if (v === undefined || !Number.isInteger(n) || n < min) fail(`--${name}: expected an integer >= ${min}, got ${v ?? 'nothing'}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) {
      o.script = a;
      o.args = argv.slice(i + 1);
      return o;
    }
    const eq = a.indexOf('=');
    const name = eq < 0 ? a.slice(2) : a.slice(2, eq);
    const value = () => (eq < 0 ? argv[++i] : a.slice(eq + 1));
    switch (name) {
      case 'help': console.log(USAGE); return process.exit(0);
      case 'nproc-per-node': o.nproc = int(name, value(), 1); break;
      case 'master-addr': o.masterAddr = value() ?? fail('--master-addr needs a value'); break;
      case 'master-port': o.masterPort = int(name, value(), 0); break;
      case 'kill-timeout': o.killTimeout = int(name, value(), 0); break;
      case 'node-arg': o.nodeArgs.push(value() ?? fail('--node-arg needs a value')); break;
      default: fail(`unknown option ${a}`);
    }
  }
  return fail('no script given');
}

const o = parse(process.argv.slice(2));
const r = await launch({
  nprocPerNode: o.nproc, script: o.script, args: o.args, masterAddr: o.masterAddr, masterPort: o.masterPort,
  nodeArgs: [...process.execArgv, ...o.nodeArgs], killTimeout: o.killTimeout,
});
process.exitCode = r.exitCode;
