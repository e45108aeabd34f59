#!/usr/bin/env node
// Rewrites the snippet blocks of the guides (docs/*.md) from their files in docs/snippets/, so the
// code a guide shows is the code the tests run (packages/docs-check/test/snippets.test.ts):
//
//   node tools/sync-snippets.mjs           rewrite the guides
//   node tools/sync-snippets.mjs --check   change nothing; exit 1 if a guide is out of date
//
// Anchored excerpt blocks (`path#name`: a region of a repository file between its ANCHOR lines) are
// rewritten from the file too. Plain excerpt blocks (lines quoted from a file that cannot hold the
// anchors' comments, like package.json) cannot be: a stale one is reported, to be fixed by hand.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { anchoredRegion, findBlocks, guides, renderBlock, repoRoot, snippetsDir } from './snippet-blocks.mjs';

const check = process.argv.includes('--check');
let problems = 0;

for (const guide of guides()) {
  const name = relative(repoRoot, guide);
  const text = readFileSync(guide, 'utf8');
  let out = '';
  let at = 0;
  for (const b of findBlocks(text)) {
    out += text.slice(at, b.start);
    at = b.end;
    const region = b.kind === 'excerpt' ? anchoredRegion(b.path) : null;
    if (region instanceof Error) {
      console.error(`${name}: excerpt ${b.path}: ${region.message}`);
      problems++;
      out += text.slice(b.start, b.end);
      continue;
    }
    if (typeof region === 'string') {
      if (region !== b.body) {
        console.log(`${name}: ${check ? 'out of date' : 'updated'}: ${b.path}`);
        if (check) problems++;
      }
      out += renderBlock('excerpt', b.path, b.lang, region);
      continue;
    }
    if (b.kind === 'excerpt') {
      const file = join(repoRoot, b.path);
      if (!existsSync(file) || !readFileSync(file, 'utf8').includes(b.body)) {
        console.error(`${name}: the excerpt of ${b.path} is no longer in that file: update it by hand`);
        problems++;
      }
      out += text.slice(b.start, b.end);
      continue;
    }
    const file = join(snippetsDir, b.path);
    if (!existsSync(file)) {
      console.error(`${name}: snippet ${b.path} has no file docs/snippets/${b.path}`);
      problems++;
      out += text.slice(b.start, b.end);
      continue;
    }
    let body = readFileSync(file, 'utf8');
    if (!body.endsWith('\n')) body += '\n';
    if (body !== b.body) {
      console.log(`${name}: ${check ? 'out of date' : 'updated'}: ${b.path}`);
      if (check) problems++;
    }
    out += renderBlock('snippet', b.path, b.lang, body);
  }
  out += text.slice(at);
  if (!check && out !== text) writeFileSync(guide, out);
}
if (problems > 0) {
  console.error(`${problems} problem(s)${check ? ': run node tools/sync-snippets.mjs' : ''}`);
  process.exit(1);
}
