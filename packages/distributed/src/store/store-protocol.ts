/**
 * The store's wire format: each message is a 4-byte big-endian length and that many bytes of JSON.
 * Values travel as base64 (the store holds small things: addresses, counters, NCCL's unique id).
 */
import type { Socket } from 'node:net';

/** A request from a client: `id` pairs it with its reply. */
export interface StoreRequest {
  id: number;
  op: 'set' | 'get' | 'add' | 'check' | 'wait' | 'delete' | 'numKeys';
  key?: string;
  keys?: string[];
  /** base64 */
  value?: string;
  amount?: number;
}

/** The server's answer to request `id`. */
export interface StoreReply {
  id: number;
  /** base64 of a value (get), a number (add, numKeys) or a boolean (check, delete) */
  result?: string | number | boolean;
  error?: string;
}

/** Largest message accepted: a larger length prefix means a stray or broken connection. */
const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

/** Writes one message. */
export function sendMessage(socket: Socket, message: StoreRequest | StoreReply): void {
  const body = Buffer.from(JSON.stringify(message), 'utf8');
  const head = Buffer.allocUnsafe(4);
  head.writeUInt32BE(body.length, 0);
  socket.write(Buffer.concat([head, body]));
}

/**
 * Calls `onMessage` with each whole message read from `socket`; `onBad` once when the stream is not
 * this protocol (the socket is then destroyed).
 */
export function readMessages(socket: Socket, onMessage: (m: unknown) => void, onBad: (why: string) => void): void {
  let pending: Buffer = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    while (pending.length >= 4) {
      const n = pending.readUInt32BE(0);
      if (n > MAX_MESSAGE_BYTES) {
        onBad(`a message of ${n} bytes (at most ${MAX_MESSAGE_BYTES})`);
        socket.destroy();
        return;
      }
      if (pending.length < 4 + n) break;
      let m: unknown;
      try {
        m = JSON.parse(pending.subarray(4, 4 + n).toString('utf8'));
      } catch {
        onBad('a message that is not JSON');
        socket.destroy();
        return;
      }
      pending = pending.subarray(4 + n);
      onMessage(m);
    }
  });
}
