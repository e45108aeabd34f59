// Where the native addons are looked for (KILN_NATIVE_DIR, the from-source build of @kiln/native,
// the prebuilt platform package of the loading package) and what the errors tell a user to do when
// none has them, in each situation: a checkout, an installation with the platform package left
// out, a platform without prebuilt addons, @kiln/native installed but not built, and addons that
// fail to load. Installations are laid out as folders of fake packages in a temporary directory.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { AddonLoadError, type AddonSpec, addonOwner, cpuAddonSpec, loadAddon, locateAddon, missingAddonMessage } from '@kiln/tensor';
import { loadFailureHint, platformNames } from '../src/native/locate.js';

const here = platformNames()[0];   // e.g. linux-x64-gnu
let root: string;
let savedDir: string | undefined;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'kiln-addon-location-'));
  savedDir = process.env.KILN_NATIVE_DIR;
  delete process.env.KILN_NATIVE_DIR;
});
afterEach(() => {
  if (savedDir === undefined) delete process.env.KILN_NATIVE_DIR;
  else process.env.KILN_NATIVE_DIR = savedDir;
  rmSync(root, { recursive: true, force: true });
});

/** Writes node_modules/<name>/package.json (and files) under the temporary project; returns the folder. */
function fakePackage(name: string, manifest: object, files: Record<string, string> = {}): string {
  const dir = join(root, 'node_modules', name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name, version: '1.2.3', ...manifest }));
  for (const [f, content] of Object.entries(files)) writeFileSync(join(dir, f), content);
  return dir;
}

/** An addon spec owned by a fake package that lists prebuilt packages for `platforms`. */
function fakeSpec(platforms: string[], device = 'cpu'): AddonSpec {
  const optionalDependencies = Object.fromEntries(platforms.map((p) => [`@fake/native-${p}`, '1.2.3']));
  const dir = fakePackage('@fake/owner', { optionalDependencies });
  const owner = addonOwner(pathToFileURL(join(dir, 'index.js')).href, './package.json');
  return { file: 'kiln_fake.node', device, prebuiltPrefix: '@fake/native', owner };
}

describe('locateAddon', () => {
  it('finds the addon of the repository build first, as the suite loads it', () => {
    const found = locateAddon(cpuAddonSpec);
    expect(found?.source).toBe('@kiln/native build');
    expect(found?.path).toMatch(/build[/\\]Release[/\\]kiln_cpu\.node$/);
  });

  it('finds the prebuilt platform package of the owner', () => {
    const spec = fakeSpec([here]);
    const dir = fakePackage(`@fake/native-${here}`, {}, { 'kiln_fake.node': '' });
    expect(locateAddon(spec)).toEqual({ path: join(dir, 'kiln_fake.node'), source: `@fake/native-${here}` });
  });

  it('prefers a from-source build of @kiln/native over the prebuilt package', () => {
    const spec = fakeSpec([here]);
    fakePackage(`@fake/native-${here}`, {}, { 'kiln_fake.node': '' });
    const native = fakePackage('@kiln/native', {});
    mkdirSync(join(native, 'build', 'Release'), { recursive: true });
    writeFileSync(join(native, 'build', 'Release', 'kiln_fake.node'), '');
    expect(locateAddon(spec)).toEqual({ path: join(native, 'build', 'Release', 'kiln_fake.node'), source: '@kiln/native build' });
  });

  it('looks only in KILN_NATIVE_DIR when it is set', () => {
    const spec = fakeSpec([here]);
    fakePackage(`@fake/native-${here}`, {}, { 'kiln_fake.node': '' });
    process.env.KILN_NATIVE_DIR = join(root, 'elsewhere');
    expect(locateAddon(spec)).toBeNull();
    expect(missingAddonMessage(spec)).toBe(
      `KILN_NATIVE_DIR is set to ${join(root, 'elsewhere')}, which has no kiln_fake.node. ` +
        'Point it at the build/Release folder of a native build, or unset it to use the installed addon.',
    );
    mkdirSync(join(root, 'elsewhere'));
    writeFileSync(join(root, 'elsewhere', 'kiln_fake.node'), '');
    expect(locateAddon(spec)).toEqual({ path: join(root, 'elsewhere', 'kiln_fake.node'), source: 'KILN_NATIVE_DIR' });
  });
});

describe('a missing addon says what to do', () => {
  it('in the repository: the build command', () => {
    const spec = { ...cpuAddonSpec, file: 'kiln_missing.node' };
    expect(locateAddon(spec)).toBeNull();
    expect(missingAddonMessage(spec)).toBe(
      'the native addon kiln_missing.node is not built. Build it with `npm run build` at the repository root ' +
        '(or `npm run build -w @kiln/native`); it needs cmake ≥ 3.20 and a C++17 compiler.',
    );
  });

  it('an installation without the platform package: the package to install, or the source build', () => {
    const spec = fakeSpec(['linux-arm64-gnu', here]);
    expect(missingAddonMessage(spec)).toBe(
      `the prebuilt addon kiln_fake.node for ${here} is not installed. It comes in @fake/native-${here}, an optional ` +
        'dependency of @fake/owner that npm left out (with --omit=optional, or from a lockfile made on another ' +
        `platform): install it with \`npm install @fake/native-${here}@1.2.3\`, or build it from source with ` +
        '`npm install @kiln/native@1.2.3 && npx kiln-native-build` (it needs cmake ≥ 3.20 and a C++17 compiler).',
    );
  });

  it('a platform without prebuilt addons: the source build (with nvcc for CUDA)', () => {
    const spec = fakeSpec(['other-platform'], 'cuda');
    expect(missingAddonMessage(spec)).toBe(
      `there is no prebuilt kiln_fake.node for ${here} (prebuilt addons exist for other-platform): build it from source ` +
        'with `npm install @kiln/native@1.2.3 && npx kiln-native-build` (it needs cmake ≥ 3.20 and a C++17 compiler, ' +
        'and nvcc (CUDA 12 or 13) for the CUDA addon).',
    );
  });

  it('@kiln/native installed but not built: the build command alone', () => {
    const spec = fakeSpec([]);
    const native = fakePackage('@kiln/native', {});
    expect(missingAddonMessage(spec)).toBe(
      `@kiln/native is installed (${native}) but kiln_fake.node is not built there: build it from source with ` +
        '`npx kiln-native-build` (it needs cmake ≥ 3.20 and a C++17 compiler).',
    );
  });

  it('loadAddon raises an AddonLoadError with that message', () => {
    const spec = fakeSpec([here]);
    expect(() => loadAddon('kiln_fake.node', 'cpu', spec)).toThrow(AddonLoadError);
    expect(() => loadAddon('kiln_fake.node', 'cpu', spec)).toThrow(`cpu: ${missingAddonMessage(spec)}`);
  });
});

describe('an addon that fails to load says why and what to do', () => {
  it('a file that is not a shared object', () => {
    const spec = fakeSpec([here]);
    const dir = fakePackage(`@fake/native-${here}`, {}, { 'kiln_fake.node': 'not an ELF file' });
    let error: unknown;
    try {
      loadAddon('kiln_fake.node', 'cpu', spec);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(AddonLoadError);
    const message = (error as Error).message;
    expect(message.startsWith(`cpu: kiln_fake.node (from @fake/native-${here}, ${join(dir, 'kiln_fake.node')}) could not be loaded: `)).toBe(true);
    expect(message.endsWith(`The file is not a ${here} binary (from @fake/native-${here}): reinstall it for this platform.`)).toBe(true);
  });

  it('a glibc older than the binary needs, a missing shared library', () => {
    const spec = fakeSpec([here]);
    const at = { path: '/x/kiln_fake.node', source: `@fake/native-${here}` };
    const glibc = loadFailureHint(spec, at, "/lib/x86_64-linux-gnu/libm.so.6: version `GLIBC_2.99' not found (required by /x/kiln_fake.node)");
    expect(glibc).toMatch(/^It needs glibc ≥ 2\.99(, and this system has [0-9.]+)?: build it from source with `npm install @kiln\/native@1\.2\.3 && npx kiln-native-build`/);
    expect(loadFailureHint(spec, at, 'libgomp.so.1: cannot open shared object file: No such file or directory')).toBe(
      "The shared library libgomp.so.1 it needs is not installed on this system: install it with the system's package manager",
    );
    expect(loadFailureHint(spec, at, 'something else')).toBe(`Reinstall @fake/native-${here}`);
  });
});
