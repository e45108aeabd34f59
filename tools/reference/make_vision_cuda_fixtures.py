#!/usr/bin/env python3
"""Write @kiln/vision's torchvision fixtures computed on CUDA, on the GPU machine (torchvision 0.26):

    bash tools/gpu/remote.sh 'py:tools/reference/make_vision_cuda_fixtures.py'

writes $OUT/vision_cuda.json: the cases of make_vision_fixtures.py (vision_cases.py) with
torchvision's CUDA results. Copy it to packages/vision/test/fixtures/cuda.json; the vision tests
then also compare Kiln's CUDA kernels with it (they skip that comparison while the file is absent).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import vision_cases  # noqa: E402
from make_vision_fixtures import build  # noqa: E402


def main() -> int:
    import torch
    if not torch.cuda.is_available():
        print("make_vision_cuda_fixtures: no CUDA device", file=sys.stderr)
        return 2
    out = Path(os.environ.get("OUT", "out")) / "vision_cuda.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    files = build("cuda")
    content = {"generator": "tools/reference/make_vision_cuda_fixtures.py", **vision_cases.versions(), "device": "cuda",
               "gpu": torch.cuda.get_device_name(0), "cases": [c for f in files.values() for c in f["cases"]]}
    out.write_text(json.dumps(content, allow_nan=False, separators=(",", ":")) + "\n")
    print(f"{out}: {len(content['cases'])} cases, {out.stat().st_size // 1024} KB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
