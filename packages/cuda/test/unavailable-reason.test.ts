// Why CUDA is unavailable, as the test notice prints it: a build configured with KILN_CUDA=OFF, a
// build that found no nvcc, and a build too old to say are told apart (native/CMakeLists.txt notes
// the cause beside kiln_cpu.node). Each case loads @kiln/cuda in a fresh Node process pointed by
// KILN_NATIVE_DIR at a folder holding the CPU addon and that note.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { addonPath } from '@kiln/tensor';

const cpuAddon = addonPath('kiln_cpu.node');
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** cuda.unavailableReason() in a process whose native folder has the CPU addon and `note`, if any. */
function reasonWith(note: string | null): string {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-native-'));
  dirs.push(dir);
  symlinkSync(cpuAddon!, join(dir, 'kiln_cpu.node'));
  if (note !== null) writeFileSync(join(dir, 'kiln_cuda.skipped'), `${note}\n`);
  const r = spawnSync(process.execPath, [
    '--conditions=@kiln/source', '--import', 'tsx', '--input-type=module',
    '-e', "const { cuda } = await import('@kiln/cuda'); console.log(cuda.unavailableReason());",
  ], { env: { ...process.env, KILN_NATIVE_DIR: dir }, encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout.trim();
}

describe.skipIf(cpuAddon === null)('the reason CUDA is unavailable', () => {
  it('names a build configured with KILN_CUDA=OFF', () => {
    const reason = reasonWith('the build was configured with KILN_CUDA=OFF');
    expect(reason).toContain('kiln_cuda.node is not built: the build was configured with KILN_CUDA=OFF');
    expect(reason).toContain('npm run build -w @kiln/native');
  });

  it('names a build that found no nvcc', () => {
    expect(reasonWith('nvcc was not found (looked on PATH, in CUDACXX, CUDA_PATH and /usr/local/cuda/bin)'))
      .toContain('kiln_cuda.node is not built: nvcc was not found');
  });

  it('says when the build did not note a cause, rather than guessing one', () => {
    const reason = reasonWith(null);
    expect(reason).toContain('the build did not say why');
    expect(reason).not.toMatch(/nvcc was not found|KILN_CUDA=OFF/);
  });
});
