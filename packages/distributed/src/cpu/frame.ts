/**
 * The CPU backend's wire format on the ring connections. Each frame is a 32-byte header and a
 * payload: a chunk of a collective's data, or (kind abort) the message of a rank that failed. The
 * header repeats what both ends must agree on (which collective, its sequence number, dtype,
 * reduction and size), so ranks that call different collectives, or the same one with different
 * tensors, get an error naming the difference instead of exchanging garbage.
 *
 *   offset  0 u8  kind (1 data, 2 abort)      4 u32 sequence number     16 f64 elements in the buffer
 *           1 u8  collective code             8 u32 step                24 u32 payload bytes
 *           2 u8  dtype code                 12 u32 chunk               28 u32 root (broadcast)
 *           3 u8  reduction code
 *
 * A connection starts with a 16-byte handshake: magic, the connecting rank, the world size and a
 * tag of the process group.
 */

export const HEADER_BYTES = 32;
export const HANDSHAKE_BYTES = 16;
const MAGIC = 0x4b494c4e; // 'KILN'

export const FRAME_DATA = 1;
export const FRAME_ABORT = 2;

/** What a frame's header says. */
export interface FrameHeader {
  kind: number;
  collective: number;
  dtype: number;
  reduce: number;
  seq: number;
  step: number;
  chunk: number;
  numel: number;
  payloadBytes: number;
  root: number;
}

/** A whole frame read from a connection. */
export interface Frame {
  header: FrameHeader;
  payload: Buffer;
}

/** A frame's bytes: header then payload (copied: the caller may change `payload` afterwards). */
export function encodeFrame(h: Omit<FrameHeader, 'payloadBytes'>, payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(HEADER_BYTES + payload.byteLength);
  out.writeUInt8(h.kind, 0);
  out.writeUInt8(h.collective, 1);
  out.writeUInt8(h.dtype, 2);
  out.writeUInt8(h.reduce, 3);
  out.writeUInt32LE(h.seq >>> 0, 4);
  out.writeUInt32LE(h.step >>> 0, 8);
  out.writeUInt32LE(h.chunk >>> 0, 12);
  out.writeDoubleLE(h.numel, 16);
  out.writeUInt32LE(payload.byteLength, 24);
  out.writeUInt32LE(h.root >>> 0, 28);
  out.set(payload, HEADER_BYTES);
  return out;
}

function decodeHeader(b: Buffer): FrameHeader {
  return {
    kind: b.readUInt8(0), collective: b.readUInt8(1), dtype: b.readUInt8(2), reduce: b.readUInt8(3),
    seq: b.readUInt32LE(4), step: b.readUInt32LE(8), chunk: b.readUInt32LE(12), numel: b.readDoubleLE(16),
    payloadBytes: b.readUInt32LE(24), root: b.readUInt32LE(28),
  };
}

/** The handshake a connecting rank sends. */
export function encodeHandshake(rank: number, world: number, tag: number): Buffer {
  const b = Buffer.allocUnsafe(HANDSHAKE_BYTES);
  b.writeUInt32LE(MAGIC, 0);
  b.writeUInt32LE(rank, 4);
  b.writeUInt32LE(world, 8);
  b.writeUInt32LE(tag >>> 0, 12);
  return b;
}

/** A handshake's fields, or null when the bytes are not one (not a Kiln ring connection). */
export function decodeHandshake(b: Buffer): { rank: number; world: number; tag: number } | null {
  if (b.length < HANDSHAKE_BYTES || b.readUInt32LE(0) !== MAGIC) return null;
  return { rank: b.readUInt32LE(4), world: b.readUInt32LE(8), tag: b.readUInt32LE(12) };
}

/** A 32-bit tag of a string (FNV-1a), naming a process group in handshakes. */
export function tagOf(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/**
 * Cuts a byte stream into frames: feed it what a connection reads; it calls `onFrame` with each
 * whole frame, in order.
 */
export class FrameReader {
  private parts: Buffer[] = [];
  private buffered = 0;
  private header: FrameHeader | null = null;

  constructor(private readonly onFrame: (f: Frame) => void) {}

  push(chunk: Buffer): void {
    this.parts.push(chunk);
    this.buffered += chunk.length;
    for (;;) {
      if (this.header === null) {
        if (this.buffered < HEADER_BYTES) return;
        this.header = decodeHeader(this.take(HEADER_BYTES));
      }
      if (this.buffered < this.header.payloadBytes) return;
      const payload = this.take(this.header.payloadBytes);
      const header = this.header;
      this.header = null;
      this.onFrame({ header, payload });
    }
  }

  /** The next n buffered bytes (one copy at most). */
  private take(n: number): Buffer {
    let out: Buffer;
    const first = this.parts[0];
    if (first !== undefined && first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.parts.shift();
      else this.parts[0] = first.subarray(n);
    } else {
      out = Buffer.allocUnsafe(n);
      let filled = 0;
      while (filled < n) {
        const p = this.parts[0];
        const k = Math.min(n - filled, p.length);
        p.copy(out, filled, 0, k);
        filled += k;
        if (k === p.length) this.parts.shift();
        else this.parts[0] = p.subarray(k);
      }
    }
    this.buffered -= n;
    return out;
  }
}
