// How matrix products are described to cuBLASLt (native/cuda/cublaslt_layout.h), checked without
// a GPU: fixtures/cublaslt-layout-check.cc runs 3000 random products (broadcast, permuted, padded
// and stepped operands) through mm::make_problem and lt_layout, computes the described ones with an
// emulation of cublasLtMatmul's column-major contract and compares them with the row-major
// reference. The GPU runs the same descriptions for real in the matmul suites' cuBLASLt path.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const compiler = ['c++', 'g++', 'clang++'].find((c) => spawnSync(c, ['--version']).status === 0);

describe.skipIf(!compiler)(`cuBLASLt layouts${compiler ? '' : ' (skipped: no C++ compiler on PATH)'}`, () => {
  it('every product lt_layout describes computes the reference; most random products are described', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kiln-lt-'));
    try {
      const exe = join(dir, 'check');
      execFileSync(compiler!, ['-std=c++17', '-O1', '-I', join(root, 'native', 'include'), '-I', join(root, 'native', 'cuda'), '-o', exe,
        join(root, 'packages', 'cuda', 'test', 'fixtures', 'cublaslt-layout-check.cc'), join(root, 'native', 'core', 'kernel_registry.cc')]);
      const r = spawnSync(exe, [], { encoding: 'utf8' });
      expect(r.stdout).toMatch(/described \d+ of 3000 problems \(declined \d+\), max error 0/);
      expect(r.status, r.stdout).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
