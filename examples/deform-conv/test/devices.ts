/**
 * The devices the tests run on: the CPU, and CUDA when `@kiln/cuda` registers a GPU. Where none is
 * present the CUDA blocks are skipped with the reason in their title; KILN_REQUIRE_CUDA=1 (the GPU
 * machine) makes a missing GPU a failure instead. Self-contained: the package's tests also run in a
 * project that installed Kiln from its tarballs, without Kiln's own test helpers.
 */
import { describe } from 'vitest';

let cudaReason: string | null = null;
try {
  const { cuda } = await import('@kiln/cuda');
  if (!cuda.isAvailable()) cudaReason = cuda.unavailableReason() ?? 'no CUDA device';
} catch (e) {
  cudaReason = `@kiln/cuda failed to load: ${(e as Error).message}`;
}
if (cudaReason !== null && process.env.KILN_REQUIRE_CUDA === '1') throw new Error(`KILN_REQUIRE_CUDA=1 but CUDA is unavailable: ${cudaReason}`);

/** Why CUDA tests do not run here, or null when they do. */
export const cudaUnavailable = cudaReason;

/** describe() once per device; the CUDA block is skipped, with the reason, where there is no GPU. */
export function forEachDevice(title: string, body: (device: 'cpu' | 'cuda') => void): void {
  describe(`${title} [cpu]`, () => body('cpu'));
  if (cudaReason === null) describe(`${title} [cuda]`, () => body('cuda'));
  else describe.skip(`${title} [cuda] (skipped: ${cudaReason})`, () => body('cuda'));
}
