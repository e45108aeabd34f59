#!/usr/bin/env node
// Computes the runtime dependency closure of a set of root packages by walking node_modules the
// way Node resolves packages (the package's own node_modules, then each parent's), and prints the
// files to pack, one path a line, relative to the repository root (for `tar --no-recursion -T`).
//
//   node tools/gpu/closure.mjs [--root DIR] [--list-packages] [--verbose] [PKG ...]
//
// Roots: the packages named on the command line (default: vitest vite tsx ndarray cli-progress fast-check),
// plus the `dependencies`/`optionalDependencies` of every workspace package (those are the
// runtime needs of Kiln's own packages), plus the workspace links node_modules/@kiln/* themselves.
// Edges followed: dependencies, optionalDependencies (skipped quietly when not installed, as for
// other platforms' native bindings), and peerDependencies not marked optional.
// Never packed: EXCLUDED below (build and doc tools the device does not need).
// A package folder's own nested node_modules/ is not packed wholesale: the packages in it that the
// walk reaches are packed as packages of their own. Workspace links are printed as links (tar
// keeps them as symlinks), and what they point to (packages/*, native/) travels with git.

import fs from "node:fs";
import path from "node:path";

const args = process.argv.slice(2);
let root = process.cwd();
let listPackages = false;
let verbose = false;
const roots = [];
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  if (a === "--root") root = path.resolve(args[++i]);
  else if (a === "--list-packages") listPackages = true;
  else if (a === "--verbose") verbose = true;
  else if (a.startsWith("--")) {
    console.error(`closure.mjs: unknown option ${a}`);
    process.exit(2);
  } else roots.push(a);
}
if (roots.length === 0) roots.push("vitest", "vite", "tsx", "ndarray", "cli-progress", "fast-check");

const EXCLUDED = [/^nx$/, /^@nx\//, /^typescript$/, /^typedoc$/, /^@types\//];
// Files no runtime needs; they only make the archive bigger.
const SKIP_FILE = [/\.map$/, /\.d\.[cm]?ts$/, /\.tsbuildinfo$/];
const isExcluded = (name) => EXCLUDED.some((re) => re.test(name));

const nodeModules = path.join(root, "node_modules");
const rel = (p) => path.relative(root, p);
const log = (...m) => verbose && console.error(...m);

function readJson(file) {
  try {
    return JSON.parse(fs.readFileSync(file, "utf8"));
  } catch {
    return null;
  }
}

// Node's lookup: <dir>/node_modules/<name>, walking up from the package's real folder, stopping at
// the repository root (nothing above it travels).
function resolvePackage(name, fromDir) {
  let dir = fromDir;
  for (;;) {
    if (path.basename(dir) !== "node_modules") {
      const cand = path.join(dir, "node_modules", name);
      if (fs.existsSync(path.join(cand, "package.json"))) return cand;
    }
    if (dir === root || !dir.startsWith(root + path.sep)) return null;
    dir = path.dirname(dir);
  }
}

// Workspace packages (from the root package.json's "workspaces" globs: "dir" or "dir/*").
function workspaceDirs() {
  const pkg = readJson(path.join(root, "package.json")) ?? {};
  const globs = Array.isArray(pkg.workspaces) ? pkg.workspaces : pkg.workspaces?.packages ?? [];
  const dirs = [];
  for (const g of globs) {
    if (g.endsWith("/*")) {
      const base = path.join(root, g.slice(0, -2));
      if (!fs.existsSync(base)) continue;
      for (const e of fs.readdirSync(base, { withFileTypes: true })) {
        const d = path.join(base, e.name);
        if (e.isDirectory() && fs.existsSync(path.join(d, "package.json"))) dirs.push(d);
      }
    } else {
      const d = path.join(root, g);
      if (fs.existsSync(path.join(d, "package.json"))) dirs.push(d);
    }
  }
  return dirs;
}

const packed = new Map(); // package folder (absolute, as found under node_modules) -> name
const links = new Set(); // symlinks to pack as links
const visitedReal = new Set();
const missing = [];
const excludedHits = new Set();

function edgesOf(pkg) {
  const out = [];
  for (const [n] of Object.entries(pkg.dependencies ?? {})) out.push([n, false]);
  for (const [n] of Object.entries(pkg.optionalDependencies ?? {})) out.push([n, true]);
  const peerMeta = pkg.peerDependenciesMeta ?? {};
  for (const [n] of Object.entries(pkg.peerDependencies ?? {}))
    if (!peerMeta[n]?.optional) out.push([n, false]);
  return out;
}

function visit(name, fromDir, optional, via) {
  if (isExcluded(name)) {
    excludedHits.add(`${name} (via ${via})`);
    return;
  }
  const dir = resolvePackage(name, fromDir);
  if (!dir) {
    if (!optional) missing.push(`${name} (via ${via})`);
    return;
  }
  const st = fs.lstatSync(dir);
  const real = fs.realpathSync(dir);
  const insideNodeModules = rel(real).split(path.sep).includes("node_modules");
  if (st.isSymbolicLink() || !insideNodeModules) {
    // A workspace link (node_modules/@kiln/x -> ../../packages/x): pack the link, not the target.
    if (st.isSymbolicLink()) links.add(dir);
  } else if (!packed.has(dir)) {
    packed.set(dir, name);
  }
  if (visitedReal.has(real)) return;
  visitedReal.add(real);
  const pkg = readJson(path.join(real, "package.json")) ?? {};
  log(`${name} <- ${via}`);
  for (const [dep, opt] of edgesOf(pkg)) visit(dep, real, opt, name);
}

for (const r of roots) visit(r, root, false, "<root>");
for (const ws of workspaceDirs()) {
  const pkg = readJson(path.join(ws, "package.json")) ?? {};
  if (pkg.name && !safeReal(path.join(nodeModules, pkg.name)))
    console.error(`closure.mjs: note: no node_modules/${pkg.name} link here (npm install not run since it was added); remote.sh makes it there`);
  visitedReal.add(fs.realpathSync(ws));
  for (const [dep, opt] of edgesOf(pkg)) visit(dep, ws, opt, pkg.name ?? rel(ws));
}
// Every workspace link, whether or not something depends on it (tests import them by name).
for (const scopeOrName of fs.existsSync(nodeModules) ? fs.readdirSync(nodeModules) : []) {
  const p = path.join(nodeModules, scopeOrName);
  const candidates = scopeOrName.startsWith("@") && fs.statSync(p).isDirectory()
    ? fs.readdirSync(p).map((n) => path.join(p, n))
    : [p];
  for (const c of candidates) {
    if (!fs.lstatSync(c).isSymbolicLink()) continue;
    const target = safeReal(c);
    if (target && !rel(target).startsWith("..") && !rel(target).split(path.sep).includes("node_modules"))
      links.add(c);
  }
}
function safeReal(p) {
  try {
    return fs.realpathSync(p);
  } catch {
    return null;
  }
}

if (missing.length) console.error(`closure.mjs: WARNING: required but not installed: ${missing.join(", ")}`);
if (excludedHits.size)
  log(`closure.mjs: excluded on purpose: ${[...excludedHits].join(", ")}`);

if (listPackages) {
  const names = [...packed.entries()].map(([d, n]) => {
    const v = readJson(path.join(d, "package.json"))?.version ?? "?";
    return `${rel(d)}\t${n}@${v}`;
  });
  for (const l of [...links]) names.push(`${rel(l)}\t-> ${fs.readlinkSync(l)}`);
  console.log(names.sort().join("\n"));
  process.exit(0);
}

// Files of each package folder, without its nested node_modules/ and without SKIP_FILE.
const files = [];
function walk(dir) {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name === "node_modules") continue;
      walk(p);
    } else if (e.isFile() || e.isSymbolicLink()) {
      if (SKIP_FILE.some((re) => re.test(e.name))) continue;
      files.push(rel(p));
    }
  }
}
for (const dir of packed.keys()) walk(dir);
for (const l of links) files.push(rel(l));
files.sort();
process.stdout.write(files.join("\n") + "\n");
console.error(`closure.mjs: ${packed.size} packages, ${links.size} workspace links, ${files.length} files`);
