/**
 * `TCPStore`: a small key-value store over TCP that the processes of a job share (PyTorch's
 * TCPStore): the rendezvous of `initProcessGroup` exchanges addresses and NCCL's unique id
 * through it. One process hosts the server (rank 0, or the launcher); every process connects as a
 * client. The calls block, as PyTorch's do; the sockets live on a thread of their own, so a host
 * that blocks still serves the others.
 */
import { ValueError } from '@kiln/tensor';
import { DistributedError, type DistributedFailure } from '../errors.js';
import { siblingModule } from '../thread/start-worker.js';
import { type Reply, WorkerLink } from '../thread/worker-link.js';

/** Options of a {@link TCPStore}. */
export interface TCPStoreOptions {
  /** Host the server in this process (default false: connect to one). */
  isServer?: boolean;
  /** Milliseconds a call (and connecting) may wait (default 300 000, as PyTorch's). */
  timeout?: number;
  /** The rank using the store, for error messages (default: none). */
  rank?: number;
}

/** How long the main thread waits past a call's own timeout before it gives up on the store's thread. */
const THREAD_GRACE_MS = 5000;

const encoder = new TextEncoder();

/**
 * A key-value store shared by the processes of a job, as PyTorch's `TCPStore`: `set`, `get` (waits
 * until the key exists), `add` (an atomic counter), `wait`, `check`, `deleteKey`, with timeouts
 * that end in a {@link DistributedError}.
 *
 * @example
 * ```ts
 * const server = new TCPStore('127.0.0.1', 0, { isServer: true });     // port 0: any free port
 * const client = new TCPStore('127.0.0.1', server.port);
 * client.set('greeting', 'hello');
 * new TextDecoder().decode(server.get('greeting'));                  // 'hello'
 * server.add('arrived', 1);                                           // 1
 * client.close(); server.close();
 * ```
 */
export class TCPStore {
  /** The server's host. */
  readonly host: string;
  /** The server's port (the one the system chose, when hosting with port 0). */
  readonly port: number;
  /** Milliseconds a call may wait. */
  readonly timeout: number;
  private readonly link: WorkerLink;
  private readonly replies = new Map<number, Reply>();
  private nextId = 1;
  private closed = false;
  private readonly who: string;
  private readonly rank: number;
  private readonly requestedPort: number;

  /** Connects to the store at host:port, hosting it first when `isServer`; blocks until connected. */
  constructor(host: string, port: number, options: TCPStoreOptions = {}) {
    if (typeof host !== 'string' || host === '') throw new ValueError('TCPStore', 'host', 'a host name or address', String(host));
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ValueError('TCPStore', 'port', 'an integer port in [0, 65535]', String(port));
    const timeout = options.timeout ?? 300_000;
    if (!(Number.isFinite(timeout) && timeout > 0)) throw new ValueError('TCPStore', 'timeout', 'a positive number of milliseconds', String(timeout));
    const isServer = options.isServer ?? false;
    if (!isServer && port === 0) throw new ValueError('TCPStore', 'port', 'the server\'s port (0 only when hosting the server)', '0');
    this.host = host;
    this.timeout = timeout;
    this.rank = options.rank ?? -1;
    this.requestedPort = port;
    this.who = options.rank === undefined ? '' : `rank ${options.rank}, `;
    let ready = null as { port?: number; error?: Reply['error'] } | null;
    this.link = new WorkerLink(siblingModule(import.meta.url, 'store-worker'), { host, port, isServer, timeoutMs: timeout });
    this.link.onMessage = (m) => {
      const msg = m as Reply & { event?: string; port?: number };
      if (msg.event === 'ready') ready = { port: msg.port! };
      else if (msg.event === 'failed') ready = { error: msg.error };
      else this.replies.set(msg.id, msg);
    };
    if (!this.link.waitUntil(() => ready !== null, performance.now() + timeout + THREAD_GRACE_MS)) {
      this.link.terminate();
      throw this.error('connect', 'timeout', `its thread did not start within ${timeout + THREAD_GRACE_MS} ms`, 'the store thread to start');
    }
    const r = ready!;
    if (r.error) {
      this.link.terminate();
      throw this.error('connect', r.error.reason as DistributedFailure, r.error.message, 'the store');
    }
    this.port = r.port!;
  }

  /** Sets `key` to `value` (a string is stored as UTF-8). */
  set(key: string, value: string | Uint8Array): void {
    const bytes = typeof value === 'string' ? encoder.encode(value) : value;
    if (!(bytes instanceof Uint8Array)) throw new ValueError('TCPStore.set', 'value', 'a string or a Uint8Array', String(value));
    this.call('set', { key: checkKey('set', key), value: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64') });
  }

  /** The value of `key`, waiting until some process sets it (at most `timeout` ms). */
  get(key: string, timeout?: number): Uint8Array {
    const b64 = this.call('get', { key: checkKey('get', key) }, timeout) as string;
    return new Uint8Array(Buffer.from(b64, 'base64'));
  }

  /** Adds `amount` to the integer at `key` (0 when unset) and returns the new value, atomically. */
  add(key: string, amount: number): number {
    if (!Number.isSafeInteger(amount)) throw new ValueError('TCPStore.add', 'amount', 'an integer', String(amount));
    return this.call('add', { key: checkKey('add', key), amount }) as number;
  }

  /** Waits until every key in `keys` is set (at most `timeout` ms). */
  wait(keys: readonly string[], timeout?: number): void {
    this.call('wait', { keys: keys.map((k) => checkKey('wait', k)) }, timeout);
  }

  /** True when every key in `keys` is set (does not wait). */
  check(keys: readonly string[]): boolean {
    return this.call('check', { keys: keys.map((k) => checkKey('check', k)) }) as boolean;
  }

  /** Removes `key`; true when it existed. */
  deleteKey(key: string): boolean {
    return this.call('delete', { key: checkKey('deleteKey', key) }) as boolean;
  }

  /** The number of keys set. */
  numKeys(): number {
    return this.call('numKeys', {}) as number;
  }

  /** Closes the connection (and the server, when this process hosts it). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.link.post({ close: true });
    setTimeout(() => this.link.terminate(), 1000).unref();
  }

  private call(op: string, fields: Record<string, unknown>, timeout = this.timeout): unknown {
    const name = op === 'delete' ? 'deleteKey' : op;
    if (this.closed) throw this.error(name, 'usage', 'the store was closed', '');
    if (!(Number.isFinite(timeout) && timeout > 0)) throw new ValueError(`TCPStore.${name}`, 'timeout', 'a positive number of milliseconds', String(timeout));
    const id = this.nextId++;
    this.link.post({ id, op, timeoutMs: timeout, ...fields });
    if (!this.link.waitUntil(() => this.replies.has(id), performance.now() + timeout + THREAD_GRACE_MS)) {
      throw this.error(name, 'timeout', `the store's thread did not answer within ${timeout + THREAD_GRACE_MS} ms${this.link.gone ? ` (${this.link.gone})` : ''}`, 'the store thread');
    }
    const r = this.replies.get(id)!;
    this.replies.delete(id);
    if (r.error) throw this.error(name, r.error.reason as DistributedFailure, r.error.message, r.error.waitingFor ?? '', fields.key as string | undefined);
    return r.result;
  }

  private error(op: string, reason: DistributedFailure, message: string, waitingFor: string, key?: string): DistributedError {
    const call = `TCPStore.${op}${key === undefined ? '' : `('${key}')`}`;
    return new DistributedError(`${call} (${this.who}store at ${this.host}:${this.port ?? this.requestedPort}): ${message}`, { reason, op: `TCPStore.${op}`, rank: this.rank, waitingFor });
  }
}

function checkKey(op: string, key: unknown): string {
  if (typeof key !== 'string' || key === '') throw new ValueError(`TCPStore.${op}`, 'key', 'a non-empty string', String(key));
  return key;
}
