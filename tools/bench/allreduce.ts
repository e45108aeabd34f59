/**
 * All-reduce bus bandwidth of Kiln's 'nccl' backend on N GPUs, side by side with PyTorch's
 * torch.distributed.all_reduce over NCCL (tools/bench/torch_allreduce.py) on the same machine, as
 * nccl-tests reports it: per size, the median time of one in-place float32 sum all-reduce (device
 * events around it on the rank's stream, after warm-up), algorithm bandwidth = bytes / time and bus
 * bandwidth = algbw * 2(N - 1)/N (the bytes each GPU's links carry in a ring). NVLink multicast is
 * off (the launcher sets NCCL_NVLS_ENABLE=0, as torchrun gets it below).
 *
 * On a multi-GPU machine (not runnable on a CPU-only one):
 *   NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1 \
 *     torchrun --nproc-per-node 2 tools/bench/torch_allreduce.py --json /tmp/torch-ar-2.json
 *   node --conditions=@kiln/source --import tsx tools/bench/allreduce.ts --nproc 2 --torch /tmp/torch-ar-2.json
 * (and --nproc 4). Options: --sizes 1,8,64,256 (MiB)  --warmup 5  --iters 20  --out FILE.md
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cuda } from '@kiln/cuda';
import { empty } from '@kiln/tensor';
import { allReduce, barrier, destroyProcessGroup, initProcessGroup, launch } from '@kiln/distributed';
import { parseOptions } from './cli-options.js';

interface Row { mib: number; ms: number; algbw: number; busbw: number }

const argv = process.argv.slice(2);
const options = parseOptions(argv, {
  sizes: { type: 'numbers', default: '1,8,64,256' },
  warmup: { type: 'number', default: '5' },
  iters: { type: 'number', default: '20' },
  nproc: { type: 'number', default: '2' },
  torch: { type: 'string', default: '' },
  out: { type: 'string', default: '' },
  result: { type: 'string', default: '' },
});
const { sizes, warmup, iters } = options;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

if (process.env.WORLD_SIZE === undefined) {
  // the launcher's side: start the ranks, then print rank 0's results beside PyTorch's
  const nproc = options.nproc;
  const dir = mkdtempSync(join(tmpdir(), 'kiln-allreduce-'));
  try {
    const r = await launch({ nprocPerNode: nproc, script: fileURLToPath(import.meta.url), args: [...argv, '--result', join(dir, 'kiln.json')], nodeArgs: process.execArgv });
    if (r.exitCode !== 0) throw new Error(r.message);
    const kiln = JSON.parse(readFileSync(join(dir, 'kiln.json'), 'utf8')) as Row[];
    const torchFile = options.torch;
    const torch = torchFile ? (JSON.parse(readFileSync(torchFile, 'utf8')) as Row[]) : [];
    const lines = [
      `All-reduce (float32 sum, in place) on ${nproc} GPUs: median of ${iters} after ${warmup} warm-up; bus bandwidth = algbw x 2(N-1)/N`,
      '',
      '| MiB | Kiln ms | Kiln busbw GB/s | PyTorch ms | PyTorch busbw GB/s | Kiln / PyTorch busbw |',
      '|---:|---:|---:|---:|---:|---:|',
      ...kiln.map((k) => {
        const t = torch.find((x) => x.mib === k.mib);
        return `| ${k.mib} | ${k.ms.toFixed(3)} | ${k.busbw.toFixed(1)} | ${t ? t.ms.toFixed(3) : '-'} | ${t ? t.busbw.toFixed(1) : '-'} | ${t ? (k.busbw / t.busbw).toFixed(2) : '-'} |`;
      }),
    ];
    console.log(lines.join('\n'));
    const out = options.out;
    if (out) writeFileSync(out, `${lines.join('\n')}\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
} else {
  // a rank: one GPU each
  const group = initProcessGroup({ backend: 'nccl' });
  const dev = group.device;
  const rows: Row[] = [];
  for (const mib of sizes) {
    const n = Math.floor((mib * 1024 * 1024) / 4);
    const t = empty([n], { device: dev }).fill_(1);
    for (let i = 0; i < warmup; i++) allReduce(t);
    const times: number[] = [];
    for (let i = 0; i < iters; i++) {
      barrier();
      const start = new cuda.Event(dev).record();
      allReduce(t);
      const end = new cuda.Event(dev).record();
      times.push(start.elapsedTime(end));
      start.dispose();
      end.dispose();
    }
    t.dispose();
    const ms = median(times), bytes = n * 4, W = group.size;
    const algbw = bytes / (ms / 1000) / 1e9;
    rows.push({ mib, ms, algbw, busbw: (algbw * 2 * (W - 1)) / W });
  }
  if (group.rank === 0) writeFileSync(options.result, JSON.stringify(rows));
  destroyProcessGroup();
}
