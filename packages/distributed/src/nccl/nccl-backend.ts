/** The 'nccl' backend (placeholder until the native binding lands in this branch). */
import { DeviceError } from '@kiln/tensor';
import type { GroupBackend } from '../backend.js';
import type { TCPStore } from '../store/tcp-store.js';

export interface NcclBackendOptions {
  store: TCPStore;
  prefix: string;
  rank: number;
  world: number;
  timeoutMs: number;
  device?: string;
}

export function createNcclBackend(_o: NcclBackendOptions): GroupBackend {
  throw new DeviceError('initProcessGroup: the nccl backend is not available');
}
