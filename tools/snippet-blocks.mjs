// The guides' code blocks that are copies of files, shared by tools/sync-snippets.mjs (which
// rewrites them) and packages/docs-check/test/snippets.test.ts (which checks them). Two kinds:
//
//   <!-- snippet: getting-started/tensors.ts -->        the whole of docs/snippets/getting-started/tensors.ts,
//   ```ts                                               a runnable file the tests execute
//   ...
//   ```
//   <!-- /snippet -->
//
//   <!-- excerpt: native/include/kiln/math/elementwise_ops.h -->   consecutive lines of a repository
//   ```cpp                                                          file (path from the repository root),
//   ...                                                             quoted in a guide; the tests check
//   ```                                                             they are still in that file
//   <!-- /excerpt -->
//
//   <!-- excerpt: examples/deform-conv/native/deform_conv.cu#im2col -->   the region of a file between
//   ```cpp                                                               its lines holding `ANCHOR: im2col`
//   ...                                                                  and `ANCHOR_END: im2col` (in a
//   ```                                                                  comment, as mdBook's anchors):
//   <!-- /excerpt -->                                                    rewritten from the file like a
//                                                                        snippet, so it cannot drift
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root. */
export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
/** Where the guides are. */
export const docsDir = join(repoRoot, 'docs');
/** Where the snippet files are. */
export const snippetsDir = join(docsDir, 'snippets');

const BLOCK = /<!-- (snippet|excerpt): (\S+) -->\n```(\w*)\n([\s\S]*?)```\n<!-- \/\1 -->/g;

/**
 * The file-backed blocks of a Markdown text, in order: kind, path (relative to docs/snippets for a
 * snippet, to the repository root for an excerpt), fence language, body (the text between the
 * fences, ending with a newline), and where the whole block starts and ends in the text.
 */
export function findBlocks(markdown) {
  return [...markdown.matchAll(BLOCK)].map((m) => ({
    kind: m[1],
    path: m[2],
    lang: m[3],
    body: m[4],
    start: m.index,
    end: m.index + m[0].length,
  }));
}

/** The Markdown of a block with the given body (which must end with a newline). */
export function renderBlock(kind, path, lang, body) {
  return `<!-- ${kind}: ${path} -->\n\`\`\`${lang}\n${body}\`\`\`\n<!-- /${kind} -->`;
}

/** Absolute paths of the guides (docs/*.md). */
export function guides() {
  return readdirSync(docsDir).filter((f) => f.endsWith('.md')).sort().map((f) => join(docsDir, f));
}

/** Paths of the snippet files, relative to docs/snippets ('getting-started/tensors.ts'). */
export function snippetFiles() {
  return readdirSync(snippetsDir, { recursive: true })
    .map(String)
    .filter((f) => f.endsWith('.ts'))
    .map((f) => f.split('\\').join('/'))
    .sort();
}

const ANCHOR_LINE = /\bANCHOR(_END)?: \S+/;

/**
 * What an anchored excerpt (`path#name`) quotes: the lines of the file strictly between the one
 * holding `ANCHOR: name` and the one holding `ANCHOR_END: name`, without the anchor lines of other
 * regions inside it, ending with a newline. null for an excerpt without an anchor; an Error (not
 * thrown) when the file or its anchors are missing.
 */
export function anchoredRegion(excerptPath) {
  const hash = excerptPath.indexOf('#');
  if (hash < 0) return null;
  const [path, name] = [excerptPath.slice(0, hash), excerptPath.slice(hash + 1)];
  const file = join(repoRoot, path);
  if (!existsSync(file)) return new Error(`${path} does not exist`);
  const lines = readFileSync(file, 'utf8').split('\n');
  const at = (tag) => lines.findIndex((l) => new RegExp(`\\b${tag}: ${name}(\\s|$)`).test(l));
  const [start, end] = [at('ANCHOR'), at('ANCHOR_END')];
  if (start < 0 || end < start) return new Error(`${path} has no region between 'ANCHOR: ${name}' and 'ANCHOR_END: ${name}'`);
  const region = lines.slice(start + 1, end).filter((l) => !ANCHOR_LINE.test(l));
  return region.length === 0 ? new Error(`${path}'s region ${name} is empty`) : `${region.join('\n')}\n`;
}
