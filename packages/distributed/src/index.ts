/**
 * @packageDocumentation
 * `@kiln/distributed`: data-parallel training across processes, as torch.distributed. Process
 * groups with two backends ('nccl' for CUDA tensors, 'cpu' over TCP for CPU tensors), collectives
 * (allReduce, broadcast, allGather, reduceScatter, barrier) with asynchronous work handles,
 * `DistributedDataParallel`, `DistributedSampler`, the `TCPStore` the ranks meet through, and the
 * `kiln-run` launcher.
 *
 * ```ts
 * // kiln-run --nproc-per-node 2 train.ts
 * import { initProcessGroup, DistributedDataParallel, destroyProcessGroup } from '@kiln/distributed';
 * initProcessGroup({ backend: 'cpu' });
 * const ddp = new DistributedDataParallel(model);
 * ddp.call(images).sum().backward();     // gradients averaged over the ranks while backward runs
 * optimizer.step();
 * destroyProcessGroup();
 * ```
 */
export { DistributedError, type DistributedErrorInfo, type DistributedErrorData, type DistributedFailure } from './errors.js';
export { Work } from './work.js';
export type { BackendName } from './backend.js';
export { ProcessGroup, type ReduceOp } from './process-group.js';
export {
  initProcessGroup, destroyProcessGroup, isInitialized, getRank, getWorldSize, defaultProcessGroup, type InitProcessGroupOptions,
} from './init.js';
export { allReduce, broadcast, allGather, reduceScatter, barrier, type CollectiveOptions, type ReduceOptions } from './collectives.js';
export { TCPStore, type TCPStoreOptions } from './store/tcp-store.js';
export { DistributedDataParallel, type DistributedDataParallelOptions } from './ddp/distributed-data-parallel.js';
export { DistributedSampler, type DistributedSamplerOptions } from './data/distributed-sampler.js';
export { launch, type LaunchOptions, type LaunchResult, MULTICAST_OFF } from './launcher/launch.js';
