// Where the build finds nvcc: on PATH, or in /usr/local/cuda/bin (where CMake's check_language(CUDA)
// does not look by itself). build.mjs adds that folder to PATH; run as a script, this prints the path
// (or 'none'), which nx hashes as an input of the native build (project.json): a build made without
// nvcc is not reused where nvcc is present.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const CUDA_BIN = '/usr/local/cuda/bin';

/** The nvcc the build would use with this PATH, or null. */
export function findNvcc(path = process.env.PATH ?? '') {
  for (const dir of [...path.split(':').filter(Boolean), CUDA_BIN]) {
    if (existsSync(join(dir, 'nvcc'))) return join(dir, 'nvcc');
  }
  return null;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) console.log(findNvcc() ?? 'none');
