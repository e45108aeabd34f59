import { defineConfig } from 'vitest/config';

// The package's own test run (`npm test` here, or in a project that installed Kiln from its
// tarballs); inside Kiln's repository the root vitest.config.ts runs these tests as a project.
export default defineConfig({
  test: { include: ['test/**/*.test.ts'], pool: 'forks', testTimeout: 120_000 },
});
