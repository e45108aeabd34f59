/**
 * Where a native addon comes from. The places tried, in order; the first that has the file wins:
 *
 *   1. `KILN_NATIVE_DIR`, when set (and then only it: a folder named on purpose must hold the addon);
 *   2. the from-source build, `@kiln/native`'s build/Release: the repository's own build, or
 *      `npx kiln-native-build` where `@kiln/native` is installed from npm;
 *   3. the prebuilt platform package, e.g. `@kiln/native-linux-x64-gnu`: an optional dependency of the
 *      package that loads the addon (`@kiln/tensor` for the CPU device, `@kiln/cuda` for CUDA), which
 *      npm installs on the platform it was built for.
 *
 * When none has it, {@link missingAddonMessage} says what fits this machine: the platform package to
 * install, or the build command that works here (in the repository or in a user's project).
 */
import { createRequire } from 'node:module';
import { existsSync, realpathSync } from 'node:fs';
import { dirname, join, sep } from 'node:path';

/** The package that loads an addon and lists its prebuilt platform packages as optional dependencies. */
export interface AddonOwner {
  /** Its package.json: name, version and optionalDependencies. */
  manifest: {
    /** The package's name, e.g. '@kiln/tensor'. */
    name: string;
    /** Its version: the platform packages it names carry the same. */
    version: string;
    /** Its optional dependencies, among them the prebuilt platform packages. */
    optionalDependencies?: Record<string, string>;
  };
  /** A require() rooted in the package, so that its own dependencies resolve (pnpm keeps them private). */
  require: NodeRequire;
}

/** One addon file and where its prebuilt copies are published. */
export interface AddonSpec {
  /** The file name, e.g. 'kiln_cpu.node'. */
  file: string;
  /** The device it serves, for messages: 'cpu', 'cuda'. */
  device: string;
  /** Name prefix of its platform packages: '@kiln/native' gives '@kiln/native-linux-x64-gnu'. */
  prebuiltPrefix: string;
  /** The package that loads it. */
  owner: AddonOwner;
}

/** A found addon: its path and where it came from ('KILN_NATIVE_DIR', '@kiln/native build', a platform package). */
export interface AddonLocation {
  /** The addon file. */
  path: string;
  /** Where it came from: 'KILN_NATIVE_DIR', '@kiln/native build' or the platform package's name. */
  source: string;
}

/** The owner of an addon: `moduleUrl` is one of its modules, `manifestPath` its package.json relative to it. */
export function addonOwner(moduleUrl: string, manifestPath: string): AddonOwner {
  const require = createRequire(moduleUrl);
  return { manifest: require(manifestPath) as AddonOwner['manifest'], require };
}

/** The folder of a package as the owner resolves it, or null when it is not installed. */
function packageDir(owner: AddonOwner, name: string): string | null {
  try {
    return dirname(owner.require.resolve(`${name}/package.json`));
  } catch {
    return null;
  }
}

/**
 * This machine's platform in the platform packages' names: 'linux-x64-gnu', 'linux-x64-musl',
 * 'darwin-arm64', 'win32-x64'. With `exact` false the Linux C library is not looked up (it costs a
 * diagnostic report, tens of milliseconds) and both Linux variants are returned.
 */
export function platformNames(exact = true): string[] {
  const base = `${process.platform}-${process.arch}`;
  if (process.platform !== 'linux') return [base];
  if (!exact) return [`${base}-gnu`, `${base}-musl`];
  return [`${base}-${glibcVersion() === null ? 'musl' : 'gnu'}`];
}

/** The glibc version this process runs with ('2.36'), or null (musl, or not Linux). */
export function glibcVersion(): string | null {
  if (process.platform !== 'linux') return null;
  const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined;
  return report?.header?.glibcVersionRuntime ?? null;
}

/** Where the addon is, or null; see the file comment for the order. */
export function locateAddon(spec: AddonSpec): AddonLocation | null {
  const fromEnv = process.env.KILN_NATIVE_DIR;
  if (fromEnv !== undefined) {
    const p = join(fromEnv, spec.file);
    return existsSync(p) ? { path: p, source: 'KILN_NATIVE_DIR' } : null;
  }
  const sourceDir = packageDir(spec.owner, '@kiln/native');
  if (sourceDir !== null) {
    const p = join(sourceDir, 'build', 'Release', spec.file);
    if (existsSync(p)) return { path: p, source: '@kiln/native build' };
  }
  for (const platform of platformNames(false)) {
    const name = `${spec.prebuiltPrefix}-${platform}`;
    const dir = packageDir(spec.owner, name);
    if (dir !== null && existsSync(join(dir, spec.file))) return { path: join(dir, spec.file), source: name };
  }
  return null;
}

/** The platforms with a prebuilt package: the owner's optional dependencies that carry the prefix. */
export function prebuiltPlatforms(spec: AddonSpec): string[] {
  const prefix = `${spec.prebuiltPrefix}-`;
  return Object.keys(spec.owner.manifest.optionalDependencies ?? {})
    .filter((n) => n.startsWith(prefix))
    .map((n) => n.slice(prefix.length));
}

/** What building the addon from source needs. */
function buildNeeds(spec: AddonSpec): string {
  const needs = 'cmake ≥ 3.20 and a C++17 compiler';
  return spec.device === 'cuda' ? `${needs}, and nvcc (CUDA 12 or 13) for the CUDA addon` : needs;
}

/** How to build from source where `@kiln/native` comes from npm (installed or not). */
function sourceBuildHint(spec: AddonSpec, installedAt: string | null): string {
  const install = installedAt === null ? `npm install @kiln/native@${spec.owner.manifest.version} && ` : '';
  return `build it from source with \`${install}npx kiln-native-build\` (it needs ${buildNeeds(spec)})`;
}

/** True when `dir` is a folder of a source checkout (a workspace link), not an installed package. */
function inCheckout(dir: string): boolean {
  return !realpathSync(dir).split(sep).includes('node_modules');
}

/** Why the addon was not found and what to do, for this machine and this installation (a sentence). */
export function missingAddonMessage(spec: AddonSpec): string {
  const { file } = spec;
  const fromEnv = process.env.KILN_NATIVE_DIR;
  if (fromEnv !== undefined) {
    return `KILN_NATIVE_DIR is set to ${fromEnv}, which has no ${file}. ` +
      'Point it at the build/Release folder of a native build, or unset it to use the installed addon.';
  }
  const sourceDir = packageDir(spec.owner, '@kiln/native');
  if (sourceDir !== null && inCheckout(sourceDir)) {
    return `the native addon ${file} is not built. Build it with \`npm run build\` at the repository root ` +
      `(or \`npm run build -w @kiln/native\`); it needs ${buildNeeds(spec)}.`;
  }
  const [platform] = platformNames();
  const owner = spec.owner.manifest;
  const build = sourceBuildHint(spec, sourceDir);
  if (sourceDir !== null) {
    return `@kiln/native is installed (${sourceDir}) but ${file} is not built there: ${build}.`;
  }
  const platforms = prebuiltPlatforms(spec);
  if (platforms.includes(platform)) {
    const pkg = `${spec.prebuiltPrefix}-${platform}`;
    return `the prebuilt addon ${file} for ${platform} is not installed. It comes in ${pkg}, an optional ` +
      `dependency of ${owner.name} that npm left out (with --omit=optional, or from a lockfile made on another ` +
      `platform): install it with \`npm install ${pkg}@${owner.version}\`, or ${build}.`;
  }
  const known = platforms.length > 0 ? ` (prebuilt addons exist for ${platforms.join(', ')})` : '';
  return `there is no prebuilt ${file} for ${platform}${known}: ${build}.`;
}

/** What to do about an addon that was found but failed to load (`reason` is the loader's message). */
export function loadFailureHint(spec: AddonSpec, location: AddonLocation, reason: string): string {
  const glibc = /GLIBC_([0-9.]+)' not found/.exec(reason);
  if (glibc) {
    const have = glibcVersion();
    return `It needs glibc ≥ ${glibc[1]}${have ? `, and this system has ${have}` : ''}: ` +
      sourceBuildHint(spec, packageDir(spec.owner, '@kiln/native'));
  }
  const library = /([\w.+-]+\.so[.0-9]*): cannot open shared object file/.exec(reason);
  if (library) return `The shared library ${library[1]} it needs is not installed on this system: install it with the system's package manager`;
  if (/invalid ELF header|wrong ELF class|file too short|ELF load command/.test(reason)) {
    return `The file is not a ${platformNames()[0]} binary (from ${location.source}): reinstall it for this platform`;
  }
  return location.source === '@kiln/native build' ? 'Rebuild it' : `Reinstall ${location.source}`;
}
