// NVIDIA's libraries as the CUDA device sees them: what cudaLibraries() reports (also without a
// GPU, as long as the addon is built), the environment variables (in child processes, since the
// libraries load once per process), the switches, and the warning for a missing library. The op
// suites themselves run through both paths in packages/tensor (forEachDensePath).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { type Tensor, ValueError, conv2d, randn } from '@kiln/tensor';
import '@kiln/autograd';   // Tensor.backward
import { cudaAvailable, expectClose } from '@kiln/tensor/testing';
import {
  type CudaLibraries, cudaLibraries, denseCallCounts, denseComputePath, getCudnnBenchmark, getCudnnGraph, setCudnnBenchmark, setCudnnGraph, setLibraryEnabled,
} from '@kiln/cuda';
import { loadedCudaAddon, missingLibraryWarnings } from '../src/backend.js';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const addonBuilt = loadedCudaAddon() !== null;

/** cudaLibraries() as a fresh process with `env` sees it. */
function librariesWith(env: Record<string, string>): CudaLibraries {
  const code = "const m = await import('@kiln/cuda'); console.log(JSON.stringify(m.cudaLibraries()));";
  const r = spawnSync(process.execPath, ['--conditions=@kiln/source', '--import', 'tsx', '--input-type=module', '-e', code], {
    cwd: root, env: { ...process.env, ...env }, encoding: 'utf8',
  });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as CudaLibraries;
}

describe('NVIDIA libraries', () => {
  it('cudaLibraries() reports each library: available with its version and path, or why not', () => {
    const libs = cudaLibraries();
    for (const name of ['cublasLt', 'cudnn', 'nvrtc'] as const) {
      const s = libs[name];
      if (s.available) {
        expect(s.version, name).toMatch(/^\d+(\.\d+\.\d+)?$/);
        expect(s.path, name).toMatch(/\.so/);
        expect(s.reason, name).toBeUndefined();
      } else {
        expect(s.reason, name).toBeTruthy();
      }
    }
    if (addonBuilt && !libs.cublasLt.available && libs.cublasLt.enabled) {
      // where Kiln looked and how to point it elsewhere
      expect(libs.cublasLt.reason).toContain('libcublasLt.so.13');
      expect(libs.cublasLt.reason).toContain('KILN_CUDA_LIBRARY_PATH');
      expect(libs.cublasLt.reason).toContain('/usr/local/cuda/lib64');
      expect(libs.cudnn.reason).toContain('libcudnn.so.9');
    }
  });

  it.runIf(process.env.KILN_REQUIRE_CUDA_LIBRARIES === '1')('finds cuBLASLt 12 or 13 and cuDNN 9 (the GPU machine)', () => {
    const libs = cudaLibraries();
    expect(libs.cublasLt.available, libs.cublasLt.reason).toBe(true);
    expect(libs.cublasLt.version).toMatch(/^1[23]\./);
    expect(libs.cudnn.available, libs.cudnn.reason).toBe(true);
    expect(libs.cudnn.version).toMatch(/^9\./);
    expect(denseComputePath('matmul')).toBe('cublasLt');
    expect(denseComputePath('linear')).toBe('cublasLt');
    expect(denseComputePath('conv2d')).toBe('cudnn');
  });

  it.runIf(addonBuilt)('KILN_DISABLE_CUBLASLT / KILN_DISABLE_CUDNN switch a library off before it loads; KILN_CUDA_LIBRARY_PATH is searched first', () => {
    const off = librariesWith({ KILN_DISABLE_CUBLASLT: '1', KILN_DISABLE_CUDNN: '1' });
    expect(off.cublasLt).toMatchObject({ available: false, enabled: false, path: null, reason: 'disabled by KILN_DISABLE_CUBLASLT' });
    expect(off.cudnn).toMatchObject({ available: false, enabled: false, path: null, reason: 'disabled by KILN_DISABLE_CUDNN' });
    const elsewhere = librariesWith({ KILN_CUDA_LIBRARY_PATH: '/nonexistent-kiln-a:/nonexistent-kiln-b' });
    for (const s of [elsewhere.cublasLt, elsewhere.cudnn]) {
      if (!s.available) expect(s.reason).toContain("KILN_CUDA_LIBRARY_PATH ('/nonexistent-kiln-a:/nonexistent-kiln-b')");
    }
    // the folders that do not exist change nothing where the libraries are installed
    const here = cudaLibraries();
    expect(elsewhere.cublasLt.available).toBe(here.cublasLt.available);
    expect(elsewhere.cudnn.available).toBe(here.cudnn.available);
  });

  it('setLibraryEnabled, denseComputePath, setCudnnBenchmark and setCudnnGraph check their arguments and switch', () => {
    expect(() => setLibraryEnabled('cublas' as never, false)).toThrow(ValueError);
    expect(() => setLibraryEnabled('cudnn', 1 as never)).toThrow(ValueError);
    expect(() => denseComputePath('conv3d' as never)).toThrow(ValueError);
    expect(() => setCudnnBenchmark('yes' as never)).toThrow(ValueError);
    const usable = cudaLibraries().cudnn.available;
    setLibraryEnabled('cudnn', false);
    try {
      expect(cudaLibraries().cudnn.enabled).toBe(false);
      expect(denseComputePath('conv2d')).toBe('kiln');
    } finally {
      setLibraryEnabled('cudnn', true);
    }
    expect(denseComputePath('conv2d')).toBe(usable ? 'cudnn' : 'kiln');
    setCudnnBenchmark(true);
    expect(getCudnnBenchmark()).toBe(addonBuilt);
    setCudnnBenchmark(false);
    expect(getCudnnBenchmark()).toBe(false);
    expect(() => setCudnnGraph(0 as never)).toThrow(ValueError);
    expect(getCudnnGraph()).toBe(true);
    setCudnnGraph(false);
    expect(getCudnnGraph()).toBe(!addonBuilt);
    setCudnnGraph(true);
    expect(getCudnnGraph()).toBe(true);
  });

  it('warns once per missing library, naming it and where Kiln looked; a library switched off gets no warning', () => {
    const status = (available: boolean, enabled: boolean, reason?: string) => ({ available, enabled, version: null, path: null, ...(reason ? { reason } : {}) });
    const libs: CudaLibraries = {
      cublasLt: status(false, true, 'cuBLASLt (libcublasLt.so.13 or .12) was not found; looked in /usr/local/cuda/lib64. Set KILN_CUDA_LIBRARY_PATH'),
      cudnn: status(false, false, 'disabled by KILN_DISABLE_CUDNN'),
      nvrtc: status(false, true, 'not loaded'),
    };
    const warnings = missingLibraryWarnings(libs, ['cublasLt', 'cudnn']);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('libcublasLt.so.13');
    expect(warnings[0]).toContain('KILN_CUDA_LIBRARY_PATH');
    expect(warnings[0]).toContain('matmul');
  });

  it.runIf(cudaAvailable())('cudnn benchmark mode (engines chosen by timing) gives the heuristics\' results, forward and backward, through the graph API', () => {
    // the output, the input's and the filter's gradients of one conv2d for a random upstream gradient
    const pass = (dtype: 'float32' | 'float64') => {
      const x = randn([4, 16, 20, 20], { device: 'cuda', dtype, seed: 1 }).requiresGrad_();
      const w = randn([8, 16, 3, 3], { device: 'cuda', dtype, seed: 2 }).requiresGrad_();
      const gy = randn([4, 8, 10, 10], { device: 'cuda', dtype, seed: 3 });
      const y = conv2d(x, w, null, { padding: 1, stride: 2 });
      y.mul(gy).sum().backward();
      return [y.detach(), x.grad!, w.grad!];
    };
    for (const dtype of ['float64', 'float32'] as const) {
      const tol = dtype === 'float64' ? 1e-10 : 1e-4;
      const heuristic = pass(dtype);
      const before = denseCallCounts();
      setCudnnBenchmark(true);
      let timed: Tensor[];
      try {
        timed = pass(dtype);
      } finally {
        setCudnnBenchmark(false);
      }
      timed.forEach((t, i) => expectClose(t, heuristic[i], { rtol: tol, atol: tol }));
      if (cudaLibraries().cudnn.available) {
        // three passes, each through the graph API's timed plans
        expect(denseCallCounts().conv2dCudnn - before.conv2dCudnn, dtype).toBe(3);
        expect(denseCallCounts().conv2dCudnnGraph - before.conv2dCudnnGraph, dtype).toBe(3);
      }
    }
  });
});
