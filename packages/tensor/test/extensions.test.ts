// Extensions: kernels from libraries built outside Kiln, loaded at run time through the C ABI
// (native/include/kiln/extension/abi.h). The libraries are native/test-extensions/, built with the
// native addons: a probe written with the C++ layer (kiln/extension.h) and built by
// kiln_add_extension as an extension outside the repository is, and raw C ones, several broken on
// purpose (a forged ABI version, a taken name, ...). Each test file runs in its own process, so what
// is loaded here does not leak into other files.
import { describe, expect, it } from 'vitest';
import {
  DTypeError, DeviceError, ExtensionError, InternalError, OutOfMemoryError, ShapeError, Tensor, ValueError, addonPath,
  emptyOn, launchKernel, loadExtension, loadedExtensions, memoryStats, tensor, toTypedArray, zeros,
} from '@kiln/tensor';
import { expectError, forEachDevice, settledAllocated } from '@kiln/tensor/testing';

/** The path of a test extension library (built into the native addons' build folder). */
function library(file: string): string {
  const p = addonPath(`test-extensions/${file}`);
  if (p === null) throw new Error(`test-extensions/${file} is not built: run \`npm run build -w @kiln/native\``);
  return p;
}

const probe = loadExtension(library('kiln_test_probe.so'));
const cAbi = loadExtension(library('c_abi_fill.so'));

/** y = x * s through the probe's kernel (strided input, contiguous output). */
function probeScale(x: Tensor, s: number): Tensor {
  const y = emptyOn(x.shape, x.dtype, x.device);
  launchKernel('ext_probe_scale', [x], [y], [s]);
  return y;
}

describe('loadExtension', () => {
  it('registers the probe\'s CPU kernels, and says which devices it skipped and why', () => {
    expect([...probe.kernels.cpu!].sort()).toEqual(['ext_probe_fail', 'ext_probe_parallel', 'ext_probe_scale', 'ext_probe_throw', 'ext_probe_workspace']);
    expect(probe.path).toBe(library('kiln_test_probe.so'));
    const cuda = probe.skipped.find((s) => s.device === 'cuda');
    if (probe.kernels.cuda !== undefined) {
      // a GPU is present: the CUDA kernels loaded (when the probe was built with nvcc)
      expect([...probe.kernels.cuda].sort()).toEqual(['ext_probe_device_error', 'ext_probe_scale']);
      expect(cuda).toBeUndefined();
    } else if (cuda !== undefined) {
      // built with nvcc, no GPU here: the CUDA kernels are listed as skipped, with the reason
      expect([...cuda.kernels].sort()).toEqual(['ext_probe_device_error', 'ext_probe_scale']);
      expect(cuda.reason).toMatch(/no cuda device is present|no 'cuda' device is registered/);
    }
  });

  it('returns the same record when a library is loaded again', () => {
    expect(loadExtension(library('kiln_test_probe.so'))).toBe(probe);
    expect(loadedExtensions()).toContain(probe);
    expect(loadedExtensions()).toContain(cAbi);
  });

  it('refuses an extension built against an older ABI version, saying what to rebuild', () => {
    const lib = library('old_abi.so');
    expectError(() => loadExtension(lib), ExtensionError, {
      op: 'loadExtension',
      message: /built against an older Kiln \(extension ABI version 0; this Kiln \(.*\) has version 1\): rebuild it against the installed Kiln \(`npx kiln-build-extension`/,
    });
    expect(loadedExtensions().map((e) => e.path)).not.toContain(lib);
  });

  it('refuses an extension built against a later ABI version or a larger API table', () => {
    expectError(() => loadExtension(library('future_abi.so')), ExtensionError, { op: 'loadExtension', message: /built against a later Kiln \(extension ABI version 2; .*upgrade Kiln/ });
    expectError(() => loadExtension(library('larger_table.so')), ExtensionError, { op: 'loadExtension', message: /later Kiln release \(its extension API table is larger/ });
  });

  it('refuses libraries that are missing, not extensions, or whose registration fails', () => {
    expectError(() => loadExtension('/nonexistent/kiln_nothing.so'), ExtensionError, { op: 'loadExtension', argument: 'path', message: /does not exist: build it first/ });
    expectError(() => loadExtension(library('not_an_extension.so')), ExtensionError, { op: 'loadExtension', message: /is not a Kiln extension: it does not export kiln_extension_abi_version/ });
    expectError(() => loadExtension(library('register_fails.so')), ExtensionError, { op: 'loadExtension', message: /its kiln_extension_register failed \(returned 7\)/ });
    const notALibrary = new URL('./extensions.test.ts', import.meta.url);
    expectError(() => loadExtension(notALibrary), ExtensionError, { op: 'loadExtension', message: /cannot load the extension library/ });
  });

  it('refuses bad and taken kernel names, registering none of the library\'s kernels', () => {
    expectError(() => loadExtension(library('bad_name.so')), ExtensionError, { op: 'loadExtension', message: /offers a kernel named 'Bad-Name': op names are snake_case/ });
    expectError(() => loadExtension(library('name_taken.so')), ExtensionError, {
      op: 'loadExtension', message: /offers a cpu kernel named 'add', which is one of Kiln's own kernels: rename the extension's op/,
    });
    // all or nothing: the library's other kernel was not registered either
    expect(() => launchKernel('ext_name_taken_first', [zeros([1])], [])).toThrow(DeviceError);
    // an extension's name is taken too: a second library offering ext_c_fill would be refused
    expect(cAbi.kernels.cpu).toContain('ext_c_fill');
  });

  it('still launches Kiln\'s own kernels and the loaded ones after refusals', () => {
    const out = zeros([3], { dtype: 'float64' });
    launchKernel('ext_c_fill', [], [out], [2.5]);
    expect([...toTypedArray(out)]).toEqual([2.5, 2.5, 2.5]);
    expect([...toTypedArray(out.add(1))]).toEqual([3.5, 3.5, 3.5]);
  });
});

describe('an extension kernel written in plain C against the ABI', () => {
  it('writes through strided output views', () => {
    const base = zeros([4, 3], { dtype: 'float32' });
    launchKernel('ext_c_fill', [], [base.transpose(0, 1).narrow(0, 1, 1)], [7]);
    expect([...toTypedArray(base)]).toEqual([0, 7, 0, 0, 7, 0, 0, 7, 0, 0, 7, 0]);
  });

  it('reports typed errors from facts, and a silent failure as an InternalError naming its library', () => {
    const e = expectError(() => launchKernel('ext_c_facts', [zeros([2])], []), ShapeError, {
      op: 'ext_c_facts', argument: 'input', expected: 'a 2-D tensor', got: 'a 1-D tensor',
    });
    expect(e.message).toBe("ext_c_facts: argument 'input' expected a 2-D tensor, got a 1-D tensor");
    expectError(() => launchKernel('ext_c_fill', [], [zeros([2], { dtype: 'int32' })], [1]), DTypeError, {
      op: 'ext_c_fill', argument: 'out', expected: 'float32 or float64', got: 'another dtype',
    });
    expectError(() => launchKernel('ext_c_silent_failure', [zeros([1])], []), InternalError, {
      op: 'ext_c_silent_failure', message: /returned 3\) without reporting an error; its library: .*c_abi_fill\.so/,
    });
  });
});

describe('an extension kernel written with kiln/extension.h', () => {
  it('turns each error kind into its typed error, naming the op', () => {
    const kinds = [ShapeError, DTypeError, DeviceError, ValueError, Error, OutOfMemoryError, InternalError];
    kinds.forEach((cls, kind) => {
      expectError(() => launchKernel('ext_probe_fail', [zeros([1])], [], [kind]), cls, {
        op: 'ext_probe_fail', argument: 'input', message: `ext_probe_fail: argument 'input' failed the probe's check (kind ${kind})`,
      });
    });
  });

  it('stops every C++ exception at the ABI: runtime errors, bad_alloc, anything thrown', () => {
    expect(() => launchKernel('ext_probe_throw', [zeros([1])], [], [0])).toThrow(InternalError);
    expect(() => launchKernel('ext_probe_throw', [zeros([1])], [], [0])).toThrow('ext_probe_throw: the probe threw');
    expect(() => launchKernel('ext_probe_throw', [zeros([1])], [], [1])).toThrow(OutOfMemoryError);
    expect(() => launchKernel('ext_probe_throw', [zeros([1])], [], [2])).toThrow(/ext_probe_throw: the kernel threw an unknown exception/);
    // the process goes on: a kernel after the failures works
    expect([...toTypedArray(probeScale(tensor([1, 2], { dtype: 'float64' }), 3))]).toEqual([3, 6]);
  });

  it('gets workspace memory from Kiln\'s allocator and gives it back', async () => {
    const out = zeros([1], { dtype: 'float64' });
    const before = await settledAllocated('cpu');
    for (const n of [0, 1, 1000, 1 << 20]) {
      launchKernel('ext_probe_workspace', [], [out], [n]);
      expect(toTypedArray(out)[0]).toBe(n);
    }
    expect(memoryStats('cpu').allocated).toBe(before);
    expect(() => launchKernel('ext_probe_workspace', [], [out], [-1])).toThrow(ValueError);
    expect(() => launchKernel('ext_probe_workspace', [], [out], [2 ** 52])).toThrow(/ext_probe_workspace: out of memory|invalid workspace size/);
    expect(memoryStats('cpu').allocated).toBe(before);
  });

  it('runs pieces on Kiln\'s threads, and rethrows a piece\'s error after all pieces finish', () => {
    for (const n of [0, 1, 1023, 100_001]) {
      const out = zeros([n], { dtype: 'float64' });
      launchKernel('ext_probe_parallel', [], [out], [-1]);
      const v = toTypedArray(out);
      expect(v.every((x, i) => x === i)).toBe(true);
    }
    const out = zeros([100_001], { dtype: 'float64' });
    expect(() => launchKernel('ext_probe_parallel', [], [out], [77_777])).toThrow(ValueError);
    expect(() => launchKernel('ext_probe_parallel', [], [out], [77_777])).toThrow('ext_probe_parallel: index 77777 failed in a piece on Kiln\'s threads');
  });
});

forEachDevice('ext_probe_scale (an extension kernel on each device)', (dev) => {
  it('matches a float64 reference on random inputs of edge sizes, contiguous or not, in every float dtype', () => {
    for (const n of [0, 1, 7, 4099, 100_003]) {
      const values = Float64Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898) * 43.7);
      for (const dtype of ['float64', 'float32', 'float16', 'bfloat16'] as const) {
        const x = tensor(values, { dtype, device: dev });
        const exact = Array.from(toTypedArray(x), Number);   // the values as rounded to the dtype (half types read as float32)
        const got = Array.from(toTypedArray(probeScale(x, -1.5)), Number);
        // the result rounded once to the dtype: within half an ulp (relative 2^-24, 2^-11, 2^-8; for
        // float16's subnormals, half its smallest step 2^-24)
        const tol = dtype === 'float64' ? 0 : dtype === 'float32' ? 2 ** -24 : dtype === 'float16' ? 2 ** -11 : 2 ** -8;
        const floor = dtype === 'float16' ? 2 ** -25 : 0;
        let worst = 0;
        for (let i = 0; i < n; i++) worst = Math.max(worst, Math.abs(got[i] - exact[i] * -1.5) - tol * Math.abs(exact[i] * 1.5) - floor);
        expect(worst, `${dtype}, ${n} elements`).toBeLessThanOrEqual(0);
      }
    }
    // a transposed view and a broadcast (stride 0) view
    const m = tensor(Float64Array.from({ length: 35 }, (_, i) => i * 0.25 - 3), { dtype: 'float64', device: dev }).reshape([5, 7]);
    const t = m.transpose(0, 1);
    expect([...toTypedArray(probeScale(t, 2))]).toEqual([...toTypedArray(t.contiguous())].map((v) => Number(v) * 2));
    const b = tensor([1.5, -2], { dtype: 'float64', device: dev }).reshape([2, 1]).expand([2, 3]);
    expect([...toTypedArray(probeScale(b, 2))]).toEqual([3, 3, 3, -4, -4, -4]);
  });

  it('gets Kiln\'s boundary checks: a view reaching outside its storage is refused before the kernel runs', () => {
    const base = zeros([4, 4], { dtype: 'float32', device: dev });
    const forged = new Tensor(base.storage, [5, 4], [4, 1], 0, 'float32');
    expect(() => launchKernel('ext_probe_scale', [forged], [emptyOn([5, 4], 'float32', base.device)], [1])).toThrow(/^ext_probe_scale: input 0 reaches elements 0\.\.19 of its storage, which holds 16 float32 elements .*caught at the native boundary/);
  });

  it('checks its arguments with typed errors naming the op', () => {
    const x = zeros([3], { dtype: 'float32', device: dev });
    expect(() => launchKernel('ext_probe_scale', [x], [emptyOn([4], 'float32', x.device)], [1])).toThrow(ShapeError);
    expect(() => launchKernel('ext_probe_scale', [x], [emptyOn([3], 'float64', x.device)], [1])).toThrow(DTypeError);
    const i = zeros([3], { dtype: 'int32', device: dev });
    // the dispatch macros' failure, with the dtypes as facts (kiln/error.h is header-only: the extension has it too)
    expectError(() => launchKernel('ext_probe_scale', [i], [emptyOn([3], 'int32', i.device)], [1]), DTypeError, {
      op: 'ext_probe_scale', expected: 'a floating dtype', got: 'int32',
    });
  });

  it.runIf(dev === 'cuda')('reports a bad value found on the device at the next synchronisation, naming the argument', () => {
    launchKernel('ext_probe_device_error', [tensor([1, 2, 30, 4], { dtype: 'float32', device: dev })], [], [10]);
    // worded as the CPU kernels word a bad value (e79872c): the argument, the value, the valid range
    expect(() => toTypedArray(zeros([1], { device: dev }))).toThrow(/^ext_probe_device_error: argument 'values' holds the value 30\.0+; expected a value in \[.*, 10\.0+\] \(found on the device/);
    launchKernel('ext_probe_device_error', [tensor([11], { dtype: 'float32', device: dev })], [], [10]);
    expect(() => toTypedArray(zeros([1], { device: dev }))).toThrow(ValueError);
    expect(() => toTypedArray(zeros([1], { device: dev }))).not.toThrow();
  });

  it.runIf(dev === 'cuda')('says to rebuild with nvcc when an op of a CPU-only extension is launched on CUDA', () => {
    const out = zeros([2], { dtype: 'float64', device: dev });
    expectError(() => launchKernel('ext_c_fill', [], [out], [1]), DeviceError, {
      op: 'ext_c_fill', message: /has kernels for it on cpu only: it was built without CUDA kernels .*rebuild it where nvcc is found/,
    });
  });

  it('leaves no memory behind', async () => {
    const before = await settledAllocated(dev);
    const x = tensor([1, 2, 3], { dtype: 'float32', device: dev });
    probeScale(x, 2).dispose();
    x.dispose();
    expect(memoryStats(dev).allocated).toBe(before);
  });
});
