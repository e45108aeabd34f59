"""PyTorch's side of tools/bench/allreduce.ts: torch.distributed.all_reduce over NCCL, float32 sum in
place, per size the median of --iters timed with CUDA events after --warmup, as the Kiln side.

    NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1 \
      torchrun --nproc-per-node 2 tools/bench/torch_allreduce.py --json /tmp/torch-ar-2.json
"""
import argparse
import json
import os
import statistics

import torch
import torch.distributed as dist


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--sizes', default='1,8,64,256', help='MiB, comma-separated')
    ap.add_argument('--warmup', type=int, default=5)
    ap.add_argument('--iters', type=int, default=20)
    ap.add_argument('--json', required=True)
    a = ap.parse_args()
    for k, v in (('NCCL_NVLS_ENABLE', '0'), ('TORCH_SYMM_MEM_DISABLE_MULTICAST', '1'), ('NVSHMEM_DISABLE_NVLS', '1')):
        os.environ.setdefault(k, v)
    local = int(os.environ['LOCAL_RANK'])
    torch.cuda.set_device(local)
    dist.init_process_group('nccl', device_id=torch.device('cuda', local))
    w = dist.get_world_size()
    rows = []
    for mib in [float(s) for s in a.sizes.split(',')]:
        n = int(mib * 1024 * 1024 // 4)
        t = torch.ones(n, device='cuda')
        for _ in range(a.warmup):
            dist.all_reduce(t)
        times = []
        for _ in range(a.iters):
            dist.barrier()
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            dist.all_reduce(t)
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end))
        ms = statistics.median(times)
        algbw = n * 4 / (ms / 1000) / 1e9
        rows.append({'mib': mib, 'ms': ms, 'algbw': algbw, 'busbw': algbw * 2 * (w - 1) / w})
    if dist.get_rank() == 0:
        with open(a.json, 'w') as f:
            json.dump(rows, f)
    dist.destroy_process_group()


if __name__ == '__main__':
    main()
