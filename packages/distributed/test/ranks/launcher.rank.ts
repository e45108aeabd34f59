/**
 * What kiln-run gives a rank (argument 1: a folder where each rank writes its environment), and how
 * it ends (argument 2: 'ok' — every rank exits 0; 'fail' — rank 1 exits with code 7 while the
 * others wait forever, rank 0 even ignoring SIGTERM, so that only SIGKILL stops it).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const [dir, mode] = process.argv.slice(2) as [string, string];
const rank = Number(process.env.RANK);
const keys = ['RANK', 'LOCAL_RANK', 'WORLD_SIZE', 'LOCAL_WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT', 'NCCL_NVLS_ENABLE', 'TORCH_SYMM_MEM_DISABLE_MULTICAST', 'NVSHMEM_DISABLE_NVLS'];
writeFileSync(join(dir, `rank-${rank}.json`), JSON.stringify(Object.fromEntries(keys.map((k) => [k, process.env[k]]))));
if (mode === 'fail') {
  if (rank === 1) setTimeout(() => process.exit(7), 300);
  else {
    if (rank === 0) process.on('SIGTERM', () => {});
    setInterval(() => {}, 1000);
  }
}
