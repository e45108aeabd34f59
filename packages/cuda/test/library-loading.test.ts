// The library search and loading (native/cuda/library_loader.cc, cublaslt.cc, cudnn.cc) against
// stand-in libraries built here with the C compiler: a libcublasLt.so.13 and a cuDNN 9 made of a
// shim libcudnn.so.9 (whose cudnnGetVersion, like the real shim, dlopens libcudnn_graph.so.9 by
// name) and its sub-libraries, plus NVRTC, each exporting every entry point Kiln resolves (the
// names read from native/cuda/*_api.h). Each case runs in a child process with
// KILN_CUDA_LIBRARY_PATH pointing at a folder that is not on the loader's path, so it runs on any
// machine where the CUDA addon is built, GPU or not.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import type { CudaLibraries } from '@kiln/cuda';
import { loadedCudaAddon } from '../src/backend.js';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const compiler = ['cc', 'gcc', 'clang'].find((c) => spawnSync(c, ['--version']).status === 0);
const ready = loadedCudaAddon() !== null && compiler !== undefined;
const why = loadedCudaAddon() === null ? 'the CUDA addon is not built' : 'no C compiler (cc, gcc, clang) on PATH';

/** The entry points Kiln resolves in a library, read from its declarations header. */
function entryPoints(header: string, prefix: string): string[] {
  const text = readFileSync(join(root, 'native', 'cuda', header), 'utf8');
  const list = text.slice(text.indexOf(`#define KILN_${prefix}_FUNCTIONS(X)`));
  return [...list.slice(0, list.indexOf('\n\n')).matchAll(/X\((\w+),/g)].map((m) => m[1]);
}

/** Builds lib`name` into `dir` from C source (the functions return 0 unless given a body). */
function build(dir: string, soname: string, functions: string[], bodies: Record<string, string> = {}, link: string[] = []): void {
  const src = join(dir, `${soname}.c`);
  const code = ['#include <dlfcn.h>', '#include <stddef.h>',
    ...functions.map((f) => bodies[f] ?? `int ${f}(void) { return 0; }`)].join('\n');
  writeFileSync(src, code);
  execFileSync(compiler!, ['-shared', '-fPIC', `-Wl,-soname,${soname}`, '-o', join(dir, soname), src, ...link]);
}

/** cudaLibraries() in a fresh process whose KILN_CUDA_LIBRARY_PATH is `path`. */
function librariesWith(path: string, extra: Record<string, string> = {}): CudaLibraries {
  const code = "const m = await import('@kiln/cuda'); console.log(JSON.stringify(m.cudaLibraries()));";
  const r = spawnSync(process.execPath, ['--conditions=@kiln/source', '--import', 'tsx', '--input-type=module', '-e', code], {
    cwd: root, env: { ...process.env, KILN_CUDA_LIBRARY_PATH: path, ...extra }, encoding: 'utf8',
  });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as CudaLibraries;
}

describe.skipIf(!ready)(`loading NVIDIA's libraries${ready ? '' : ` (skipped: ${why})`}`, () => {
  const work = mkdtempSync(join(tmpdir(), 'kiln-libs-'));
  afterAll(() => rmSync(work, { recursive: true, force: true }));
  const cublas = entryPoints('cublaslt_api.h', 'CUBLASLT');
  const cudnn = entryPoints('cudnn_api.h', 'CUDNN');

  /** A folder with stand-ins: cuBLASLt reporting `ltVersion`, cuDNN 9.19.0 built for CUDA 13. */
  function folder(name: string, opts: { ltVersion?: number; drop?: string; brokenCnn?: boolean } = {}): string {
    const dir = join(work, name);
    mkdirSync(dir, { recursive: true });
    build(dir, 'libcublasLt.so.13', cublas.filter((f) => f !== opts.drop), {
      cublasLtGetVersion: `size_t cublasLtGetVersion(void) { return ${opts.ltVersion ?? 130001}; }`,
    });
    // the shim: cuDNN 9's libcudnn.so.9 finds its sub-libraries by name when first used
    build(dir, 'libcudnn.so.9', cudnn, {
      cudnnGetVersion: 'size_t cudnnGetVersion(void) { return dlopen("libcudnn_graph.so.9", RTLD_NOW) && dlopen("libcudnn_cnn.so.9", RTLD_NOW) ? 91900 : 0; }',
      cudnnGetCudartVersion: 'size_t cudnnGetCudartVersion(void) { return dlopen("libcudnn_graph.so.9", RTLD_NOW) ? 13000 : 0; }',
    }, ['-ldl']);
    for (const sub of ['graph', 'ops', 'cnn', 'adv', 'heuristic', 'engines_runtime_compiled']) {
      build(dir, `libcudnn_${sub}.so.9`, [`kiln_stub_cudnn_${sub}`]);
    }
    // a sub-library that needs a library the loader does not find by itself (as cuDNN's engines
    // need cuBLASLt from another wheel folder): Kiln opens it from the search folders first
    build(dir, 'libkiln_stub_dependency.so.1', ['kiln_stub_dependency']);
    build(dir, 'libcudnn_engines_precompiled.so.9', ['kiln_stub_engines'], {
      kiln_stub_engines: 'int kiln_stub_dependency(void); int kiln_stub_engines(void) { return kiln_stub_dependency(); }',
    }, ['-Wl,--no-as-needed', `-L${dir}`, '-l:libkiln_stub_dependency.so.1']);
    if (opts.brokenCnn) {
      // a libcudnn_cnn.so.9 that needs a library found nowhere (built elsewhere, linked, removed)
      const gone = join(work, `${name}-gone`);
      mkdirSync(gone, { recursive: true });
      build(gone, 'libkiln_missing_dependency.so.1', ['kiln_stub_dependency']);
      build(dir, 'libcudnn_cnn.so.9', ['kiln_stub_cudnn_cnn'], {
        kiln_stub_cudnn_cnn: 'int kiln_stub_dependency(void); int kiln_stub_cudnn_cnn(void) { return kiln_stub_dependency(); }',
      }, ['-Wl,--no-as-needed', `-L${gone}`, '-l:libkiln_missing_dependency.so.1']);
      rmSync(gone, { recursive: true, force: true });
    }
    build(dir, 'libnvrtc.so.13', ['nvrtcVersion']);
    build(dir, 'libnvrtc-builtins.so.13.0', ['kiln_stub_builtins']);
    return dir;
  }

  it('finds the libraries in KILN_CUDA_LIBRARY_PATH, opens cuDNN\'s sub-libraries (and what they need) and NVRTC from its folder, and reads their versions', () => {
    const dir = folder('complete');
    const libs = librariesWith(`/nonexistent-kiln:${dir}`);
    expect(libs.cublasLt).toMatchObject({ available: true, enabled: true, version: '13.0.1', path: join(dir, 'libcublasLt.so.13') });
    expect(libs.cudnn).toMatchObject({ available: true, enabled: true, version: '9.19.0', path: join(dir, 'libcudnn.so.9') });
    expect(libs.nvrtc).toMatchObject({ available: true, version: '13', path: join(dir, 'libnvrtc.so.13') });
  });

  it('says what is wrong with what it found: a version its declarations do not describe, a missing entry point, a sub-library that cannot load', () => {
    const old = librariesWith(folder('old', { ltVersion: 110702 }));
    expect(old.cublasLt.available).toBe(false);
    expect(old.cublasLt.version).toBe('11.7.2');
    expect(old.cublasLt.reason).toContain('describe cuBLASLt 12 and 13');
    const lacking = librariesWith(folder('lacking', { drop: 'cublasLtMatmul' }));
    expect(lacking.cublasLt.available).toBe(false);
    expect(lacking.cublasLt.reason).toContain('does not export cublasLtMatmul');
    const broken = librariesWith(folder('broken-cnn', { brokenCnn: true }));
    expect(broken.cudnn.available).toBe(false);
    expect(broken.cudnn.reason).toContain("cuDNN's libcudnn_cnn.so.9 could not be loaded");
    expect(broken.cudnn.reason).toContain('libkiln_missing_dependency.so.1');
  });

  it("finds cuDNN in a pip wheel's nvidia/cudnn/lib folder of $VIRTUAL_ENV's site-packages", () => {
    const venv = join(work, 'venv');
    const site = join(venv, 'lib', 'python3.12', 'site-packages', 'nvidia');
    const wheel = folder('wheel');
    for (const [pkg, files] of [['cudnn', ['libcudnn.so.9', ...['graph', 'ops', 'cnn', 'adv', 'heuristic', 'engines_precompiled', 'engines_runtime_compiled'].map((s) => `libcudnn_${s}.so.9`), 'libkiln_stub_dependency.so.1']],
      ['cu13', ['libnvrtc.so.13', 'libnvrtc-builtins.so.13.0']]] as const) {
      mkdirSync(join(site, pkg, 'lib'), { recursive: true });
      for (const f of files) writeFileSync(join(site, pkg, 'lib', f), readFileSync(join(wheel, f)));
    }
    const libs = librariesWith('', { VIRTUAL_ENV: venv });
    expect(libs.cudnn.available, libs.cudnn.reason).toBe(true);
    expect(libs.cudnn.path).toBe(join(site, 'cudnn', 'lib', 'libcudnn.so.9'));
  });

  it('KILN_DISABLE_CUDNN leaves cuDNN unloaded even where it is found', () => {
    const libs = librariesWith(folder('disabled'), { KILN_DISABLE_CUDNN: '1' });
    expect(libs.cudnn).toMatchObject({ available: false, enabled: false, path: null, reason: 'disabled by KILN_DISABLE_CUDNN' });
    expect(libs.cublasLt.available).toBe(true);
  });
});
