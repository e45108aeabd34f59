import { readdirSync, existsSync } from 'node:fs';
import { defineConfig } from 'vitest/config';

// One vitest project per package and per example with tests (named after its folder); tests import
// packages through the '@kiln/source' export condition, so they run on the TypeScript sources
// without a build.
const withTests = (root: string): string[] =>
  readdirSync(new URL(`./${root}`, import.meta.url)).filter((p) => existsSync(`${root}/${p}/test`)).map((p) => `${root}/${p}`);
const projects = [...withTests('packages'), ...withTests('examples')];

export default defineConfig({
  resolve: { conditions: ['@kiln/source'] },
  ssr: { resolve: { conditions: ['@kiln/source'] } },
  test: {
    projects: projects.map((dir) => ({
      extends: true as const,
      test: { name: dir.split('/')[1], include: [`${dir}/test/**/*.test.ts`] },
    })),
    setupFiles: ['tools/vitest-setup.ts'],
    pool: 'forks',
    testTimeout: 60_000,
  },
});
