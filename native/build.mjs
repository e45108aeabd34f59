#!/usr/bin/env node
// Builds the native addons with cmake-js into build/Release beside this file, where the loader
// looks first: `npm run build -w @kiln/native` in the repository, `npx kiln-native-build` where
// @kiln/native is installed from npm (a platform without prebuilt addons). nvcc is looked for on
// PATH and in /usr/local/cuda/bin (CMake's check_language(CUDA) does not look there by itself);
// KILN_CUDA=OFF skips the CUDA addon, KILN_CUDA_ARCHS picks its GPUs (CMakeLists.txt).
// KILN_CUDA is ON unless set to OFF, on every build: an earlier KILN_CUDA=OFF build does not stay in
// CMake's cache, so the build depends on its inputs only (nx's cache relies on it). KILN_CUDA_ARCHS
// (default dev) is passed on every build too, so that a build folder configured once for a release
// does not keep building all five architectures.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpus } from 'node:os';
import { CUDA_BIN, findNvcc } from './find-nvcc.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const env = { ...process.env };
env.CMAKE_BUILD_PARALLEL_LEVEL ??= String(cpus().length);
if (findNvcc() === join(CUDA_BIN, 'nvcc') && !(env.PATH ?? '').split(':').includes(CUDA_BIN)) {
  env.PATH = `${env.PATH}:${CUDA_BIN}`;
}
// cmake-js is a dependency of this package: resolved from here, hoisted or not.
const cmakeJs = createRequire(import.meta.url).resolve('cmake-js/bin/cmake-js');
// KILN_BUILD_DIR lets several builds (e.g. CPU-only work trees) live side by side.
const out = env.KILN_BUILD_DIR ?? 'build';
const cuda = env.KILN_CUDA === 'OFF' ? 'OFF' : 'ON';
const archs = env.KILN_CUDA_ARCHS || 'dev';
const cmake = (command, ...defines) =>
  spawnSync(process.execPath, [cmakeJs, command, '--out', out, `--CDKILN_CUDA=${cuda}`, `--CDKILN_CUDA_ARCHS=${archs}`, ...defines], { cwd: here, env, stdio: 'inherit' }).status ?? 1;

// `cmake-js compile` configures only a new build folder: an existing one keeps in CMakeCache.txt the
// KILN_CUDA and KILN_CUDA_ARCHS of its first configuration, and the nvcc it found or did not find
// then. Configure again when any of them no longer holds.
const cachePath = join(here, out, 'CMakeCache.txt');
const cache = existsSync(cachePath) ? readFileSync(cachePath, 'utf8') : null;
const nvcc = findNvcc(env.PATH);
// (check_language(CUDA) does not look again once it cached NOTFOUND: name the compiler it missed)
const missed = cache !== null && cuda === 'ON' && nvcc !== null && /^CMAKE_CUDA_COMPILER:\w+=CMAKE_CUDA_COMPILER-NOTFOUND$/m.test(cache);
const changed = cache !== null && (/^KILN_CUDA:BOOL=(\w+)$/m.exec(cache)?.[1] !== cuda ||
  /^KILN_CUDA_ARCHS:STRING=(.*)$/m.exec(cache)?.[1] !== archs);
if (missed || changed) {
  const status = missed ? cmake('configure', `--CDCMAKE_CUDA_COMPILER=${nvcc}`) : cmake('configure');
  if (status !== 0) process.exit(status);
}
process.exit(cmake('compile'));
