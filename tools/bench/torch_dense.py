#!/usr/bin/env python3
"""Dense compute on the GPU in PyTorch: matmul and conv2d, the reference for tools/bench/dense-gpu.ts.

Cases (the same as Kiln's, in the same device call):
  matmul  n x n @ n x n, n in --sizes (1024, 4096), as float32 (TF32 off), tf32 (float32 with
          torch.backends.cuda.matmul.allow_tf32) and bfloat16
  conv    3x3, padding 1, x [16, 256, 64, 64], weight [256, 256, 3, 3], no bias: forward, and
          forward + backward (input and weight gradients), float32 (TF32 off) and bfloat16, with
          torch.backends.cudnn.benchmark off and on (Kiln's setCudnnBenchmark matches it)
  sum     float32 sums over [0, 2, 3] (the convolutions' bias gradients) and others (SUM_CASES,
          dense-gpu.ts has the same list); "tflops" holds GB/s read for these

Timing: CUDA events around each call, after --warmup calls; the median of --reps. TFLOP/s count
2 n^3 for a matmul and 2 N O C kh kw OH OW per convolution pass (three passes forward + backward).
--device cpu (host timers) and small --sizes / --conv rehearse the script where no GPU is.

    python3 tools/bench/torch_dense.py --json /tmp/torch-dense.json
    python3 tools/bench/torch_dense.py --device cpu --sizes 64 --conv 2,8,16,16,8 --reps 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F

DEVICE = "cuda"
CONV_X = (16, 256, 64, 64)
CONV_W = (256, 256, 3, 3)


def log(*parts):
    print(*parts, flush=True)


def time_ms(fn, warmup: int, reps: int) -> float:
    for _ in range(warmup):
        fn()
    if DEVICE == "cpu":
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1e3)
        return statistics.median(times)
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b))
    return statistics.median(times)


def matmul_cases(sizes, warmup, reps):
    out = []
    for n in sizes:
        for config in ("float32", "tf32", "bfloat16"):
            dtype = torch.bfloat16 if config == "bfloat16" else torch.float32
            torch.backends.cuda.matmul.allow_tf32 = config == "tf32"
            g = torch.Generator(device=DEVICE).manual_seed(n)
            a = torch.randn(n, n, device=DEVICE, generator=g).to(dtype)
            b = torch.randn(n, n, device=DEVICE, generator=g).to(dtype)
            ms = time_ms(lambda: torch.matmul(a, b), warmup, reps)
            tflops = 2 * n**3 / (ms * 1e-3) / 1e12
            log(f"  torch matmul {config} {n}: {ms:.4f} ms, {tflops:.1f} TFLOP/s")
            out.append({"op": "matmul", "config": config, "size": n, "ms": ms, "tflops": tflops})
    torch.backends.cuda.matmul.allow_tf32 = False
    return out


def conv_cases(warmup, reps):
    out = []
    n, c, h, w = CONV_X
    o, _, kh, kw = CONV_W
    flops = 2 * n * o * c * kh * kw * h * w
    torch.backends.cudnn.allow_tf32 = False   # float32 without TF32, as Kiln's 'highest'
    for benchmark in (False, True):
        torch.backends.cudnn.benchmark = benchmark
        for config in ("float32", "bfloat16"):
            dtype = torch.bfloat16 if config == "bfloat16" else torch.float32
            g = torch.Generator(device=DEVICE).manual_seed(7)
            x = torch.randn(*CONV_X, device=DEVICE, generator=g).to(dtype).requires_grad_()
            wt = (torch.randn(*CONV_W, device=DEVICE, generator=g) * 0.02).to(dtype).requires_grad_()
            gy = torch.randn(n, o, h, w, device=DEVICE, generator=g).to(dtype)

            def forward():
                with torch.no_grad():
                    F.conv2d(x, wt, None, padding=1)

            def forward_backward():
                x.grad = None
                wt.grad = None
                F.conv2d(x, wt, None, padding=1).backward(gy)

            for mode, fn, passes in (("forward", forward, 1), ("forward+backward", forward_backward, 3)):
                ms = time_ms(fn, warmup, reps)
                tflops = passes * flops / (ms * 1e-3) / 1e12
                log(f"  torch conv {mode} {config} benchmark={benchmark}: {ms:.3f} ms, {tflops:.1f} TFLOP/s")
                out.append({"op": "conv", "mode": mode, "config": config, "benchmark": benchmark, "ms": ms, "tflops": tflops})
    torch.backends.cudnn.benchmark = False
    return out


SUM_CASES = [
    ((8, 256, 64, 64), (0, 2, 3)),
    ((8, 256, 16, 16), (0, 2, 3)),
    ((8, 256, 4, 4), (0, 2, 3)),
    ((32, 64, 32, 32), (0, 2, 3)),
    ((8, 256, 64, 64), (3,)),
    ((8, 256, 64, 64), (0, 1, 2, 3)),
]


def sum_cases(warmup, reps):
    out = []
    for shape, dims in SUM_CASES:
        g = torch.Generator(device=DEVICE).manual_seed(11)
        x = torch.randn(*shape, device=DEVICE, generator=g)
        ms = time_ms(lambda: x.sum(dims), warmup, reps)
        gbps = x.numel() * 4 / (ms * 1e-3) / 1e9
        size = f"[{', '.join(map(str, shape))}] over [{', '.join(map(str, dims))}]"
        log(f"  torch sum {size}: {ms:.4f} ms, {gbps:.0f} GB/s")
        out.append({"op": "sum", "config": "float32", "size": size, "ms": ms, "tflops": gbps})
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="1024,4096")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--reps", type=int, default=20)
    p.add_argument("--json", default="")
    p.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    p.add_argument("--conv", default="16,256,64,64,256", help="N,C,H,W,O of the 3x3 convolution")
    args = p.parse_args()
    global DEVICE, CONV_X, CONV_W
    DEVICE = args.device
    n, c, h, w, o = (int(v) for v in args.conv.split(","))
    CONV_X, CONV_W = (n, c, h, w), (o, c, 3, 3)
    name = torch.cuda.get_device_properties(0).name if DEVICE == "cuda" else "CPU (rehearsal)"
    log(f"torch {torch.__version__}, cuDNN {torch.backends.cudnn.version()}, CUDA {torch.version.cuda}, {name}")
    results = matmul_cases([int(s) for s in args.sizes.split(",")], args.warmup, args.reps) + conv_cases(args.warmup, args.reps) + sum_cases(args.warmup, args.reps)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"torch": torch.__version__, "cudnn": torch.backends.cudnn.version(), "cuda": torch.version.cuda,
                       "gpu": name, "results": results}, f)


if __name__ == "__main__":
    main()
