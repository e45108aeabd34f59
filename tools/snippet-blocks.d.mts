// Types of tools/snippet-blocks.mjs (imported by packages/docs-check's test).
export interface Block {
  kind: 'snippet' | 'excerpt';
  path: string;
  lang: string;
  body: string;
  start: number;
  end: number;
}
export const repoRoot: string;
export const docsDir: string;
export const snippetsDir: string;
export function findBlocks(markdown: string): Block[];
export function renderBlock(kind: Block['kind'], path: string, lang: string, body: string): string;
export function guides(): string[];
export function snippetFiles(): string[];
export function anchoredRegion(excerptPath: string): string | Error | null;
