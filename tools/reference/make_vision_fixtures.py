#!/usr/bin/env python3
"""Write @kiln/vision's torchvision fixtures (CPU): seeded inputs and what torchvision.ops computes.

    /usr/bin/python3 tools/reference/make_vision_fixtures.py      # Debian's torch 1.13 + torchvision 0.14

One JSON file per family in packages/vision/test/fixtures/ (nms.json, roi.json, boxes.json); the
cases are in vision_cases.py. The CUDA counterpart, run on the GPU machine, is
make_vision_cuda_fixtures.py. See README.md in this folder.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import vision_cases  # noqa: E402

GENERATOR = "tools/reference/make_vision_fixtures.py"
DEFAULT_OUT = Path(__file__).resolve().parents[2] / "packages" / "vision" / "test" / "fixtures"


def build(device: str) -> dict[str, dict]:
    """The fixture files' contents: every case with its expected values on `device`."""
    files = {}
    for family, cases in vision_cases.all_cases().items():
        for case in cases:
            case["expected"] = vision_cases.evaluate(case, device)
        files[family] = {"generator": GENERATOR, **vision_cases.versions(), "device": device, "cases": cases}
    return files


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for family, content in build("cpu").items():
        path = args.out / f"{family}.json"
        path.write_text(json.dumps(content, allow_nan=False, separators=(",", ":")) + "\n")
        print(f"{path}: {len(content['cases'])} cases, {path.stat().st_size // 1024} KB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
