#!/usr/bin/env node
// Makes node_modules/<name> -> <workspace folder> links for every workspace package of the root
// package.json that has none (or a broken one), as `npm install` would. remote.sh runs it on the
// GPU machine after unpacking node_modules, so a package added since the last npm install here
// still resolves there.   node tools/gpu/link-workspaces.mjs [ROOT]
import fs from "node:fs";
import path from "node:path";

const root = path.resolve(process.argv[2] ?? ".");
const pkg = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8"));
const globs = Array.isArray(pkg.workspaces) ? pkg.workspaces : pkg.workspaces?.packages ?? [];
for (const g of globs) {
  const dirs = g.endsWith("/*")
    ? (fs.existsSync(path.join(root, g.slice(0, -2))) ? fs.readdirSync(path.join(root, g.slice(0, -2))) : [])
        .map((d) => path.join(root, g.slice(0, -2), d))
    : [path.join(root, g)];
  for (const dir of dirs) {
    const pj = path.join(dir, "package.json");
    if (!fs.existsSync(pj)) continue;
    const name = JSON.parse(fs.readFileSync(pj, "utf8")).name;
    if (!name) continue;
    const link = path.join(root, "node_modules", name);
    let present = false;
    try {
      fs.lstatSync(link);
      present = true;
    } catch {}
    if (present && fs.existsSync(link)) continue; // there and not broken
    if (present) fs.rmSync(link, { recursive: true, force: true });
    fs.mkdirSync(path.dirname(link), { recursive: true });
    const target = path.relative(path.dirname(link), dir);
    fs.symlinkSync(target, link, "dir");
    console.log(`linked node_modules/${name} -> ${target}`);
  }
}
