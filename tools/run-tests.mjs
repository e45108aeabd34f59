#!/usr/bin/env node
// Runs Kiln's tests (vitest, every device present) and ends with the plain summary line
// "N passed, N failed, N skipped".
//
//   node tools/run-tests.mjs                  the whole suite, through nx: each package's `test` target
//                                             (cached, and rerun only when its inputs change; see
//                                             nx.json), then one summary line over every package
//   node tools/run-tests.mjs --project NAME   one package's (or example's) tests (what its `test` target
//                                             runs); the vitest report goes to
//                                             out/test-reports/{packages,examples}/NAME.json,
//                                             the target's cached output, so the summary counts a
//                                             cached package too
//   node tools/run-tests.mjs PATH... [-t RE]  vitest on those files (while iterating), no nx
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const nxPackage = join(root, 'node_modules', 'nx');
const nx = join(nxPackage, JSON.parse(readFileSync(join(nxPackage, 'package.json'), 'utf8')).bin.nx);
const reports = join(root, 'out', 'test-reports');
const args = process.argv.slice(2);
const run = (cmd, argv, env = process.env) => spawnSync(cmd, argv, { cwd: root, stdio: 'inherit', env }).status ?? 1;
const vitest = (extra) => run(process.execPath, [join(root, 'node_modules', 'vitest', 'vitest.mjs'), 'run', '--reporter=default', '--reporter=json', ...extra]);

/** Passed, failed and skipped tests of a vitest JSON report. */
function counts(file) {
  const j = JSON.parse(readFileSync(file, 'utf8'));
  return { passed: j.numPassedTests, failed: j.numFailedTests, skipped: (j.numPendingTests ?? 0) + (j.numTodoTests ?? 0) };
}
const line = (c) => `${c.passed} passed, ${c.failed} failed, ${c.skipped} skipped`;

/** The folders of the packages and examples (packages/*, examples/*), the vitest projects' homes. */
const projectFolders = () => ['packages', 'examples'].flatMap((base) => readdirSync(join(root, base))
  .filter((d) => existsSync(join(root, base, d, 'package.json'))).map((d) => `${base}/${d}`));

/** The packages with tests, as nx sees them: [name, folder]. */
function testProjects() {
  const r = spawnSync(process.execPath, [nx, 'show', 'projects', '--with-target', 'test', '--json'], { cwd: root, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`nx show projects failed: ${r.stderr}`);
  const folders = new Map(projectFolders().map((d) => [JSON.parse(readFileSync(join(root, d, 'package.json'), 'utf8')).name, d]));
  return JSON.parse(r.stdout).map((name) => [name, folders.get(name) ?? name]);
}

let status;
const p = args.indexOf('--project');
if (p >= 0) {
  const name = args[p + 1];
  // the vitest project is named after its folder (vitest.config.ts): packages/NAME or examples/NAME
  const folder = projectFolders().find((d) => d.split('/')[1] === name) ?? `packages/${name}`;
  const report = join(reports, `${folder}.json`);
  mkdirSync(dirname(report), { recursive: true });
  rmSync(report, { force: true });
  status = vitest([...args, `--outputFile.json=${report}`]);
  if (existsSync(report)) console.log(`\n${name}: ${line(counts(report))}`);
} else if (args.length > 0) {
  const report = join(mkdtempSync(join(tmpdir(), 'kiln-tests-')), 'report.json');
  status = vitest([...args, `--outputFile.json=${report}`]);
  if (existsSync(report)) console.log(`\n${line(counts(report))}`);
} else {
  // Reports of an earlier run must not be counted: nx restores those of cached packages.
  rmSync(join(reports, 'packages'), { recursive: true, force: true });
  status = run(process.execPath, [nx, 'run-many', '-t', 'test']);
  const total = { passed: 0, failed: 0, skipped: 0 };
  const missing = [];
  for (const [name, dir] of testProjects()) {
    const report = join(reports, `${dir}.json`);
    if (!existsSync(report)) { missing.push(name); continue; }
    const c = counts(report);
    for (const k of Object.keys(total)) total[k] += c[k];
  }
  if (missing.length > 0) {
    console.log(`\nno test report from ${missing.join(', ')} (their tests did not run: see the nx output above)`);
    status ||= 1;
  }
  console.log(`\n${line(total)}`);
}
process.exit(status);
