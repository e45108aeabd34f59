#!/usr/bin/env python3
"""torchvision's side of the @kiln/vision benchmark (docs/benchmarks.md): NMS, batched NMS over 80
classes, and RoI Align forward + backward, timed on one device, with the inputs and outputs saved
for tools/bench/vision-gpu.ts, which times Kiln on the same inputs in the same device call,
checks its results against these, and prints both side by side.

On the GPU machine (see docs/gpu-machine.md), one call:
    bash tools/gpu/remote.sh 'py:tools/bench/vision_torch.py' 'bench:tools/bench/vision-gpu.ts'
Here, a CPU comparison with Debian's torchvision 0.14:
    OMP_NUM_THREADS=2 /usr/bin/python3 tools/bench/vision_torch.py --device cpu
    node --conditions=@kiln/source --import tsx tools/bench/vision-gpu.ts --device cpu

Timing: on CUDA, events around each call after warm-up, the median of --reps calls (forward +
backward of RoI Align is one call: forward, then backward of a fixed upstream gradient); on the
CPU, perf_counter around each call. Inputs: seeded numpy, float32.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import numpy as np


def boxes_for(rng, n: int, size: float = 800.0) -> np.ndarray:
    """n boxes in an 800 × 800 image, sizes 16 to 256, around 50 object centers (dense overlaps)."""
    centers = rng.uniform(0, size, (50, 2))
    c = centers[rng.integers(0, 50, n)] + rng.normal(0, 20, (n, 2))
    wh = rng.uniform(16, 256, (n, 2))
    return np.concatenate([c - wh / 2, c + wh / 2], axis=1).astype(np.float32)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--reps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--dir", default="/tmp/kiln-vision-bench", help="where the inputs, outputs and timings go for vision-gpu.ts")
    args = parser.parse_args()

    import torch
    import torchvision
    from torchvision.ops import batched_nms, nms, roi_align

    dev = torch.device(args.device)
    cuda = dev.type == "cuda"
    out = Path(args.dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(2024)

    def timed(fn) -> float:
        """Median milliseconds of fn() over --reps calls after --warmup."""
        for _ in range(args.warmup):
            fn()
        times = []
        for _ in range(args.reps):
            if cuda:
                a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                a.record()
                fn()
                b.record()
                b.synchronize()
                times.append(a.elapsed_time(b))
            else:
                t0 = time.perf_counter()
                fn()
                times.append((time.perf_counter() - t0) * 1e3)
        return statistics.median(times)

    def save(name: str, array: np.ndarray) -> None:
        np.ascontiguousarray(array).tofile(out / f"{name}.bin")

    rows = []
    # NMS at several sizes; batched NMS over 80 classes
    for n in (1000, 5000, 10000):
        boxes, scores = boxes_for(rng, n), rng.uniform(0, 1, n).astype(np.float32)
        classes = rng.integers(0, 80, n).astype(np.int64)
        save(f"boxes_{n}", boxes)
        save(f"scores_{n}", scores)
        save(f"classes_{n}", classes)
        b, s, c = (torch.from_numpy(x).to(dev) for x in (boxes, scores, classes))
        keep = nms(b, s, 0.5)
        save(f"nms_keep_{n}", keep.cpu().numpy().astype(np.int64))
        rows.append({"case": f"nms N={n}", "ms": timed(lambda: nms(b, s, 0.5)), "kept": int(keep.numel())})
        keep = batched_nms(b, s, c, 0.5)
        save(f"batched_keep_{n}", keep.cpu().numpy().astype(np.int64))
        rows.append({"case": f"batched_nms N={n}, 80 classes", "ms": timed(lambda: batched_nms(b, s, c, 0.5)), "kept": int(keep.numel())})

    # RoI Align forward + backward: 2 × 256 × 200 × 200 features (stride 4 of 800 × 800), 7 × 7, sampling 2
    feats = rng.normal(0, 1, (2, 256, 200, 200)).astype(np.float32)
    save("features", feats)
    x = torch.from_numpy(feats).to(dev).requires_grad_()
    for k in (128, 512, 2048):
        boxes = boxes_for(rng, k)
        rois = np.concatenate([rng.integers(0, 2, (k, 1)).astype(np.float32), boxes], axis=1)
        grad = rng.normal(0, 1, (k, 256, 7, 7)).astype(np.float32)
        save(f"rois_{k}", rois)
        save(f"grad_{k}", grad)
        r, g = torch.from_numpy(rois).to(dev), torch.from_numpy(grad).to(dev)

        def forward():
            return roi_align(x, r, (7, 7), spatial_scale=0.25, sampling_ratio=2, aligned=False)

        def step():
            x.grad = None
            forward().backward(g)

        if k == 512:   # the checked case (the others are timed only)
            save(f"roi_out_{k}", forward().detach().cpu().numpy())
            step()
            save(f"roi_grad_{k}", x.grad.cpu().numpy())
        with torch.no_grad():
            rows.append({"case": f"roi_align forward K={k}", "ms": timed(forward)})
        rows.append({"case": f"roi_align forward+backward K={k}", "ms": timed(step)})

    info = {"torch": torch.__version__, "torchvision": torchvision.__version__, "device": str(dev),
            "gpu": torch.cuda.get_device_name(0) if cuda else None, "threads": torch.get_num_threads(), "reps": args.reps, "rows": rows}
    (out / "torch.json").write_text(json.dumps(info, indent=1))
    for r in rows:
        print(f"torchvision {r['case']}: {r['ms']:.3f} ms" + (f" (kept {r['kept']})" if "kept" in r else ""))
    print(f"wrote {out}/torch.json and the inputs ({sum(f.stat().st_size for f in out.iterdir()) / 2**20:.0f} MiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
