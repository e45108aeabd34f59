#!/usr/bin/env node
// Builds what gets published: one folder per public package under out/release/packages/<name>,
// as npm will pack it, and with --pack the tarballs under out/release/tarballs (a table of their
// sizes is printed). Run it after `npm run build`; `nx release publish` publishes these folders
// (nx.json: the packageRoot of nx-release-publish), and tools/release/install-check.sh installs
// the tarballs into a project outside the repository.
//
//   node tools/release/stage.mjs [--pack] [--dev] [--addons DIR]
//
// Each folder holds the files the package's `files` field selects (as `npm pack` lists them), the
// repository's LICENSE, and a package.json without what only the repository uses: the
// '@kiln/source' export conditions (TypeScript sources, not shipped; a subpath with no other
// condition, like @kiln/tensor/testing, is not published), `scripts` and `devDependencies`. The platform packages (native/prebuilt/*) get their addon (`main`) copied in
// from the build (DIR: KILN_NATIVE_DIR or native/build/Release), after checks: the CUDA addon must
// carry the release's GPU code (sm_75, 80, 86, 89, 90 and compute_90 PTX: a KILN_CUDA_ARCHS=release
// build) unless --dev, which stages an everyday build for the install check; what each addon
// loads and the glibc it needs are printed. @kiln/native also gets the packages' own kernel
// sources (packages/*/src: *_cpu.cc, *_cuda.cu, headers), which its CMake build compiles into the
// addons. It fails when an export points at a missing file or a @kiln dependency's range misses the
// version staged with it.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { addonFacts, describeFacts } from './addon-facts.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const out = join(root, 'out', 'release');
const args = process.argv.slice(2);
const option = (name) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : undefined; };
const pack = args.includes('--pack');
const dev = args.includes('--dev');
const addonDir = option('--addons') ?? process.env.KILN_NATIVE_DIR ?? join(root, 'native', 'build', 'Release');
const RELEASE_GPU = { elf: [75, 80, 86, 89, 90], ptx: [90] };   // CMakeLists.txt, KILN_CUDA_ARCHS=release

const fail = (msg) => { console.error(`stage: ${msg}`); process.exit(1); };
const readJson = (p) => JSON.parse(readFileSync(p, 'utf8'));

/** The workspace folders of the root package.json ('dir' or 'dir/*'). */
function workspaceDirs() {
  return readJson(join(root, 'package.json')).workspaces.flatMap((w) => {
    if (!w.endsWith('/*')) return [w];
    const base = w.slice(0, -2);
    return readdirSync(join(root, base)).map((d) => `${base}/${d}`).filter((d) => existsSync(join(root, d, 'package.json')));
  });
}

/** The package.json that gets published: without the repository-only parts. */
function publishedManifest(manifest) {
  // a subpath left with no condition (e.g. @kiln/tensor/testing, the repository's test helpers) goes too
  const strip = (exp) => {
    if (typeof exp !== 'object' || exp === null) return exp;
    const kept = Object.entries(exp).filter(([k]) => k !== '@kiln/source').map(([k, v]) => [k, strip(v)]);
    return Object.fromEntries(kept.filter(([, v]) => typeof v !== 'object' || Object.keys(v).length > 0));
  };
  const { scripts, devDependencies, ...rest } = manifest;
  return rest.exports ? { ...rest, exports: strip(rest.exports) } : rest;
}

/** Every file a manifest points at (exports, types, main, bin), relative to the package. */
function pointedFiles(m) {
  const found = [];
  const walk = (v) => (typeof v === 'string' ? found.push(v) : v && typeof v === 'object' && Object.values(v).forEach(walk));
  walk(m.exports);
  for (const k of ['main', 'types']) if (m[k]) found.push(m[k]);
  if (m.bin) walk(m.bin);
  return found;
}

/** Does `version` satisfy `range` (an exact version or ^x.y.z, the forms the workspace uses)? */
function satisfies(version, range) {
  if (!range.startsWith('^')) return version === range;
  const [a, b, c] = range.slice(1).split('.').map(Number);
  const [x, y, z] = version.split('.').map(Number);
  if (x !== a || (a === 0 && y !== b)) return false;
  return y > b || (y === b && z >= c);
}

/** Checks a platform package's addon and returns its path; null (with a note) when --dev and it is absent. */
function checkAddon(name, file) {
  const path = join(addonDir, file);
  if (!existsSync(path)) {
    if (dev) { console.log(`stage: ${name}: no ${file} in ${addonDir}: not staged`); return null; }
    fail(`${name}: no ${file} in ${addonDir} (build first: KILN_CUDA_ARCHS=release npm run build)`);
  }
  const facts = addonFacts(path);
  console.log(describeFacts(facts).replace(/^/gm, '  '));
  if (facts.cuda && !dev) {
    const missing = [...RELEASE_GPU.elf.filter((a) => !facts.cuda.elf.includes(a)).map((a) => `sm_${a}`),
      ...RELEASE_GPU.ptx.filter((a) => !facts.cuda.ptx.includes(a)).map((a) => `compute_${a} PTX`)];
    if (missing.length > 0) fail(`${name}: ${file} lacks ${missing.join(', ')}: build it with KILN_CUDA_ARCHS=release (or stage with --dev)`);
  }
  return path;
}

/**
 * The kernels that packages own (packages/<name>/src/**: *_cpu.cc, *_cuda.cu and the headers beside
 * them), copied into the staged @kiln/native's packages/ folder, where its CMakeLists.txt looks when
 * there is no repository around it: a from-source build then has every op of the prebuilt addons.
 */
function copyPackageKernels(target) {
  const kernel = /(_cpu\.cc|_cuda\.cu|\.h|\.cuh)$/;
  let n = 0;
  const walk = (from, to) => {
    for (const e of readdirSync(from, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(from, e.name), join(to, e.name));
      else if (kernel.test(e.name)) {
        mkdirSync(to, { recursive: true });
        copyFileSync(join(from, e.name), join(to, e.name));
        n++;
      }
    }
  };
  for (const pkg of readdirSync(join(root, 'packages'))) {
    const src = join(root, 'packages', pkg, 'src');
    if (existsSync(src)) walk(src, join(target, 'packages', pkg, 'src'));
  }
  console.log(`stage: @kiln/native: ${n} kernel sources of the packages copied into packages/`);
}

const dirs = workspaceDirs().filter((d) => readJson(join(root, d, 'package.json')).private !== true);
const manifests = new Map(dirs.map((d) => [d, readJson(join(root, d, 'package.json'))]));
// what npm would pack from each folder (its `files` field and ignore rules), without running scripts
const listed = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts', ...dirs.map((d) => `--workspace=${d}`)],
  { cwd: root, encoding: 'utf8', maxBuffer: 64 * 2 ** 20 }));
const filesOf = new Map(listed.map((p) => [p.name, p.files.map((f) => f.path)]));
const versions = new Map([...manifests.values()].map((m) => [m.name, m.version]));

rmSync(out, { recursive: true, force: true });
const staged = [];
for (const dir of dirs) {
  const manifest = manifests.get(dir);
  const target = join(out, 'packages', manifest.name);
  let addon = null;
  if (dir.startsWith('native/prebuilt/')) {
    console.log(`stage: ${manifest.name}`);
    addon = checkAddon(manifest.name, manifest.main);
    if (addon === null) continue;
  }
  mkdirSync(target, { recursive: true });
  for (const f of filesOf.get(manifest.name) ?? []) {
    if (f === 'package.json') continue;
    mkdirSync(dirname(join(target, f)), { recursive: true });
    copyFileSync(join(root, dir, f), join(target, f));
  }
  if (addon) copyFileSync(addon, join(target, manifest.main));
  if (dir === 'native') copyPackageKernels(target);
  if (!existsSync(join(target, 'LICENSE'))) copyFileSync(join(root, 'LICENSE'), join(target, 'LICENSE'));
  const published = publishedManifest(manifest);
  writeFileSync(join(target, 'package.json'), `${JSON.stringify(published, null, 2)}\n`);

  const absent = pointedFiles(published).filter((f) => !existsSync(join(target, f)));
  if (absent.length > 0) fail(`${manifest.name}: package.json points at files not staged: ${absent.join(', ')} (run npm run build first)`);
  for (const kind of ['dependencies', 'optionalDependencies', 'peerDependencies']) {
    for (const [dep, range] of Object.entries(published[kind] ?? {})) {
      if (versions.has(dep) && !satisfies(versions.get(dep), range)) {
        fail(`${manifest.name}: ${kind} ${dep}@${range} does not match its version ${versions.get(dep)}`);
      }
    }
  }
  staged.push(target);
}
console.log(`stage: ${staged.length} packages in ${relative(root, join(out, 'packages'))}`);

if (pack) {
  const tarballs = join(out, 'tarballs');
  mkdirSync(tarballs, { recursive: true });
  const rows = JSON.parse(execFileSync('npm', ['pack', ...staged, '--json', '--pack-destination', tarballs],
    { cwd: root, encoding: 'utf8', maxBuffer: 64 * 2 ** 20 }));
  const mib = (n) => `${(n / 2 ** 20).toFixed(2)} MiB`;
  console.log('\n| package | tarball | packed | unpacked | files |\n|---|---|--:|--:|--:|');
  for (const r of rows) console.log(`| ${r.name} | ${r.filename} | ${mib(r.size)} | ${mib(r.unpackedSize)} | ${r.entryCount} |`);
  const total = rows.reduce((s, r) => s + r.size, 0);
  console.log(`| all | ${rows.length} tarballs | ${mib(total)} | | |`);
  console.log(`\nstage: tarballs in ${relative(root, tarballs)}`);
}
