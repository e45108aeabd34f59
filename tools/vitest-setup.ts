// Loaded before every test file: registers the CUDA device when @kiln/cuda can load it, so the
// shared op suites run on every device present. Why CUDA is unavailable is kept for skip notices,
// and the switches of NVIDIA's libraries are handed to @kiln/tensor/testing's forEachDensePath
// (which runs the dense-op suites through each path on CUDA), as @kiln/tensor cannot import
// @kiln/cuda.
const g = globalThis as { __kilnCudaUnavailable?: string; __kilnDenseLibraries?: unknown };
try {
  const m = await import('@kiln/cuda');
  if (!m.cuda.isAvailable()) g.__kilnCudaUnavailable = m.cuda.unavailableReason() ?? 'unknown';
  g.__kilnDenseLibraries = {
    status: (lib: 'cublasLt' | 'cudnn') => m.cudaLibraries()[lib],
    setEnabled: (lib: 'cublasLt' | 'cudnn', on: boolean) => m.setLibraryEnabled(lib, on),
    setCudnnGraph: (on: boolean) => m.setCudnnGraph(on),
    graphFallbackReason: () => m.cudnnGraphFallbackReason(),
    counts: () => m.denseCallCounts(),
  };
} catch (e) {
  g.__kilnCudaUnavailable = `@kiln/cuda failed to load: ${(e as Error).message}`;
}
