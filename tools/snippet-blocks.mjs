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
import { readdirSync } from 'node:fs';
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
