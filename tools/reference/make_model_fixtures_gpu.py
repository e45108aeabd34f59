#!/usr/bin/env python3
"""The torchvision-model check on the GPU machine (torchvision 0.26, CUDA), a remote.sh `py:` step.

    bash tools/gpu/remote.sh 'py:tools/reference/make_model_fixtures_gpu.py --dir /tmp/kiln-tv' \\
        'sh:KILN_TORCHVISION_FIXTURES=/tmp/kiln-tv/torchvision-models.json KILN_TORCHVISION_WEIGHTS=/tmp/kiln-tv node node_modules/vitest/vitest.mjs run packages/vision/test/torchvision-models.test.ts'

Does what make_model_fixtures.py does (the same seeded weights, inputs and records; see
torchvision_models.py), with that machine's torchvision and on its GPU (float64 for the
reference; TF32 off so that float32 checks mean float32), keeping the committed fixture's
post-processing setting; writes into --dir:

- torchvision-models.json, the fixture (also copied to $OUT, so it comes back),
- resnet18, resnet50 and retinanet_resnet50_fpn .safetensors, written by the `safetensors`
  library (the real writer: Kiln's test then reads files it did not write itself).

Then compares the new fixture with the committed one (torchvision 0.14, CPU): the same weights
(CRC-32s), tensors within 1e-6 of each other relative to their scale, the same detections, losses
within 1e-9. The second step runs Kiln's test (CPU and CUDA) against the new fixture and files.
Exit status 1 when the fixtures disagree.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

import torch

import torchvision_models as tm

REPO_ROOT = Path(__file__).resolve().parents[2]
COMMITTED = REPO_ROOT / "packages" / "vision" / "test" / "fixtures" / "torchvision-models.json"


def compare(new: dict, old: dict) -> list[str]:
    """Where the two fixtures disagree (empty when they agree)."""
    bad = []
    for model in ("resnet18", "resnet50", "retinanet"):
        if new[model]["weights"] != old[model]["weights"]:
            bad.append(f"{model}: the seeded weights differ (keys, shapes or CRC-32s)")
    pairs = [(f"{m}.{k}", v) for m in ("resnet18", "resnet50") for k, v in new[m]["outputs"].items()]
    pairs += [(f"retinanet.{k}", v) for k, v in new["retinanet"]["tensors"].items()]
    olds = {f"{m}.{k}": v for m in ("resnet18", "resnet50") for k, v in old[m]["outputs"].items()}
    olds.update({f"retinanet.{k}": v for k, v in old["retinanet"]["tensors"].items()})
    for name, rec in pairs:
        ref = olds.get(name)
        if ref is None or ref["shape"] != rec["shape"] or ref["indices"] != rec["indices"]:
            bad.append(f"{name}: shape or samples differ")
            continue
        err = max(abs(a - b) for a, b in zip(rec["values"], ref["values"])) / ref["maxAbs"]
        if err > 1e-6:
            bad.append(f"{name}: relative error {err:.2e} > 1e-6")
    for i, (a, b) in enumerate(zip(new["retinanet"]["detections"], old["retinanet"]["detections"])):
        if a["labels"] != b["labels"] or any(abs(x - y) > 1e-6 * max(1, abs(y)) for x, y in zip(a["boxes"] + a["scores"], b["boxes"] + b["scores"])):
            bad.append(f"detections of image {i} differ")
    for kind, rec in new["retinanet"]["losses"].items():
        ref = old["retinanet"]["losses"][kind]
        for part in ("classification", "bboxRegression"):
            if abs(rec[part] - ref[part]) > 1e-9 * abs(ref[part]):
                bad.append(f"{kind} {part}: {rec[part]!r} vs {ref[part]!r}")
    return bad


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", type=Path, default=Path("/tmp/kiln-tv"))
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    old = json.loads(COMMITTED.read_text())
    setting = (old["retinanet"]["options"]["topkCandidates"], old["retinanet"]["options"]["detectionsPerImg"])
    fixture = tm.build_fixture(args.device, "tools/reference/make_model_fixtures_gpu.py", settings=(setting,))
    args.dir.mkdir(parents=True, exist_ok=True)
    path = args.dir / "torchvision-models.json"
    path.write_text(json.dumps(fixture, allow_nan=False, separators=(",", ":")) + "\n")
    print(f"{path}: {path.stat().st_size} bytes")
    if os.environ.get("OUT"):
        shutil.copy(path, Path(os.environ["OUT"]) / "torchvision-models-gpu.json")
    from safetensors.torch import save_file
    for name, model in (("resnet18", tm.make_resnet("resnet18")), ("resnet50", tm.make_resnet("resnet50")),
                        ("retinanet_resnet50_fpn", tm.make_retinanet(*setting))):
        tm.seed_state(model)
        file = args.dir / f"{name}.safetensors"
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(file))
        print(f"{file}: {file.stat().st_size} bytes (safetensors library)")
    bad = compare(fixture, old)
    print(f"against the committed fixture (torchvision {old['torchvision']}, {old['device']}): " + ("the same" if not bad else f"{len(bad)} differences"))
    for line in bad:
        print("  " + line)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
