/**
 * A JS-side free list in front of the native CPU caching allocator, for small storages: a freed
 * small buffer is parked here (with its address) and handed to the next storage of its size
 * class, so allocating and freeing a small tensor makes no N-API call. Each native call costs
 * about 0.3 µs and a storage took three (alloc, address, release): 0.9 µs, more than half of a
 * 4-element add (tools/bench/dispatch.ts).
 *
 * The size classes are the native allocator's own (its blockSize, read once into a table for the
 * sizes the cache holds), so a parked buffer is exactly the block the native side handed out and
 * the bytes counted per tensor are the same with or without this cache.
 */

/**
 * The largest storage (bytes) the cache holds. A native alloc + address + release costs about
 * 0.9 µs whatever the size, and a float32 add measured 1.8 µs at 16 B, 1.9 µs at 4 KiB, 2.3 µs at
 * 16 KiB and 3.6 µs at 64 KiB: up to 64 KiB the allocation is over a fifth of a whole op.
 */
export const SMALL_LIMIT = 64 * 1024;

/**
 * The most bytes the cache parks; a buffer freed beyond that goes back to the native allocator.
 * The native allocator caches every freed block anyway, so this does not bound the process's
 * memory (reserved is the same either way); it only keeps this cache's lists short.
 */
export const CACHE_BUDGET = 4 * 1024 * 1024;

/** Free lists indexed by block size / 64 (every class up to SMALL_LIMIT is a multiple of 64). */
export class SmallBufferCache {
  private readonly buffers: ArrayBuffer[][] = [];
  private readonly addresses: number[][] = [];
  /** Bytes of the buffers parked now (their block sizes). */
  parkedBytes = 0;
  /** Allocations this cache served. */
  hits = 0;

  /** blockSize of every request up to SMALL_LIMIT, by ceil(n / 64). */
  private readonly blockOf = new Uint32Array(SMALL_LIMIT / 64 + 1);

  /**
   * @param blockSize - the native allocator's block size for a request of n bytes (its size
   *   classes: 64-byte steps up to 4 KiB, then quarters of powers of two; every class up to
   *   SMALL_LIMIT is a multiple of 64, so requests with the same ceil(n / 64) share a block size)
   * @param budget - the most bytes parked at once
   */
  constructor(private readonly blockSize: (n: number) => number, private readonly budget = CACHE_BUDGET) {
    for (let i = 0; i <= SMALL_LIMIT / 64; i++) {
      this.buffers.push([]);
      this.addresses.push([]);
      this.blockOf[i] = blockSize(i * 64);
    }
  }

  /** The native block size for a request of n bytes (from the table up to SMALL_LIMIT). */
  roundSize(n: number): number {
    return n <= SMALL_LIMIT ? this.blockOf[Math.ceil(n / 64)] : this.blockSize(n);
  }

  /** The address of the buffer the last successful take() returned. */
  takenAddress = 0;

  /**
   * A parked buffer of block size `size` (a roundSize() value ≤ SMALL_LIMIT), its address in
   * takenAddress; null when none is parked. The caller owns it from now on. (Two parallel lists
   * rather than a [buffer, address] pair each: taking and parking allocate nothing.)
   */
  take(size: number): ArrayBuffer | null {
    const list = this.buffers[size >>> 6];
    if (list.length === 0) return null;
    this.parkedBytes -= size;
    this.hits++;
    this.takenAddress = this.addresses[size >>> 6].pop()!;
    return list.pop()!;
  }

  /** Parks a buffer of block size `size`; false (nothing parked) when the budget is full. */
  put(size: number, buffer: ArrayBuffer, address: number): boolean {
    if (this.parkedBytes + size > this.budget) return false;
    this.buffers[size >>> 6].push(buffer);
    this.addresses[size >>> 6].push(address);
    this.parkedBytes += size;
    return true;
  }

  /** Empties the cache, handing every parked buffer to `release`. */
  drain(release: (buffer: ArrayBuffer) => void): void {
    for (let i = 0; i < this.buffers.length; i++) {
      const list = this.buffers[i];
      for (const b of list) release(b);
      list.length = 0;
      this.addresses[i].length = 0;
    }
    this.parkedBytes = 0;
  }
}
