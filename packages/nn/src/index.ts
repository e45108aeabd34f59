/**
 * @packageDocumentation
 * `@kiln/nn`: modules for building networks, in the manner of PyTorch's torch.nn.
 *
 * ```ts
 * import { Conv2d, ReLU, Sequential, BatchNorm2d } from '@kiln/nn';
 * const net = new Sequential(new Conv2d(3, 16, 3, { padding: 1 }), new BatchNorm2d(16), new ReLU());
 * const y = net.call(x);
 * for (const [name, p] of net.namedParameters()) console.log(name, p.shape);
 * net.save('net.safetensors');
 * ```
 */
export { Module, type LoadStateDictOptions, type LoadStateDictResult } from './module.js';
export { Parameter, BufferTensor } from './parameter.js';
export { deepCopy } from './copy.js';
export { encodeStateDict, decodeStateDict, saveStateDict, loadStateDictFile, fromTorchKeys } from './state-file.js';
export { saveCheckpoint, loadCheckpoint, disposeCheckpoint, type CheckpointValue } from './checkpoint-file.js';
export * as init from './init.js';
export { priorProbBias } from './init.js';
export { Sequential } from './layers/container.js';
export { Linear, type LinearOptions } from './layers/linear.js';
export { Conv2d, type Conv2dOptions } from './layers/conv.js';
export { ReLU } from './layers/activation.js';
export { GroupNorm, BatchNorm2d, type NormOptions, type BatchNormOptions } from './layers/normalization.js';
export { type BatchNormCtx, BatchNormTrainFunction } from './layers/batch-norm/batch-norm-function.js';
export type { RunningStats } from './layers/batch-norm/batch-norm-kernels.js';
export { type GroupNormCtx, GroupNormFunction } from './layers/group-norm/group-norm-function.js';
export { FrozenBatchNorm2d, type FrozenBatchNormOptions } from './layers/frozen-batch-norm.js';
export { MaxPool2d, Upsample, AdaptiveAvgPool2d, type MaxPool2dOptions, type AdaptiveSize } from './layers/pooling.js';
export { Dropout, type DropoutOptions } from './layers/dropout.js';
