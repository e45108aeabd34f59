#!/usr/bin/env node
// Checks (default) or rewrites (--fix) the layout of every tracked C, C++ and CUDA file with
// clang-format and the repository's .clang-format. clang-format comes from the clang-format-node
// devDependency, so `npm ci` is all a fresh machine needs. Exit status 1 names the files to fix.
//
//   node tools/lint/format-native.mjs          # check, as CI does
//   node tools/lint/format-native.mjs --fix    # rewrite in place
import { execFileSync, spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { fix: { type: 'boolean', default: false } }, strict: true });
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const patterns = ['*.cc', '*.h', '*.cu', '*.cuh', '*.inc'];
const files = execFileSync('git', ['ls-files', '-z', '--', ...patterns], { cwd: root, encoding: 'utf8' })
  .split('\0')
  .filter((f) => f !== '');

// The package's binary for this platform (its bin script only forwards to it).
const require = createRequire(import.meta.url);
const { clangFormatPath: clangFormat } = require('clang-format-node');

const args = values.fix ? ['-i', ...files] : ['--dry-run', '--Werror', ...files];
const run = spawnSync(clangFormat, ['--style=file', ...args], { cwd: root, encoding: 'utf8', maxBuffer: 1 << 28 });
if (run.error) throw run.error;
if (run.status !== 0) {
  const bad = [...new Set([...run.stderr.matchAll(/^(\S+?):\d+:\d+: (?:error|warning)/gm)].map((m) => m[1]))];
  process.stderr.write(run.stderr.split('\n').slice(0, 40).join('\n') + '\n');
  console.error(`format-native: ${bad.length} file(s) differ from .clang-format; run \`npm run format\` to rewrite them:\n  ${bad.join('\n  ')}`);
  process.exit(1);
}
console.log(`format-native: ${files.length} files ${values.fix ? 'formatted' : 'match .clang-format'}`);
