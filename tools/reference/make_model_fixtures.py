#!/usr/bin/env python3
"""Write @kiln/vision's torchvision-model fixture with Debian's torchvision 0.14 (CPU).

    /usr/bin/python3 tools/reference/make_model_fixtures.py                 # the fixture
    /usr/bin/python3 tools/reference/make_model_fixtures.py --weights DIR   # also the seeded weights as safetensors

Builds torchvision's resnet18, resnet50 and retinanet_resnet50_fpn with seeded weights (no downloads; see
torchvision_models.py for the definition Kiln's test regenerates them from) and records, in
float64: each ResNet's four stages and logits; RetinaNet's backbone stages, pyramid levels, head
outputs, post-processed detections (checked to be the same in float32 and under small
perturbations), training losses for the L1, smooth-L1 and GIoU box losses, and the L1 run's
gradients of four weights. Writes packages/vision/test/fixtures/torchvision-models.json (--out DIR
to write elsewhere) and, with --weights DIR, resnet18.safetensors, resnet50.safetensors and
retinanet_resnet50_fpn.safetensors (about 47, 100 and 140 MB: not committed; Kiln's test loads
them when KILN_TORCHVISION_WEIGHTS=DIR instead of regenerating them).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

import torchvision_models as tm

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO_ROOT / "packages" / "vision" / "test" / "fixtures"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--weights", type=Path, default=None, help="also write the seeded weights here as safetensors")
    args = ap.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    start = time.time()
    fixture = tm.build_fixture("cpu", "tools/reference/make_model_fixtures.py")
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "torchvision-models.json"
    path.write_text(json.dumps(fixture, allow_nan=False, separators=(",", ":")) + "\n")
    print(f"{path}: {path.stat().st_size} bytes, {time.time() - start:.1f} s")
    if args.weights:
        args.weights.mkdir(parents=True, exist_ok=True)
        opts = fixture["retinanet"]["options"]
        for name, model in (("resnet18", tm.make_resnet("resnet18")), ("resnet50", tm.make_resnet("resnet50")),
                            ("retinanet_resnet50_fpn", tm.make_retinanet(opts["topkCandidates"], opts["detectionsPerImg"]))):
            tm.seed_state(model)
            file = args.weights / f"{name}.safetensors"
            tm.write_safetensors(model.state_dict(), file)
            print(f"{file}: {file.stat().st_size} bytes")


if __name__ == "__main__":
    main()
