// TCPStore in one process: the server runs on the store's thread, so this thread may block on it.
import { afterEach, describe, expect, it } from 'vitest';
import { ValueError } from '@kiln/tensor';
import { DistributedError, TCPStore } from '../src/index.js';

const open: TCPStore[] = [];
afterEach(() => { for (const s of open.splice(0)) s.close(); });
const store = (...a: ConstructorParameters<typeof TCPStore>) => { const s = new TCPStore(...a); open.push(s); return s; };
const text = (b: Uint8Array) => new TextDecoder().decode(b);

describe('TCPStore', () => {
  it('sets, gets, adds, checks, waits, deletes and counts keys between two clients', () => {
    const server = store('127.0.0.1', 0, { isServer: true, timeout: 5000 });
    const client = store('127.0.0.1', server.port, { timeout: 5000 });
    client.set('greeting', 'hello');
    expect(text(server.get('greeting'))).toBe('hello');
    server.set('bytes', new Uint8Array([0, 255, 7]));
    expect([...client.get('bytes')]).toEqual([0, 255, 7]);
    expect(client.add('n', 2)).toBe(2);
    expect(server.add('n', -5)).toBe(-3);
    expect(client.check(['greeting', 'n'])).toBe(true);
    expect(client.check(['greeting', 'missing'])).toBe(false);
    client.wait(['greeting', 'bytes']);
    expect(client.numKeys()).toBe(3);
    expect(server.deleteKey('greeting')).toBe(true);
    expect(server.deleteKey('greeting')).toBe(false);
    expect(client.numKeys()).toBe(2);
  });

  it('times out with a DistributedError naming the key it waited for', () => {
    const server = store('127.0.0.1', 0, { isServer: true, timeout: 5000, rank: 0 });
    const start = performance.now();
    let err: unknown;
    try {
      server.get('never', 300);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DistributedError);
    const e = err as DistributedError;
    expect(e.reason).toBe('timeout');
    expect(e.op).toBe('TCPStore.get');
    expect(e.rank).toBe(0);
    expect(e.waitingFor).toBe("key 'never' to be set");
    expect(e.message).toMatch(/TCPStore\.get\('never'\) \(rank 0, store at 127\.0\.0\.1:\d+\): timed out after 300 ms/);
    expect(performance.now() - start).toBeGreaterThanOrEqual(290);
    expect(() => server.wait(['a', 'b'], 100)).toThrow(/keys 'a', 'b' to be set/);
  });

  it('reports a server that went away, and a store used after close', () => {
    const server = store('127.0.0.1', 0, { isServer: true, timeout: 5000 });
    const client = new TCPStore('127.0.0.1', server.port, { timeout: 2000 });
    server.close();
    let err: unknown;
    const deadline = performance.now() + 3000;
    while (err === undefined && performance.now() < deadline) {
      try {
        client.get('k', 500);
      } catch (e) {
        err = e;
      }
    }
    expect((err as DistributedError).reason).toBe('peer-closed');
    client.close();
    expect(() => client.set('k', 'v')).toThrow(/closed/);
  });

  it('refuses bad arguments with a ValueError', () => {
    expect(() => new TCPStore('', 1)).toThrow(ValueError);
    expect(() => new TCPStore('127.0.0.1', 70000)).toThrow(/port/);
    expect(() => new TCPStore('127.0.0.1', 0)).toThrow(/port/);
    const server = store('127.0.0.1', 0, { isServer: true });
    expect(() => server.get('')).toThrow(/key/);
    expect(() => server.add('k', 1.5)).toThrow(/amount/);
    expect(() => server.get('k', -1)).toThrow(/timeout/);
  });

  it('fails to connect to nothing within its timeout', () => {
    expect(() => new TCPStore('127.0.0.1', 1, { timeout: 300 })).toThrow(DistributedError);
  });
});
