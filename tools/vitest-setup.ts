// Loaded before every test file: registers the CUDA device when @kiln/cuda can load it, so the
// shared op suites run on every device present. Why CUDA is unavailable is kept for skip notices.
const g = globalThis as { __kilnCudaUnavailable?: string };
try {
  const m = await import('@kiln/cuda');
  if (!m.cuda.isAvailable()) g.__kilnCudaUnavailable = m.cuda.unavailableReason() ?? 'unknown';
} catch (e) {
  g.__kilnCudaUnavailable = `@kiln/cuda failed to load: ${(e as Error).message}`;
}
