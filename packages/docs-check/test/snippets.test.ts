/**
 * The guides' code cannot go stale: each snippet block of docs/*.md must equal its file in
 * docs/snippets/ (tools/sync-snippets.mjs rewrites the blocks from the files), each anchored excerpt
 * block (`path#name`) must equal the region of its file between the ANCHOR lines (rewritten by the
 * same tool), each plain excerpt block must still be in the source file it quotes, and every
 * snippet file runs here (on the CPU; those that use CUDA check cuda.isAvailable() and say when it
 * is not).
 */
import { existsSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { anchoredRegion, findBlocks, guides, repoRoot, snippetFiles, snippetsDir } from '../../../tools/snippet-blocks.mjs';

const allGuides = guides();
const quoted = new Set<string>();

describe('the guides quote their files exactly', () => {
  it('finds the guides and their blocks', () => {
    expect(allGuides.map((g) => basename(g))).toEqual(expect.arrayContaining([
      'getting-started.md', 'architecture.md', 'custom-functions.md', 'adding-an-op.md', 'writing-an-extension.md', 'gpu-machine.md', 'benchmarks.md',
    ]));
  });

  for (const guide of allGuides) {
    const text = readFileSync(guide, 'utf8');
    const blocks = findBlocks(text);
    // a marker the block pattern did not match (a typo, a missing closing marker) would go unchecked
    const markers = (text.match(/<!-- (snippet|excerpt): /g) ?? []).length;
    it(`${basename(guide)}: every snippet/excerpt marker opens a well-formed block`, () => {
      expect(blocks.length).toBe(markers);
    });
    for (const b of blocks) {
      if (b.kind === 'snippet') {
        quoted.add(b.path);
        it(`${basename(guide)}: snippet ${b.path} equals docs/snippets/${b.path}`, () => {
          const file = join(snippetsDir, b.path);
          expect(existsSync(file), `docs/snippets/${b.path} exists`).toBe(true);
          const content = readFileSync(file, 'utf8');
          expect(content.endsWith('\n'), 'the file ends with a newline').toBe(true);
          expect(b.body, `${basename(guide)} is out of date: run node tools/sync-snippets.mjs`).toBe(content);
        });
      } else if (b.path.includes('#')) {
        it(`${basename(guide)}: excerpt ${b.path} equals that region of the file`, () => {
          const region = anchoredRegion(b.path);
          expect(region instanceof Error ? region.message : '', 'the file and its anchors exist').toBe('');
          expect(b.body, `${basename(guide)} is out of date: run node tools/sync-snippets.mjs`).toBe(region);
        });
      } else {
        it(`${basename(guide)}: excerpt of ${b.path} is still in that file`, () => {
          const file = join(repoRoot, b.path);
          expect(existsSync(file), `${b.path} exists`).toBe(true);
          expect(readFileSync(file, 'utf8').includes(b.body), `the excerpt of ${b.path} in ${basename(guide)} is stale:\n${b.body}`).toBe(true);
        });
      }
    }
  }

  it('every snippet file is shown by some guide', () => {
    expect(snippetFiles().filter((f) => !quoted.has(f))).toEqual([]);
  });
});

// a few snippets train a ResNet for a step or two: seconds alone, minutes on a busy 2-core machine (a cap, not a speed check)
const SNIPPET_CAP = { timeout: 300_000 };

describe('every snippet runs', () => {
  for (const file of snippetFiles()) {
    it(`docs/snippets/${file}`, SNIPPET_CAP, async () => {
      // a snippet is a module: importing it runs it; its asserts throw if it goes wrong
      await import(join(snippetsDir, file));
    });
  }
});
