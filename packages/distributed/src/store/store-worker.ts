/**
 * The store's communication thread: hosts the server when this process is the store's host, and
 * keeps this process's client connection, so that the store answers others while the main thread
 * blocks. Requests from the main thread are forwarded to the server; each has its own timeout.
 */
import { type Socket, connect } from 'node:net';
import { parentPort, workerData } from 'node:worker_threads';
import { type LinkData, notifyMain } from '../thread/worker-link.js';
import { type StoreReply, type StoreRequest, readMessages, sendMessage } from './store-protocol.js';
import { startStoreServer } from './store-server.js';

interface Data {
  link: LinkData;
  host: string;
  port: number;
  isServer: boolean;
  timeoutMs: number;
}

/** A request of the main thread: the store request plus its own timeout. */
type MainRequest = StoreRequest & { timeoutMs: number };

const { link, host, port, isServer, timeoutMs } = workerData as Data;
const pending = new Map<number, { timer: NodeJS.Timeout }>();
let socket: Socket | null = null;
let closedWhy: string | null = null;

const fail = (id: number, reason: string, message: string) => notifyMain(link, { id, error: { reason, message } });

/** Every pending request fails: the connection to the server is gone. */
function lost(why: string): void {
  if (closedWhy !== null) return;
  closedWhy = why;
  for (const [id, p] of pending) {
    clearTimeout(p.timer);
    fail(id, 'peer-closed', why);
  }
  pending.clear();
}

function connectWithRetries(actualPort: number, deadline: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const s = connect({ host, port: actualPort });
      s.once('connect', () => { s.removeAllListeners('error'); resolve(s); });
      s.once('error', (e: NodeJS.ErrnoException) => {
        s.destroy();
        if (Date.now() >= deadline) reject(new Error(`timed out after ${timeoutMs} ms connecting to the store at ${host}:${actualPort} (last error: ${e.code ?? e.message})`));
        else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}

async function start(): Promise<void> {
  let actualPort = port;
  let server: Awaited<ReturnType<typeof startStoreServer>> | null = null;
  try {
    if (isServer) {
      server = await startStoreServer(host, port);
      actualPort = server.port;
    }
    socket = await connectWithRetries(actualPort, Date.now() + timeoutMs);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const reason = err.code === 'EADDRINUSE' || err.code === 'EACCES' || err.code === 'EADDRNOTAVAIL' ? 'usage' : 'timeout';
    const message = err.code === 'EADDRINUSE' ? `the store cannot listen on ${host}:${port}: the port is in use` : err.message;
    notifyMain(link, { event: 'failed', error: { reason, message } });
    return;
  }
  socket.setNoDelay(true);
  socket.on('error', () => {});
  socket.on('close', () => lost(`the store at ${host}:${actualPort} closed the connection (the process hosting it exited or closed it)`));
  readMessages(socket, (m) => {
    const r = m as StoreReply;
    const p = pending.get(r.id);
    if (!p) return;                                  // answered after its timeout
    clearTimeout(p.timer);
    pending.delete(r.id);
    if (r.error !== undefined) fail(r.id, 'usage', r.error);
    else notifyMain(link, { id: r.id, result: r.result });
  }, (why) => lost(`the store at ${host}:${actualPort} sent ${why}`));
  parentPort!.on('message', (m: MainRequest | { close: true }) => {
    if ('close' in m) {
      socket?.end();
      void server?.close();
      parentPort!.close();
      return;
    }
    if (closedWhy !== null) return fail(m.id, 'peer-closed', closedWhy);
    const timer = setTimeout(() => {
      pending.delete(m.id);
      const what = m.op === 'get' ? `key '${m.key ?? ''}' to be set` : m.op === 'wait' ? `keys ${m.keys!.map((k) => `'${k}'`).join(', ')} to be set` : 'the store to answer';
      notifyMain(link, { id: m.id, error: { reason: 'timeout', message: `timed out after ${m.timeoutMs} ms waiting for ${what}`, waitingFor: what } });
    }, m.timeoutMs);
    pending.set(m.id, { timer });
    const { timeoutMs: _t, ...request } = m;
    sendMessage(socket!, request);
  });
  notifyMain(link, { event: 'ready', port: actualPort });
}

void start();
