/**
 * Starts a worker thread running one of this package's modules, from the compiled JavaScript (dist)
 * or, when the package runs from its TypeScript sources (the '@kiln/source' condition, as in the
 * tests), from the .ts file through tsx, which Node 20 does not pass on to workers by itself.
 */
import { Worker, type TransferListItem } from 'node:worker_threads';

/** The URL of module `name` beside `moduleUrl`, with the same extension (.ts from sources, .js from dist). */
export function siblingModule(moduleUrl: string, name: string): URL {
  const ext = moduleUrl.endsWith('.ts') ? '.ts' : '.js';
  return new URL(`./${name}${ext}`, moduleUrl);
}

/** Starts `entry` in a worker thread with `workerData`; the worker does not keep the process alive. */
export function startWorker(entry: URL, workerData: unknown, transferList: readonly TransferListItem[] = []): Worker {
  let w: Worker;
  if (entry.pathname.endsWith('.ts')) {
    const boot = `import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(entry.href)}); })`;
    w = new Worker(boot, { eval: true, workerData, transferList: [...transferList] });
  } else {
    w = new Worker(entry, { workerData, transferList: [...transferList] });
  }
  w.unref();
  return w;
}
