/**
 * NVIDIA's libraries as the CUDA device uses them: which were found, which path each dense op
 * family takes, and the switches (PyTorch's `torch.backends.cudnn.enabled` / `.benchmark` in
 * spirit). The addon loads cuBLASLt and cuDNN at run time from where they are installed (see
 * docs/architecture.md, "NVIDIA's libraries"); where one is missing, its ops run on Kiln's own
 * kernels and a warning says so once.
 */
import { ValueError } from '@kiln/tensor';
import { type CudaLibraries, type CudaLibraryStatus, type DenseCallCounts, loadedCudaAddon, unavailableReason } from './backend.js';

/** A library the CUDA device can use or not. */
export type CudaLibrary = 'cublasLt' | 'cudnn';
/** The op families whose speed depends on a library. */
export type DenseOpFamily = 'matmul' | 'linear' | 'conv2d';
/** Who runs an op family's products: cuBLASLt, cuDNN, or Kiln's own kernels. */
export type DenseComputePath = 'cublasLt' | 'cudnn' | 'kiln';

const LIBRARIES: readonly CudaLibrary[] = ['cublasLt', 'cudnn'];

function notLoaded(): CudaLibraryStatus {
  return { available: false, enabled: false, version: null, path: null, reason: `the CUDA addon is unavailable: ${unavailableReason ?? 'unknown'}` };
}

/**
 * What the CUDA device found of NVIDIA's libraries: for cuBLASLt, cuDNN and NVRTC, whether each is
 * available and enabled, its version and path, or why not (where Kiln looked). Loads them on the
 * first call. Works without a GPU, as long as the CUDA addon is built.
 *
 * @example
 * ```ts
 * import { cudaLibraries } from '@kiln/cuda';
 * const { cublasLt, cudnn } = cudaLibraries();
 * console.log(cublasLt.available ? `cuBLASLt ${cublasLt.version} at ${cublasLt.path}` : cublasLt.reason);
 * ```
 */
export function cudaLibraries(): CudaLibraries {
  const a = loadedCudaAddon();
  if (!a) return { cublasLt: notLoaded(), cudnn: notLoaded(), nvrtc: notLoaded() };
  return a.libraries();
}

/**
 * Which path an op family takes on CUDA now: 'cublasLt' for matmul / linear and 'cudnn' for conv2d
 * when the library is available and enabled, else 'kiln' (Kiln's own kernels; conv2d then runs
 * im2col and the matrix product, itself on cuBLASLt when that is available). Integer matmuls always
 * take Kiln's kernel.
 *
 * @example
 * ```ts
 * import { denseComputePath } from '@kiln/cuda';
 * console.log(denseComputePath('matmul'), denseComputePath('conv2d'));   // e.g. 'cublasLt' 'cudnn'
 * ```
 */
export function denseComputePath(op: DenseOpFamily): DenseComputePath {
  const lib: CudaLibrary | undefined = op === 'conv2d' ? 'cudnn' : op === 'matmul' || op === 'linear' ? 'cublasLt' : undefined;
  if (!lib) throw new ValueError('denseComputePath', 'op', "'matmul', 'linear' or 'conv2d'", String(op));
  const s = cudaLibraries()[lib];
  return s.available && s.enabled ? lib : 'kiln';
}

/**
 * Lets the CUDA device use a library, or not (its op family then runs on Kiln's own kernels), for
 * the rest of the process or until switched again; as `torch.backends.cudnn.enabled`. The
 * environment variables KILN_DISABLE_CUBLASLT=1 and KILN_DISABLE_CUDNN=1 switch one off from the
 * start (it is then not even loaded). Enabling a library that is not available changes nothing.
 *
 * @example
 * ```ts
 * import { setLibraryEnabled } from '@kiln/cuda';
 * setLibraryEnabled('cudnn', false);   // conv2d on Kiln's im2col path
 * setLibraryEnabled('cudnn', true);
 * ```
 */
export function setLibraryEnabled(library: CudaLibrary, enabled: boolean): void {
  if (!LIBRARIES.includes(library)) throw new ValueError('setLibraryEnabled', 'library', "'cublasLt' or 'cudnn'", String(library));
  if (typeof enabled !== 'boolean') throw new ValueError('setLibraryEnabled', 'enabled', 'a boolean', String(enabled));
  loadedCudaAddon()?.setLibraryEnabled(library, enabled);
}

/**
 * As `torch.backends.cudnn.benchmark = on`: with it, the first convolution of each shape times
 * the engine configurations cuDNN's heuristics list that suit the precision, and one with default
 * knobs for each other engine cuDNN has for the problem (on the call's own operands; a scratch
 * output where the call accumulates into its output), and keeps the fastest; without it (the
 * default) the heuristics' first is taken. Either way the choice is cached per shape. A problem
 * the graph API declines is searched by the legacy API's cudnnFind*AlgorithmEx.
 *
 * @example
 * ```ts
 * import { setCudnnBenchmark } from '@kiln/cuda';
 * setCudnnBenchmark(true);   // fixed input shapes: worth the search
 * ```
 */
export function setCudnnBenchmark(on: boolean): void {
  if (typeof on !== 'boolean') throw new ValueError('setCudnnBenchmark', 'on', 'a boolean', String(on));
  loadedCudaAddon()?.setCudnnBenchmark(on);
}

/**
 * Whether cuDNN's algorithms are chosen by timing (see {@link setCudnnBenchmark}).
 *
 * @example
 * ```ts
 * console.log(getCudnnBenchmark());   // false unless switched on
 * ```
 */
export function getCudnnBenchmark(): boolean {
  return loadedCudaAddon()?.cudnnBenchmark() ?? false;
}

/**
 * Which of cuDNN's APIs runs the convolutions: `true` (the default) its graph API, with an
 * execution plan chosen by cuDNN's heuristics once per shape and cached, as PyTorch runs it; `false`
 * the legacy `cudnnConvolution*` calls, which cost more host time per call (they also run
 * whatever the graph API declines, and its benchmark search: {@link setCudnnBenchmark}). The
 * environment variable KILN_CUDNN_GRAPH=0 starts a process with `false`. Both give the same
 * results within cuDNN's algorithms' rounding; the switch is for comparing them.
 *
 * @example
 * ```ts
 * import { setCudnnGraph } from '@kiln/cuda';
 * setCudnnGraph(false);   // the legacy API, e.g. to compare host times
 * ```
 */
export function setCudnnGraph(on: boolean): void {
  if (typeof on !== 'boolean') throw new ValueError('setCudnnGraph', 'on', 'a boolean', String(on));
  loadedCudaAddon()?.setCudnnGraph(on);
}

/**
 * Whether the convolutions go through cuDNN's graph API (see {@link setCudnnGraph}).
 *
 * @example
 * ```ts
 * console.log(getCudnnGraph());   // true unless switched off
 * ```
 */
export function getCudnnGraph(): boolean {
  return loadedCudaAddon()?.cudnnGraph() ?? true;
}

/**
 * Why cuDNN's graph API last failed to build a convolution's plan (a cuDNN call's error), or null
 * when it never did: such a convolution runs on the legacy API instead, with the same results, so
 * only this and `denseCallCounts().conv2dCudnnGraph` show it. A debugging aid.
 *
 * @example
 * ```ts
 * console.log(cudnnGraphFallbackReason() ?? 'every convolution planned on the graph API');
 * ```
 */
export function cudnnGraphFallbackReason(): string | null {
  return loadedCudaAddon()?.cudnnGraphFallbackReason() ?? null;
}

/**
 * How many matrix products and convolutions each path has run in this process: a debugging aid
 * (and what Kiln's tests read to check that the path they meant to exercise is the one that ran).
 *
 * @example
 * ```ts
 * const before = denseCallCounts().matmulCublasLt;
 * a.matmul(b);
 * console.log(denseCallCounts().matmulCublasLt - before);   // 1 where cuBLASLt ran it
 * ```
 */
export function denseCallCounts(): DenseCallCounts {
  return loadedCudaAddon()?.denseCallCounts() ?? { matmulCublasLt: 0, matmulKiln: 0, conv2dCudnn: 0, conv2dCudnnGraph: 0, conv2dKiln: 0 };
}

export type { CudaLibraries, CudaLibraryStatus, DenseCallCounts };
