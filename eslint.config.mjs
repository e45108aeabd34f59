// Lint for every TypeScript file the root tsconfig.json type-checks, with typescript-eslint's
// type-aware rules (they read the types tsc infers: floating promises, unsafe `any` flows,
// conditions that are always true, awaits of non-promises...). `npm run lint` runs it; CI runs it
// before the tests.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: ['**/dist/**', '**/node_modules/**', 'native/build/**', 'examples/*/build/**', 'out/**', '.gpu-pack/**', 'docs/api/**', '**/*.js', '**/*.mjs', '**/*.cjs'],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        // One program for the whole tree: the root tsconfig.json already includes every source,
        // test, tool, example and guide snippet (with the @kiln/source condition).
        project: './tsconfig.json',
        tsconfigRootDir: import.meta.dirname,
      },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // A leading underscore marks a parameter or binding that is there for its position only
      // (an interface's argument, a destructured slot), as in PyTorch's `_ctx` habit.
      '@typescript-eslint/no-unused-vars': ['error', {
        argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_',
      }],
      // Messages and test names print numbers, booleans, shapes (arrays: "2,3") and devices
      // ('cuda:0', Device.toString) in templates; objects without a toString stay errors.
      '@typescript-eslint/restrict-template-expressions': ['error', {
        allowNumber: true, allowBoolean: true, allowArray: true, allowNullish: false,
        allow: [{ from: 'file', name: ['Device', 'Tensor'] }],
      }],
    },
  },
  {
    // Examples are packages built outside the repository against the published packages: the
    // '@kiln/source'-only subpaths (the repository's test helpers, @kiln/*/testing) do not exist there.
    files: ['examples/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ regex: '^@kiln/[^/]+/testing', message: 'not published: use the public API (see docs/writing-an-extension.md, Tests)' }] }],
    },
  },
);
