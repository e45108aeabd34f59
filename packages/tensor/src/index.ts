/**
 * @packageDocumentation
 * `@kiln/tensor`: dtypes, shapes, the Tensor, devices and op dispatch, and the native CPU device.
 *
 * ```ts
 * import { tensor, randn } from '@kiln/tensor';
 * const x = tensor([[1, 2], [3, 4]], { dtype: 'float32' });
 * const y = x.mul(2).add(1).sigmoid();
 * console.log(y.toArray());
 * ```
 */
import { registerBackend } from './device.js';
import { cpuBackend } from './native/cpu-backend.js';

registerBackend(cpuBackend);

export * from './dtype.js';
export * from './errors.js';
export * from './shape.js';
export * from './check.js';
export * from './device.js';
export { Tensor, type TensorLike, type GradNode } from './tensor.js';
export { tidy, keep, markAsGrad, collectCreated, isThenable } from './scope.js';
export {
  type OpSchema, type OpOptions, type AutocastPolicy, type OpInput, type AutogradHook, declareOp, allOps, setAutogradHook, autogradHook, needsRecording, recordOp,
  launchKernel, hasKernel, commonDevice, describeTensor, empty as emptyOn,
} from './dispatch.js';
export {
  type AutocastDType, type AutocastOptions, AutocastScope, autocast, isAutocastEnabled, getAutocastDtype, clearAutocastCache,
  autocastCacheStats, autocastCall, withAutocast,
} from './autocast.js';
export { MAX_KERNEL_TENSORS } from './native/args.js';
export { cpuThreads, cpuInfo, type CpuInfo } from './native/cpu-backend.js';
export { collectGarbage, allocateOrCollect } from './native/collect.js';
export { loadAddon, addonPath, kernelTable, cpuAddonSpec, type KernelAddon } from './native/load.js';
export { type AddonSpec, type AddonOwner, type AddonLocation, addonOwner, locateAddon, missingAddonMessage } from './native/locate.js';
export { loadExtension, loadedExtensions, type ExtensionInfo, type SkippedDevice } from './extensions.js';
export * from './ops/convert.js';
export * from './ops/pinned.js';
export * from './ops/pad.js';
export * from './ops/views.js';
export * from './ops/creation.js';
export * from './ops/elementwise.js';
export * from './ops/reduce.js';
export * from './ops/softmax.js';
export * from './ops/matmul.js';
export * from './ops/linear.js';
export { type Float32MatmulPrecision, setFloat32MatmulPrecision, getFloat32MatmulPrecision } from './ops/precision.js';
export * from './ops/indexing.js';
export * from './ops/join.js';
export * from './ops/random.js';
export * from './ops/nn.js';
export * from './ops/conv.js';
export * from './ops/sort.js';
export * from './ops/selection.js';
export * from './ops/unique.js';
export * from './ops/meshgrid.js';
export * from './print.js';
export * from './ndarray.js';
export { mulberry32 } from './host-random.js';
export * from './profiler/profiler.js';
