/**
 * Where @kiln/cuda's addon comes from, and why CUDA is unavailable when it is: the sentences that
 * `cuda.unavailableReason()` returns.
 */
import { type AddonSpec, addonOwner } from '@kiln/tensor';

/** kiln_cuda.node: the prebuilt platform packages (@kiln/cuda-linux-x64-gnu, ...) are optional dependencies of @kiln/cuda. */
export const cudaAddonSpec: AddonSpec = {
  file: 'kiln_cuda.node',
  device: 'cuda',
  prebuiltPrefix: '@kiln/cuda',
  // this module is src/availability.ts or dist/availability.js: the package root is one folder up
  owner: addonOwner(import.meta.url, '../package.json'),
};

/** What the addon's deviceStatus() reports (native/cuda/addon.cc). */
export interface CudaDeviceStatus {
  count: number;
  /** cudaGetDeviceCount's error name ('cudaErrorNoDevice'), empty when it succeeded. */
  error: string;
  errorText: string;
  /** CUDA versions as 1000 * major + 10 * minor: the runtime linked into the addon, and the driver's (0: no driver). */
  runtimeVersion: number;
  driverVersion: number;
}

/** 13000 -> '13.0'. */
export function cudaVersionString(v: number): string {
  return `${Math.floor(v / 1000)}.${Math.floor((v % 1000) / 10)}`;
}

/** Why a loaded addon sees no CUDA device, for a user to act on. */
export function noDeviceReason(s: CudaDeviceStatus): string {
  const runtime = cudaVersionString(s.runtimeVersion);
  if (s.driverVersion === 0) {
    return 'no NVIDIA driver is installed on this machine (the CUDA addon loaded, but found no libcuda.so): ' +
      'CUDA needs an NVIDIA GPU and its driver';
  }
  if (s.driverVersion < s.runtimeVersion || s.error === 'cudaErrorInsufficientDriver') {
    return `the NVIDIA driver supports CUDA up to ${cudaVersionString(s.driverVersion)}, older than the CUDA ${runtime} ` +
      'runtime the addon was built with: update the driver';
  }
  const hidden = process.env.CUDA_VISIBLE_DEVICES !== undefined ? ` (CUDA_VISIBLE_DEVICES is set to '${process.env.CUDA_VISIBLE_DEVICES}')` : '';
  if (s.error === 'cudaErrorNoDevice' || s.error === '') return `the NVIDIA driver finds no CUDA GPU on this machine${hidden}`;
  return `cudaGetDeviceCount failed with ${s.error} (${s.errorText})${hidden}`;
}
