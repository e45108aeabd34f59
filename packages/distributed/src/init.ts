/**
 * The default process group (PyTorch's init_process_group): who this process is (rank, world
 * size) from the options or the launcher's environment, the store where the ranks meet, and the
 * backend. One default group per process at a time.
 */
import { hostname } from 'node:os';
import { ValueError } from '@kiln/tensor';
import type { BackendName, GroupBackend } from './backend.js';
import { CpuBackend } from './cpu/cpu-backend.js';
import { envInt, isLoopback } from './env.js';
import { DistributedError } from './errors.js';
import { createNcclBackend } from './nccl/nccl-backend.js';
import { ProcessGroup } from './process-group.js';
import { TCPStore } from './store/tcp-store.js';

/** Options of {@link initProcessGroup}; what is left out comes from the launcher's environment. */
export interface InitProcessGroupOptions {
  /** 'cpu' (TCP, CPU tensors; default) or 'nccl' (CUDA tensors, one GPU per process). */
  backend?: BackendName;
  /** This process's rank (default: the RANK environment variable). */
  rank?: number;
  /** The number of processes (default: WORLD_SIZE). */
  worldSize?: number;
  /** Where the store is (default: MASTER_ADDR, else 127.0.0.1). */
  masterAddr?: string;
  /** The store's port (default: MASTER_PORT, else 29500). */
  masterPort?: number;
  /** A store to meet through instead of one at masterAddr:masterPort (not closed by destroyProcessGroup). */
  store?: TCPStore;
  /** Milliseconds a collective, or the setup, may wait before it fails (default 600 000: 10 minutes). */
  timeout?: number;
  /** 'nccl': this rank's GPU (default cuda:LOCAL_RANK, else cuda:0). */
  device?: string;
  /** 'cpu': the address this rank listens on for its ring connection (default: 127.0.0.1 when the store is on the loopback, else this host's name). */
  host?: string;
  /** 'cpu': bytes per chunk of the pipelined ring (default 512 KiB). */
  chunkBytes?: number;
}

let defaultGroup: ProcessGroup | null = null;
let groupsMade = 0;

const usage = (op: string, message: string) => new DistributedError(`${op}: ${message}`, { reason: 'usage', op, rank: -1, waitingFor: '' });

/**
 * Joins the job's default process group, as PyTorch's `init_process_group`: every rank calls it,
 * and it returns once all have joined (or fails after `timeout`). Rank, world size and the store's
 * address come from the options or from the environment `kiln-run` sets (RANK, WORLD_SIZE,
 * MASTER_ADDR, MASTER_PORT, LOCAL_RANK).
 *
 * @example
 * ```ts
 * // kiln-run --nproc-per-node 2 train.ts
 * import { initProcessGroup, allReduce, destroyProcessGroup } from '@kiln/distributed';
 * const group = initProcessGroup({ backend: 'cpu' });
 * const t = tensor([group.rank], { dtype: 'float32' });
 * allReduce(t);                       // t is now [0 + 1]
 * destroyProcessGroup();
 * ```
 */
export function initProcessGroup(options: InitProcessGroupOptions = {}): ProcessGroup {
  const op = 'initProcessGroup';
  if (defaultGroup !== null) throw usage(op, 'the default process group is already initialized (call destroyProcessGroup first)');
  const backend = options.backend ?? 'cpu';
  if (backend !== 'cpu' && backend !== 'nccl') throw new ValueError(op, 'backend', "'cpu' or 'nccl'", String(backend));
  const worldSize = options.worldSize ?? envInt(op, 'WORLD_SIZE', 1);
  if (worldSize === undefined) throw new ValueError(op, 'worldSize', 'the number of processes (or the WORLD_SIZE environment variable, which kiln-run sets)', 'neither');
  if (!Number.isInteger(worldSize) || worldSize < 1) throw new ValueError(op, 'worldSize', 'an integer >= 1', String(worldSize));
  const rank = options.rank ?? envInt(op, 'RANK', 0);
  if (rank === undefined) throw new ValueError(op, 'rank', 'this process\'s rank (or the RANK environment variable, which kiln-run sets)', 'neither');
  if (!Number.isInteger(rank) || rank < 0 || rank >= worldSize) throw new ValueError(op, 'rank', `an integer in [0, ${worldSize})`, String(rank));
  const timeout = options.timeout ?? 600_000;
  if (!(Number.isFinite(timeout) && timeout > 0)) throw new ValueError(op, 'timeout', 'a positive number of milliseconds', String(timeout));
  const chunkBytes = options.chunkBytes ?? 512 * 1024;
  if (!Number.isInteger(chunkBytes) || chunkBytes < 8) throw new ValueError(op, 'chunkBytes', 'an integer >= 8', String(chunkBytes));

  const masterAddr = options.masterAddr ?? process.env.MASTER_ADDR ?? '127.0.0.1';
  const masterPort = options.masterPort ?? envInt(op, 'MASTER_PORT', 1) ?? 29500;
  // kiln-run hosts the store itself (KILN_AGENT_STORE=1); otherwise rank 0 does
  const ownStore = options.store === undefined;
  const store = options.store ?? new TCPStore(masterAddr, masterPort, {
    isServer: rank === 0 && process.env.KILN_AGENT_STORE !== '1', timeout, rank,
  });
  const prefix = `kiln/pg${groupsMade++}`;
  let impl: GroupBackend;
  try {
    if (backend === 'cpu') {
      const host = options.host ?? (isLoopback(masterAddr) ? '127.0.0.1' : hostname());
      impl = new CpuBackend({ store, prefix, rank, world: worldSize, timeoutMs: timeout, host, chunkBytes });
    } else {
      impl = createNcclBackend({ store, prefix, rank, world: worldSize, timeoutMs: timeout, device: options.device });
    }
    // every rank has joined before any returns (PyTorch's store-based barrier)
    if (store.add(`${prefix}/joined`, 1) === worldSize) store.set(`${prefix}/all-joined`, '1');
    try {
      store.wait([`${prefix}/all-joined`], timeout);
    } catch (e) {
      impl.abort('initProcessGroup did not complete');
      throw e;
    }
  } catch (e) {
    if (ownStore) store.close();
    throw e;
  }
  defaultGroup = new ProcessGroup(impl, rank, worldSize, () => {
    if (ownStore) store.close();
    defaultGroup = null;
  });
  return defaultGroup;
}

/** True once initProcessGroup has run (and destroyProcessGroup has not). */
export function isInitialized(): boolean {
  return defaultGroup !== null;
}

/** The default process group; a DistributedError before initProcessGroup. */
export function defaultProcessGroup(op = 'defaultProcessGroup'): ProcessGroup {
  if (defaultGroup === null) throw usage(op, 'the default process group is not initialized (call initProcessGroup first)');
  return defaultGroup;
}

/** This process's rank in the default group. */
export function getRank(): number {
  return defaultProcessGroup('getRank').rank;
}

/** The number of processes in the default group. */
export function getWorldSize(): number {
  return defaultProcessGroup('getWorldSize').size;
}

/** Leaves the default process group: closes its connections and its store. */
export function destroyProcessGroup(): void {
  defaultProcessGroup('destroyProcessGroup').destroy();
}
