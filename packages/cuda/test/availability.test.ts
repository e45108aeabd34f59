// Why CUDA is unavailable, as cuda.unavailableReason() says it: no driver, a driver older than the
// runtime linked into the addon, no GPU (or all hidden), another error; and on this machine, when
// there is no GPU, the reason is one of those.
import { describe, expect, it } from 'vitest';
import { cuda } from '@kiln/cuda';
import { DeviceError, zeros } from '@kiln/tensor';
import { expectError } from '@kiln/tensor/testing';
import { cudaVersionString, noDeviceReason } from '../src/availability.js';

const status = { count: 0, error: '', errorText: '', runtimeVersion: 13000, driverVersion: 13000 };

describe('noDeviceReason', () => {
  it('no driver installed (cudaDriverGetVersion gives 0)', () => {
    expect(noDeviceReason({ ...status, error: 'cudaErrorInsufficientDriver', driverVersion: 0 })).toBe(
      'no NVIDIA driver is installed on this machine (the CUDA addon loaded, but found no libcuda.so): ' +
        'CUDA needs an NVIDIA GPU and its driver',
    );
  });

  it('a driver older than the runtime', () => {
    expect(noDeviceReason({ ...status, error: 'cudaErrorInsufficientDriver', driverVersion: 12040 })).toBe(
      'the NVIDIA driver supports CUDA up to 12.4, older than the CUDA 13.0 runtime the addon was built with: update the driver',
    );
  });

  it('no GPU, and a hint when CUDA_VISIBLE_DEVICES hides them', () => {
    const saved = process.env.CUDA_VISIBLE_DEVICES;
    try {
      delete process.env.CUDA_VISIBLE_DEVICES;
      expect(noDeviceReason({ ...status, error: 'cudaErrorNoDevice' })).toBe('the NVIDIA driver finds no CUDA GPU on this machine');
      process.env.CUDA_VISIBLE_DEVICES = '';
      expect(noDeviceReason({ ...status, error: 'cudaErrorNoDevice' })).toBe(
        "the NVIDIA driver finds no CUDA GPU on this machine (CUDA_VISIBLE_DEVICES is set to '')",
      );
    } finally {
      if (saved === undefined) delete process.env.CUDA_VISIBLE_DEVICES;
      else process.env.CUDA_VISIBLE_DEVICES = saved;
    }
  });

  it('any other error, by name and text', () => {
    expect(noDeviceReason({ ...status, error: 'cudaErrorSystemNotReady', errorText: 'system not yet initialized' })).toMatch(
      /^cudaGetDeviceCount failed with cudaErrorSystemNotReady \(system not yet initialized\)/,
    );
  });

  it('versions read as CUDA writes them', () => {
    expect(cudaVersionString(13000)).toBe('13.0');
    expect(cudaVersionString(12080)).toBe('12.8');
  });
});

describe('on this machine', () => {
  it('imports cleanly, and says why when CUDA is unavailable', () => {
    if (cuda.isAvailable()) {
      expect(cuda.unavailableReason()).toBeNull();
      return;
    }
    const reason = cuda.unavailableReason()!;
    // one of the reasons above, or a missing addon saying what to build or install
    expect(reason).toMatch(/^(no NVIDIA driver|the NVIDIA driver|cudaGetDeviceCount failed|the native addon kiln_cuda\.node is not built|the CUDA addon kiln_cuda\.node is not built: |the prebuilt addon|there is no prebuilt|cuda: kiln_cuda\.node)/);
  });

  it('a cuda tensor without a usable device is a DeviceError that gives the reason, not "import @kiln/cuda"', () => {
    if (cuda.isAvailable()) return;
    const reason = cuda.unavailableReason()!;
    expectError(() => zeros([2], { device: 'cuda' }), DeviceError, { argument: 'device' });
    expect(() => zeros([2], { device: 'cuda' })).toThrow(reason);
    expect(() => zeros([2], { device: 'cuda' })).not.toThrow(/import '@kiln\/cuda'/);
  });
});
