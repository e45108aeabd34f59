#!/usr/bin/env python3
"""PyTorch's side of tools/bench/conv-overhead.ts: host and device time per call of the training
step's small convolutions (forward, input gradient, weight gradient through
torch.ops.aten.convolution_backward), float32 with TF32 off, cuDNN's heuristics (benchmark off), the
same shapes and loop as the TypeScript side; writes the rows to --json for it.

    python3 tools/bench/conv_overhead_torch.py --json /tmp/conv-overhead.json
"""

import argparse
import json
import statistics
import time

import torch

SHAPES = [(32, 64, 32, 32, 64, 3), (32, 64, 16, 16, 64, 3), (32, 64, 8, 8, 64, 3), (32, 64, 16, 16, 64, 1), (32, 64, 8, 8, 64, 1)]


def time_loop(call, calls, warmup, reps):
    for _ in range(warmup):
        call()
    torch.cuda.synchronize()
    host, device = [], []
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        t0 = time.perf_counter()
        for _ in range(calls):
            call()
        t1 = time.perf_counter()
        b.record()
        b.synchronize()
        host.append((t1 - t0) * 1e6 / calls)
        device.append(a.elapsed_time(b) * 1e3 / calls)
    return statistics.median(host), statistics.median(device)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--json", default="")
    args, _ = ap.parse_known_args()
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = False
    rows = []
    for n, c, h, w, o, k in SHAPES:
        x = torch.randn(n, c, h, w, device="cuda")
        wt = torch.randn(o, c, k, k, device="cuda")
        pad = k // 2
        gy = torch.nn.functional.conv2d(x, wt, padding=pad)

        def backward(mask):
            return torch.ops.aten.convolution_backward(gy, x, wt, None, [1, 1], [pad, pad], [1, 1], False, [0, 0], 1, mask)

        calls = {
            "forward": lambda: torch.nn.functional.conv2d(x, wt, padding=pad),
            "input gradient": lambda: backward([True, False, False]),
            "weight gradient": lambda: backward([False, True, False]),
        }
        for name, call in calls.items():
            host_us, device_us = time_loop(call, args.calls, args.warmup, args.reps)
            rows.append({"shape": [n, c, h, w, o, k], "pass": name, "hostUs": host_us, "deviceUs": device_us})
            print(f"torch [{n}, {c}, {h}, {w}] -> {o}, {k}x{k} {name}: host {host_us:.1f} us/call, device {device_us:.1f} us/call", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"torch": torch.__version__, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
