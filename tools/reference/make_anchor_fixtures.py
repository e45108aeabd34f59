#!/usr/bin/env python3
"""Write @kiln/vision's AnchorGenerator and Matcher fixtures with torchvision (CPU).

    /usr/bin/python3 tools/reference/make_anchor_fixtures.py     # Debian's python3-torchvision 0.14
    ... --out DIR                                                  # default packages/vision/test/fixtures

Writes anchors-matcher.json: for each anchor case, the generator's sizes / aspect ratios, the
batch and feature-map shapes, the dtype, torchvision's cell anchors and the anchors of the first
image (all images get the same); for each matcher case, an IoU matrix (float32, values from a
small set so that ties occur), the thresholds, and torchvision's matches.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
import torchvision
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.image_list import ImageList
from torchvision.models.detection._utils import Matcher

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO_ROOT / "packages" / "vision" / "test" / "fixtures"

RETINANET_SIZES = [[x, int(x * 2 ** (1.0 / 3)), int(x * 2 ** (2.0 / 3))] for x in [32, 64, 128, 256, 512]]
ANCHOR_CASES = [
    # name, sizes, aspect ratios (None: torchvision's default), image [B, C, H, W], feature grids, dtype
    ("torchvision defaults, one level", None, None, [1, 3, 37, 50], [[5, 7]], "float32"),
    ("RetinaNet sizes and ratios, five levels, two images", RETINANET_SIZES, [[0.5, 1.0, 2.0]] * 5, [2, 3, 64, 80],
     [[8, 10], [4, 5], [2, 3], [1, 2], [1, 1]], "float32"),
    ("RetinaNet sizes without int(): float sizes", [[x, x * 2 ** (1.0 / 3), x * 2 ** (2.0 / 3)] for x in [32, 64]], [[0.5, 1.0, 2.0]] * 2,
     [1, 3, 40, 48], [[5, 6], [3, 3]], "float32"),
    ("half-integer corners round to even", [[1, 3, 5, 7, 9, 11]], [[1.0, 0.25, 4.0, 0.5]], [1, 3, 9, 9], [[3, 3]], "float32"),
    ("flat sizes: one level per size; flat ratios on every level", [16, 48], [0.5, 1.0, 2.0], [1, 3, 20, 33], [[4, 6], [2, 3]], "float32"),
    ("float64 feature maps", [[20, 40]], [[0.3, 1.7]], [1, 3, 30, 30], [[3, 4]], "float64"),
    ("odd strides: image not a multiple of the grid", [[8]], [[1.0]], [1, 1, 17, 23], [[4, 5]], "float32"),
]

MATCHER_CASES = [
    # name, M, N, high, low, allow_low_quality, seed
    ("RetinaNet 0.5 / 0.4", 4, 30, 0.5, 0.4, False, 1),
    ("RetinaNet 0.5 / 0.4 with low-quality matches", 4, 30, 0.5, 0.4, True, 2),
    ("RPN 0.7 / 0.3 with low-quality matches", 6, 40, 0.7, 0.3, True, 3),
    ("equal thresholds", 3, 25, 0.5, 0.5, False, 4),
    ("one ground truth", 1, 12, 0.5, 0.4, True, 5),
    ("one anchor", 5, 1, 0.5, 0.4, True, 6),
    ("a ground truth that overlaps nothing", 3, 20, 0.6, 0.4, True, 7),
    ("many ties", 5, 50, 0.5, 0.25, True, 8),
]


def anchor_case(name, sizes, ratios, image_shape, grids, dtype):
    kwargs = {}
    if sizes is not None:
        kwargs["sizes"] = tuple(tuple(s) for s in sizes) if isinstance(sizes[0], list) else tuple(sizes)
    if ratios is not None:
        kwargs["aspect_ratios"] = tuple(tuple(r) for r in ratios) if isinstance(ratios[0], list) else tuple(ratios)
    gen = AnchorGenerator(**kwargs)
    tdtype = getattr(torch, dtype)
    images = torch.zeros(image_shape, dtype=tdtype)
    image_list = ImageList(images, [tuple(image_shape[-2:])] * image_shape[0])
    features = [torch.zeros([image_shape[0], 2, h, w], dtype=tdtype) for h, w in grids]
    anchors = gen(image_list, features)
    assert all(torch.equal(anchors[0], a) for a in anchors)
    return {"name": name, "sizes": sizes, "aspectRatios": ratios, "imageShape": image_shape, "grids": grids, "dtype": dtype,
            "cellAnchors": [c.tolist() for c in gen.cell_anchors], "numAnchorsPerLocation": gen.num_anchors_per_location(),
            "numImages": len(anchors), "anchors": anchors[0].reshape(-1).tolist()}


def matcher_case(name, M, N, high, low, allow, seed):
    rng = np.random.RandomState(seed)
    levels = np.array([0.0, 0.1, 0.25, 0.3, 0.4, 0.45, 0.5, 0.6, 0.7, 0.9], dtype=np.float32)
    iou = levels[rng.randint(0, len(levels), size=(M, N))] * (rng.rand(M, N) < 0.7)
    if "nothing" in name:
        iou[1, :] = 0
    if "many ties" in name:
        iou[:, ::3] = 0.45
    q = torch.from_numpy(iou.astype(np.float32))
    matches = Matcher(high, low, allow_low_quality_matches=allow)(q)
    return {"name": name, "high": high, "low": low, "allowLowQualityMatches": allow, "shape": [M, N],
            "iou": [float(x) for x in iou.reshape(-1)], "matches": matches.tolist()}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args()
    out = {"generator": "tools/reference/make_anchor_fixtures.py", "torch": torch.__version__, "torchvision": torchvision.__version__,
           "anchors": [anchor_case(*c) for c in ANCHOR_CASES], "matcher": [matcher_case(*c) for c in MATCHER_CASES]}
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "anchors-matcher.json"
    path.write_text(json.dumps(out, allow_nan=False, separators=(",", ":")) + "\n")
    print(f"{path}: {len(out['anchors'])} anchor cases, {len(out['matcher'])} matcher cases, {path.stat().st_size} bytes")


if __name__ == "__main__":
    main()
