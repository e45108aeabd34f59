/**
 * The key-value store's server (PyTorch's TCPStore server): keys set by one process, read by others,
 * with blocking reads (`get` and `wait` answer once the keys exist) and atomic counters (`add`). It
 * runs on an event loop that never blocks: a communication thread of rank 0, or the launcher.
 */
import { type AddressInfo, type Server, type Socket, createServer } from 'node:net';
import { type StoreReply, type StoreRequest, readMessages, sendMessage } from './store-protocol.js';

/** A running server. */
export interface StoreServer {
  /** The port it listens on (the one asked for, or the one the system chose for port 0). */
  readonly port: number;
  /** Stops listening and closes every client connection. */
  close(): Promise<void>;
}

interface Waiter {
  socket: Socket;
  keys: string[];
  reply: () => void;
}

/** Starts a store server on host:port (port 0: any free port). */
export function startStoreServer(host: string, port: number): Promise<StoreServer> {
  const data = new Map<string, Buffer>();
  let waiters: Waiter[] = [];
  const clients = new Set<Socket>();

  const answerWaiters = () => {
    const still: Waiter[] = [];
    for (const w of waiters) {
      if (w.keys.every((k) => data.has(k))) w.reply();
      else still.push(w);
    }
    waiters = still;
  };

  const handle = (socket: Socket, r: StoreRequest) => {
    const reply = (m: Omit<StoreReply, 'id'>) => { if (!socket.destroyed) sendMessage(socket, { id: r.id, ...m }); };
    const key = String(r.key ?? '');
    switch (r.op) {
      case 'set':
        data.set(key, Buffer.from(r.value ?? '', 'base64'));
        reply({ result: true });
        answerWaiters();
        break;
      case 'get':
      case 'wait': {
        const keys = r.op === 'get' ? [key] : (r.keys ?? []).map(String);
        const answer = () => reply({ result: r.op === 'get' ? data.get(key)!.toString('base64') : true });
        if (keys.every((k) => data.has(k))) answer();
        else waiters.push({ socket, keys, reply: answer });
        break;
      }
      case 'add': {
        const old = data.has(key) ? Number(data.get(key)!.toString('utf8')) : 0;
        if (!Number.isSafeInteger(old)) {
          reply({ error: `add: the value of '${key}' is not an integer` });
          break;
        }
        const next = old + Number(r.amount ?? 0);
        data.set(key, Buffer.from(String(next), 'utf8'));
        reply({ result: next });
        answerWaiters();
        break;
      }
      case 'check':
        reply({ result: (r.keys ?? []).every((k) => data.has(String(k))) });
        break;
      case 'delete':
        reply({ result: data.delete(key) });
        break;
      case 'numKeys':
        reply({ result: data.size });
        break;
      default:
        reply({ error: `unknown store operation '${String((r as { op?: unknown }).op)}'` });
    }
  };

  const server: Server = createServer((socket) => {
    socket.setNoDelay(true);
    clients.add(socket);
    socket.on('close', () => {
      clients.delete(socket);
      waiters = waiters.filter((w) => w.socket !== socket);
    });
    socket.on('error', () => socket.destroy());
    readMessages(socket, (m) => handle(socket, m as StoreRequest), () => {});
  });

  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve({
        port: (server.address() as AddressInfo).port,
        close: () => new Promise<void>((done) => {
          for (const c of clients) c.destroy();
          server.close(() => done());
        }),
      });
    });
  });
}
