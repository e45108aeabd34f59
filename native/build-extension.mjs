#!/usr/bin/env node
// kiln-build-extension [folder]: builds the Kiln extension library of a package (default: the
// current folder), whose CMakeLists.txt calls find_package(Kiln) and kiln_add_extension. CMake
// configures it with Kiln_DIR set to this package's cmake/ folder (Kiln's CMake package: the
// installed headers, the CUDA architectures of Kiln's addon) and builds it into <folder>/build.
// nvcc is looked for on PATH and in /usr/local/cuda/bin (CMake does not look there by itself);
// KILN_CUDA=OFF leaves the CUDA kernels out, KILN_CUDA_ARCHS picks their GPUs (as for Kiln's addons);
// KILN_EXTENSION_BUILD_DIR names another build folder.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const source = resolve(process.argv[2] ?? process.cwd());
const build = resolve(source, process.env.KILN_EXTENSION_BUILD_DIR ?? 'build');
const env = { ...process.env };
env.CMAKE_BUILD_PARALLEL_LEVEL ??= String(cpus().length);
if (existsSync('/usr/local/cuda/bin/nvcc') && !(env.PATH ?? '').split(':').includes('/usr/local/cuda/bin')) {
  env.PATH = `${env.PATH}:/usr/local/cuda/bin`;
}
if (!existsSync(join(source, 'CMakeLists.txt'))) {
  console.error(`kiln-build-extension: ${source} has no CMakeLists.txt (it needs find_package(Kiln) and kiln_add_extension)`);
  process.exit(1);
}

function run(args) {
  const r = spawnSync('cmake', args, { env, stdio: 'inherit' });
  if (r.error) {
    console.error(`kiln-build-extension: cannot run cmake (${r.error.message}): install CMake 3.20 or later`);
    process.exit(1);
  }
  if (r.status !== 0) process.exit(r.status ?? 1);
}

// KILN_CUDA_ARCHS (cmake/KilnCuda.cmake: release, dev or a list; default dev, as Kiln's own build) is
// passed on every build, so that a build folder configured once for a release does not keep it.
run(['-S', source, '-B', build, `-DKiln_DIR=${join(here, 'cmake')}`, '-DCMAKE_BUILD_TYPE=Release',
  `-DKILN_CUDA=${env.KILN_CUDA === 'OFF' ? 'OFF' : 'ON'}`, `-DKILN_CUDA_ARCHS=${env.KILN_CUDA_ARCHS || 'dev'}`]);
run(['--build', build]);
