/**
 * Data-parallel training for the example (`--nproc N`), all in this file: main.ts relaunches itself
 * as N ranks under @kiln/distributed's launcher (kiln-run), each rank joins the process group
 * ('nccl' on cuda:LOCAL_RANK, 'cpu' otherwise), wraps the model in DistributedDataParallel and
 * takes its share of each batch of the training stream: image indices [step * B, (step + 1) * B)
 * split in W equal parts, so the N ranks together see what one process sees, and the averaged
 * gradient is that of the whole batch (the loss normalizations are per rank's share, so the result
 * is the same in expectation, not bit for bit). Only rank 0 logs and writes the pictures.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DistributedDataParallel, getRank, getWorldSize, initProcessGroup, isInitialized, launch } from '@kiln/distributed';
import type { Module } from '@kiln/nn';

/** Starts `nproc` ranks of main.ts with `args` (the command line without --nproc) and exits with the job's status. */
export async function relaunchAsRanks(nproc: number, args: string[]): Promise<never> {
  const r = await launch({ nprocPerNode: nproc, script: fileURLToPath(new URL('./main.ts', import.meta.url)), args, nodeArgs: process.execArgv });
  process.exit(r.exitCode);
}

/** The command line without `--nproc N` / `--nproc=N`. */
export function withoutNproc(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--nproc') i++;
    else if (!argv[i].startsWith('--nproc=')) out.push(argv[i]);
  }
  return out;
}

/**
 * Inside a launched job (WORLD_SIZE set): joins the process group and returns this rank's device
 * (cuda:LOCAL_RANK when training on CUDA); null when the example runs as one process.
 */
export function joinJob(device: string, batchSize: number): { rank: number; worldSize: number; device: string } | null {
  if (process.env.WORLD_SIZE === undefined) return null;
  const onCuda = device.startsWith('cuda');
  const rankDevice = onCuda ? `cuda:${process.env.LOCAL_RANK ?? 0}` : device;
  const group = initProcessGroup({ backend: onCuda ? 'nccl' : 'cpu', ...(onCuda ? { device: rankDevice } : {}) });
  if (batchSize % group.size !== 0) throw new Error(`--batch ${batchSize} must divide evenly between the ${group.size} ranks`);
  if (group.rank !== 0) console.log = () => {};             // the log comes from rank 0 only
  return { rank: group.rank, worldSize: group.size, device: rankDevice };
}

/** Where rank 0 writes the pictures; the other ranks write theirs to a scratch folder, removed at exit. */
export function outDirOf(out: string): string {
  if (!isInitialized() || getRank() === 0) return out;
  const scratch = mkdtempSync(join(tmpdir(), 'retinanet-rank-'));
  process.on('exit', () => rmSync(scratch, { recursive: true, force: true }));
  return scratch;
}

/** The model to train: wrapped in DistributedDataParallel inside a job. */
export function parallel<M extends Module<never[], unknown>>(model: M): M | DistributedDataParallel<M> {
  return isInitialized() ? new DistributedDataParallel(model) : model;
}

/** This process's rank and the number of ranks (0 and 1 outside a job); batches.ts's shardFor splits each batch by them. */
export function rankAndWorld(): { rank: number; world: number } {
  return isInitialized() ? { rank: getRank(), world: getWorldSize() } : { rank: 0, world: 1 };
}

/** Removes DistributedDataParallel's hooks and buckets once training ends (the model stays). */
export function releaseParallel(trainee: unknown): void {
  if (trainee instanceof DistributedDataParallel) trainee.destroy();
}
