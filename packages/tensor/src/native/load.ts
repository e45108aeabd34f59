/** Finds and loads a native addon built by `@kiln/native` (cmake-js), explaining how to build it. */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { KilnError } from '../errors.js';
import { ARG_BUFFER } from './args.js';

const require = createRequire(import.meta.url);

/** The kernel API every device addon exports (native/core/binding.cc). */
export interface KernelAddon {
  /** Hands the addon the shared argument buffer that every launch reads (see native/args.ts). */
  setArgBuffer(buf: Float64Array): void;
  /** The names in the addon's kernel table; a kernel's id is its position. */
  kernelNames(): string[];
  /** Runs kernel `id` on the call encoded in the argument buffer. */
  launch(id: number): void;
}

/** The folder the addons load from: KILN_NATIVE_DIR when set, else @kiln/native's build/Release. */
export function nativeDir(): string {
  return process.env.KILN_NATIVE_DIR ?? join(dirname(require.resolve('@kiln/native/package.json')), 'build', 'Release');
}

/** Absolute path of an addon file, e.g. 'kiln_cpu.node', or null when it has not been built. */
export function addonPath(file: string): string | null {
  const p = join(nativeDir(), file);
  return existsSync(p) ? p : null;
}

/** What to do when the addons are missing or older than the TypeScript: the sentence ends every such error. */
export function rebuildHint(): string {
  const from = process.env.KILN_NATIVE_DIR === undefined
    ? `they load from ${nativeDir()}`
    : `KILN_NATIVE_DIR points at ${nativeDir()}`;
  return 'Build the native addons with `npm run build -w @kiln/native` (or `npm run build` at the repository root), ' +
    `or set KILN_NATIVE_DIR to the folder of a build that has them (${from}); building needs cmake, a C++ compiler and, for CUDA, nvcc.`;
}

/** Loads an addon and hands it the shared argument buffer. */
export function loadAddon<T extends KernelAddon>(file: string, what: string): T {
  const p = addonPath(file);
  if (!p) {
    throw new KilnError({ op: what, detail: `the native addon ${file} is not built. ${rebuildHint()}` });
  }
  const addon = require(p) as T;
  addon.setArgBuffer(ARG_BUFFER);
  return addon;
}

/** name -> id map of an addon's kernel table. */
export function kernelTable(addon: KernelAddon): Map<string, number> {
  return new Map(addon.kernelNames().map((n, i) => [n, i]));
}
