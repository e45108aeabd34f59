import { readdirSync, existsSync } from 'node:fs';
import { defineConfig } from 'vitest/config';

// One vitest project per package (named after its folder); tests import packages through the
// '@kiln/source' export condition, so they run on the TypeScript sources without a build.
const packages = readdirSync(new URL('./packages', import.meta.url)).filter((p) => existsSync(`packages/${p}/test`));

export default defineConfig({
  resolve: { conditions: ['@kiln/source'] },
  ssr: { resolve: { conditions: ['@kiln/source'] } },
  test: {
    projects: packages.map((name) => ({
      extends: true as const,
      test: { name, include: [`packages/${name}/test/**/*.test.ts`] },
    })),
    setupFiles: ['tools/vitest-setup.ts'],
    pool: 'forks',
    testTimeout: 60_000,
  },
});
