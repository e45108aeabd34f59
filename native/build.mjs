// Builds the native addons with cmake-js. nvcc is looked for on PATH and in /usr/local/cuda/bin
// (CMake's check_language(CUDA) does not look there by itself); KILN_CUDA=OFF skips the CUDA addon.
// KILN_CUDA is passed to CMake on every build, ON unless it is OFF: a cached value would otherwise
// survive, and a build folder configured once with KILN_CUDA=OFF would silently never build the
// CUDA addon again.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpus } from 'node:os';

const here = dirname(fileURLToPath(import.meta.url));
const env = { ...process.env };
env.CMAKE_BUILD_PARALLEL_LEVEL ??= String(cpus().length);
if (existsSync('/usr/local/cuda/bin/nvcc') && !(env.PATH ?? '').split(':').includes('/usr/local/cuda/bin')) {
  env.PATH = `${env.PATH}:/usr/local/cuda/bin`;
}
const cmakeJs = join(here, '..', 'node_modules', 'cmake-js', 'bin', 'cmake-js');
// KILN_BUILD_DIR lets several builds (e.g. CPU-only work trees) live side by side.
const args = [cmakeJs, 'compile', '--out', env.KILN_BUILD_DIR ?? 'build'];
args.push(`--CDKILN_CUDA=${env.KILN_CUDA === 'OFF' ? 'OFF' : 'ON'}`);
const r = spawnSync(process.execPath, args, { cwd: here, env, stdio: 'inherit' });
process.exit(r.status ?? 1);
