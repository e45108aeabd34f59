/** Finds and loads a native addon (see locate.ts for where it looks), explaining what to do when it cannot. */
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import type { ExtensionLoadResult } from '../device.js';
import { AddonLoadError } from '../errors.js';
import { ARG_BUFFER } from './args.js';
import { type AddonSpec, addonOwner, loadFailureHint, locateAddon, missingAddonMessage } from './locate.js';

const require = createRequire(import.meta.url);

/** The kernel API every device addon exports (native/core/binding.cc). */
export interface KernelAddon {
  /** Hands the addon the shared argument buffer that every launch reads (see native/args.ts). */
  setArgBuffer(buf: Float64Array): void;
  /** The names in the addon's kernel table; a kernel's id is its position. */
  kernelNames(): string[];
  /** Runs kernel `id` on the call encoded in the argument buffer. */
  launch(id: number): void;
  /** Opens an extension library and registers its kernels for this device (native/core/extensions.h). */
  loadExtension(path: string): ExtensionLoadResult;
  /** The version of the extension ABI this addon provides (KILN_EXTENSION_ABI_VERSION). */
  readonly extensionAbiVersion: number;
}

/**
 * What to do when an addon lacks a kernel the TypeScript asks for (an addon older than the
 * packages): the sentence ends such errors. It names where the CPU addon came from.
 */
export function rebuildHint(): string {
  const at = locateAddon(cpuAddonSpec);
  const version = cpuAddonSpec.owner.manifest.version;
  if (at !== null && at.source.startsWith(`${cpuAddonSpec.prebuiltPrefix}-`)) {
    return `The addons come from ${at.source}, which must be of @kiln/tensor's version: \`npm install ${at.source}@${version}\`.`;
  }
  const from = at === null ? 'none is built or installed' : `they load from ${dirname(at.path)} (${at.source})`;
  return 'Build the native addons with `npm run build -w @kiln/native` (or `npm run build` at the repository root), ' +
    `or set KILN_NATIVE_DIR to the folder of a build that has them (${from}); building needs cmake, a C++ compiler and, for CUDA, nvcc.`;
}

/** The CPU addon: @kiln/tensor loads it, and lists its prebuilt platform packages (@kiln/native-*). */
export const cpuAddonSpec: AddonSpec = {
  file: 'kiln_cpu.node',
  device: 'cpu',
  prebuiltPrefix: '@kiln/native',
  // this module is src/native/load.ts or dist/native/load.js: the package root is two folders up
  owner: addonOwner(import.meta.url, '../../package.json'),
};

/** Absolute path of an addon file, e.g. 'kiln_cpu.node', or null when none is built or installed. */
export function addonPath(file: string, spec: AddonSpec = { ...cpuAddonSpec, file }): string | null {
  return locateAddon(spec)?.path ?? null;
}

/**
 * Loads an addon and hands it the shared argument buffer. `spec` says where its prebuilt copies
 * come from (the CPU addon's by default); a missing or unloadable addon is an AddonLoadError that
 * says what to install or build.
 */
export function loadAddon<T extends KernelAddon>(file: string, what: string, spec: AddonSpec = { ...cpuAddonSpec, file }): T {
  const location = locateAddon(spec);
  if (!location) throw new AddonLoadError(`${what}: ${missingAddonMessage(spec)}`);
  let addon: T;
  try {
    addon = require(location.path) as T;
  } catch (e) {
    const reason = (e as Error).message;
    throw new AddonLoadError(`${what}: ${file} (from ${location.source}, ${location.path}) could not be loaded: ${reason}. ` +
      `${loadFailureHint(spec, location, reason)}.`);
  }
  addon.setArgBuffer(ARG_BUFFER);
  return addon;
}

/** name -> id map of an addon's kernel table. */
export function kernelTable(addon: KernelAddon): Map<string, number> {
  return new Map(addon.kernelNames().map((n, i) => [n, i]));
}
