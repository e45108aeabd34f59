#!/usr/bin/env python3
"""Times numpy and PyTorch CPU ops on request, for Kiln's CPU benchmarks (tools/bench/gemm-cpu.ts).

A long-lived helper: it reads one JSON request per line on stdin and answers one JSON line on
stdout, so the Node benchmark can interleave Kiln's calls with numpy's and PyTorch's in one run (the
load of a shared machine then falls on all alike). Its thread count is fixed when it starts:
OMP_NUM_THREADS / OPENBLAS_NUM_THREADS in its environment, and torch.set_num_threads.

Requests:
  {"op": "hello"}                               -> {"numpy": "1.24.2", "torch": "1.13.0a0", "blas": ...}
  {"op": "matmul", "lib": "numpy"|"torch", "shape": [B, M, K, N], "dtype": "float32", "reps": 20}
  {"op": "conv2d", "lib": "torch", "input": [N, C, H, W], "weight": [O, C/g, kh, kw],
   "stride": s, "padding": p, "groups": g, "pass": "forward"|"backward", "dtype": "float32", "reps": 20}
                                                -> {"ms": [per-call times]} or {"error": "..."}
Inputs are made once per request; two untimed calls warm up; then `reps` calls are timed one by one.

Run by the benchmark (with /usr/bin/python3, where Debian's python3-torch lives); by hand:
    echo '{"op": "hello"}' | OMP_NUM_THREADS=1 /usr/bin/python3 tools/bench/cpu_ops_server.py
"""

import json
import os
import sys
import time

try:
    import numpy as np
except ImportError:  # reported by "hello"
    np = None
try:
    import torch
except ImportError:
    torch = None

THREADS = int(os.environ.get("OMP_NUM_THREADS", "0") or 0)
if torch is not None and THREADS > 0:
    torch.set_num_threads(THREADS)


def timed(fn, reps):
    fn()
    fn()
    out = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1e3)
    return out


def matmul(req):
    b, m, k, n = req["shape"]
    if req["lib"] == "numpy":
        if np is None:
            raise RuntimeError("numpy is not installed")
        rng = np.random.default_rng(0)
        a = rng.standard_normal((b, m, k)).astype(req["dtype"])
        w = rng.standard_normal((b, k, n)).astype(req["dtype"])
        fn = (lambda: a[0] @ w[0]) if b == 1 else (lambda: a @ w)
    else:
        if torch is None:
            raise RuntimeError("torch is not installed")
        dt = getattr(torch, req["dtype"])
        g = torch.Generator().manual_seed(0)
        a = torch.randn(b, m, k, generator=g, dtype=dt)
        w = torch.randn(b, k, n, generator=g, dtype=dt)
        fn = (lambda: torch.mm(a[0], w[0])) if b == 1 else (lambda: torch.bmm(a, w))
    return timed(fn, req["reps"])


def conv2d(req):
    if torch is None:
        raise RuntimeError("torch is not installed")
    dt = getattr(torch, req["dtype"])
    g = torch.Generator().manual_seed(0)
    x = torch.randn(*req["input"], generator=g, dtype=dt)
    w = torch.randn(*req["weight"], generator=g, dtype=dt)
    opts = dict(stride=req["stride"], padding=req["padding"], groups=req["groups"])
    if req["pass"] == "forward":
        with torch.no_grad():
            fn = lambda: torch.nn.functional.conv2d(x, w, None, **opts)
            return timed(fn, req["reps"])
    x.requires_grad_(True)
    w.requires_grad_(True)
    y = torch.nn.functional.conv2d(x, w, None, **opts)
    gy = torch.randn(y.shape, generator=g, dtype=dt)
    # forward + backward (input and weight gradients), as one training step uses them
    fn = lambda: torch.autograd.grad(torch.nn.functional.conv2d(x, w, None, **opts), (x, w), gy)
    return timed(fn, req["reps"])


def hello(_req):
    return {
        "numpy": np.__version__ if np is not None else None,
        "torch": torch.__version__ if torch is not None else None,
        "threads": torch.get_num_threads() if torch is not None else THREADS,
    }


def main():
    for line in sys.stdin:
        req = json.loads(line)
        try:
            if req["op"] == "hello":
                reply = hello(req)
            elif req["op"] == "matmul":
                reply = {"ms": matmul(req)}
            elif req["op"] == "conv2d":
                reply = {"ms": conv2d(req)}
            else:
                reply = {"error": f"unknown op {req['op']!r}"}
        except Exception as e:  # noqa: BLE001 (reported to the benchmark, which prints it)
            reply = {"error": f"{type(e).__name__}: {e}"}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
