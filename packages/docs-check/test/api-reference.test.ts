/**
 * `npm run docs` documents every package: typedoc.json's entry points must list each package that
 * has a public entry (packages/<name>/src/index.ts), so a new package cannot be left out of the API
 * reference. (Whether every export has a doc comment is typedoc's own check: its `notDocumented`
 * validation with `treatWarningsAsErrors` makes `npm run docs` fail.)
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { repoRoot } from '../../../tools/snippet-blocks.mjs';

interface TypedocConfig {
  entryPointStrategy?: string;
  entryPoints?: string[];
  treatWarningsAsErrors?: boolean;
  packageOptions?: { entryPoints?: string[]; validation?: { notDocumented?: boolean } };
}

const config = JSON.parse(readFileSync(join(repoRoot, 'typedoc.json'), 'utf8')) as TypedocConfig;

it('typedoc.json lists every package with a src/index.ts', () => {
  const packages = readdirSync(join(repoRoot, 'packages'))
    .filter((p) => existsSync(join(repoRoot, 'packages', p, 'src', 'index.ts')))
    .map((p) => `packages/${p}`)
    .sort();
  expect(config.entryPointStrategy).toBe('packages');
  expect([...(config.entryPoints ?? [])].sort()).toEqual(packages);
});

it('typedoc fails on undocumented exports', () => {
  expect(config.packageOptions?.entryPoints).toEqual(['src/index.ts']);
  expect(config.packageOptions?.validation?.notDocumented).toBe(true);
  expect(config.treatWarningsAsErrors).toBe(true);
});
