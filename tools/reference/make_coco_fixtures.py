#!/usr/bin/env python3
"""Write @kiln/vision's COCO-evaluation fixtures: seeded COCO cases and what
coco_eval_reference.py (numpy only) computes for them.

    python3 tools/reference/make_coco_fixtures.py            # writes packages/vision/test/fixtures/coco-eval-cases.json
    python3 tools/reference/make_coco_fixtures.py --out DIR

Each case: a ground-truth dataset, a results list, parameter changes, and the expected 12 stats,
each category's 12 stats, recall [T, K, A, M], the mean precision over recall points
[T, K, A, M], and (hand-made cases and every fourth random one) the summary lines as Python formats them.
"""

from __future__ import annotations

import argparse
import json
import zlib
from pathlib import Path

import numpy as np

from coco_eval_reference import evaluate, summarize

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO_ROOT / "packages" / "vision" / "test" / "fixtures"
LINE = " {:<18} {} @[ IoU={:<9} | area={:>6s} | maxDets={:>3d} ] = {:0.3f}"


def summary_lines(stats: list, p: dict, max_dets: list) -> list:
    thr = p["iouThresholds"]
    rows = [(1, None, "all", 2), (1, 0.5, "all", 2), (1, 0.75, "all", 2), (1, None, "small", 2), (1, None, "medium", 2),
            (1, None, "large", 2), (0, None, "all", 0), (0, None, "all", 1), (0, None, "all", 2), (0, None, "small", 2),
            (0, None, "medium", 2), (0, None, "large", 2)]
    out = []
    for (ap, iou, area, m), s in zip(rows, stats):
        iou_str = "{:0.2f}:{:0.2f}".format(thr[0], thr[-1]) if iou is None else "{:0.2f}".format(iou)
        out.append(LINE.format("Average Precision" if ap else "Average Recall", "(AP)" if ap else "(AR)", iou_str, area, max_dets[m], s))
    return out


def rbox(rng: np.random.RandomState, scale: float) -> list:
    w, h = rng.uniform(0.5, 1.5, 2) * scale
    x, y = rng.uniform(0, 200, 2)
    return [round(float(x), 2), round(float(y), 2), round(float(w), 2), round(float(h), 2)]


def jitter(rng: np.random.RandomState, b: list, amount: float) -> list:
    x, y, w, h = b
    dx, dy = rng.normal(0, amount * w), rng.normal(0, amount * h)
    sw, sh = np.exp(rng.normal(0, amount, 2))
    return [round(float(x + dx), 2), round(float(y + dy), 2), round(float(w * sw), 2), round(float(h * sh), 2)]


def random_case(seed: int, name: str, n_images: int, n_cats: int, max_gt: int, max_extra: int,
                crowd_p: float, tie_scores: bool, params: dict, flood: int = 0) -> dict:
    rng = np.random.RandomState(seed)
    images = [{"id": int(i), "width": 256, "height": 256} for i in rng.choice(np.arange(1, 1000), n_images, replace=False)]
    cat_ids = sorted(int(c) for c in rng.choice(np.arange(1, 91), n_cats, replace=False))
    categories = [{"id": c, "name": f"class{c}"} for c in cat_ids]
    scales = [6.0, 20.0, 45.0, 80.0, 140.0]       # straddles 32 and 96: small, medium and large
    anns, results = [], []

    def score():
        return round(float(rng.choice([0.3, 0.5, 0.7, 0.9])), 1) if tie_scores and rng.rand() < 0.6 else round(float(rng.rand()), 4)

    for img in images:
        for _ in range(rng.randint(0, max_gt + 1)):
            b = rbox(rng, float(rng.choice(scales)))
            area = b[2] * b[3] * (1.0 if rng.rand() < 0.5 else float(rng.uniform(0.4, 1.0)))
            ann = {"id": len(anns) + 1, "image_id": img["id"], "category_id": int(rng.choice(cat_ids)), "bbox": b,
                   "area": round(area, 3), "iscrowd": int(rng.rand() < crowd_p)}
            anns.append(ann)
            for _ in range(rng.choice([0, 1, 1, 2])):   # missed, found, found twice
                results.append({"image_id": img["id"], "category_id": ann["category_id"] if rng.rand() < 0.9 else int(rng.choice(cat_ids)),
                                "bbox": jitter(rng, b, float(rng.choice([0.02, 0.08, 0.2]))), "score": score()})
        for _ in range(rng.randint(0, max_extra + 1)):  # false positives, some of a category without ground truth
            cat = int(rng.choice(cat_ids)) if rng.rand() < 0.85 else 999
            results.append({"image_id": img["id"], "category_id": cat, "bbox": rbox(rng, float(rng.choice(scales))), "score": score()})
    if flood:
        img, cat = images[0]["id"], cat_ids[0]
        anns.append({"id": len(anns) + 1, "image_id": img, "category_id": cat, "bbox": [10.0, 10.0, 50.0, 40.0], "area": 2000.0, "iscrowd": 0})
        for j in range(flood):
            results.append({"image_id": img, "category_id": cat, "bbox": jitter(rng, [10.0, 10.0, 50.0, 40.0], 0.1), "score": round(float(rng.rand()), 3)})
    order = rng.permutation(len(results))
    results = [results[i] for i in order]
    return {"name": name, "gt": {"images": images, "annotations": anns, "categories": categories}, "results": results, "params": params}


def handmade_cases() -> list:
    img = [{"id": 1}, {"id": 2}, {"id": 3}]
    cats = [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}, {"id": 3, "name": "no-ground-truth"}]
    gt = lambda i, im, c, b, area=None, crowd=0: {"id": i, "image_id": im, "category_id": c, "bbox": b,  # noqa: E731
                                                  "area": b[2] * b[3] if area is None else area, "iscrowd": crowd}
    dt = lambda im, c, b, s: {"image_id": im, "category_id": c, "bbox": b, "score": s}  # noqa: E731
    return [
        {"name": "iou exactly at thresholds 0.5, 0.75 and 0.95",
         "gt": {"images": img, "categories": cats, "annotations": [gt(1, 1, 1, [0, 0, 10, 10]), gt(2, 1, 1, [100, 0, 20, 20]), gt(3, 2, 1, [0, 0, 40, 10])]},
         "results": [dt(1, 1, [0, 0, 5, 10], 0.9), dt(1, 1, [100, 0, 15, 20], 0.8), dt(2, 1, [0, 0, 38, 10], 0.7)], "params": {}},
        {"name": "one detection between two ground truths of equal iou: the later one is taken",
         "gt": {"images": img, "categories": cats, "annotations": [gt(1, 1, 1, [0, 0, 10, 10]), gt(2, 1, 1, [10, 0, 10, 10]), gt(3, 1, 1, [5, 20, 10, 10])]},
         "results": [dt(1, 1, [5, 0, 10, 10], 0.9), dt(1, 1, [5, 0, 10, 10], 0.8), dt(1, 1, [5, 21, 10, 10], 0.1)], "params": {}},
        {"name": "crowd: detections inside it are ignored, however many; a regular ground truth is preferred",
         "gt": {"images": img, "categories": cats, "annotations": [gt(1, 1, 1, [0, 0, 100, 100], crowd=1), gt(2, 1, 1, [10, 10, 20, 20])]},
         "results": [dt(1, 1, [10, 10, 20, 20], 0.5), dt(1, 1, [12, 10, 20, 20], 0.9), dt(1, 1, [50, 50, 20, 20], 0.8),
                     dt(1, 1, [60, 60, 20, 20], 0.7), dt(1, 1, [150, 150, 20, 20], 0.6)], "params": {}},
        {"name": "area ranges from the annotation's area field, detections' own area for unmatched ones",
         "gt": {"images": img, "categories": cats, "annotations": [gt(1, 1, 1, [0, 0, 40, 40], area=1000.0), gt(2, 1, 2, [0, 0, 30, 30], area=1024.0),
                                                                    gt(3, 2, 2, [0, 0, 100, 100], area=9216.0), gt(4, 2, 1, [200, 200, 10, 10])]},
         "results": [dt(1, 1, [0, 0, 40, 40], 0.9), dt(1, 2, [1, 1, 30, 30], 0.8), dt(2, 2, [0, 0, 100, 100], 0.7),
                     dt(2, 1, [300, 300, 5, 5], 0.95), dt(2, 1, [300, 300, 50, 50], 0.4), dt(3, 1, [0, 0, 200, 200], 0.3)], "params": {}},
        {"name": "score ties across images and within an image keep image order, then file order",
         "gt": {"images": img, "categories": cats, "annotations": [gt(1, 1, 1, [0, 0, 10, 10]), gt(2, 2, 1, [0, 0, 10, 10]), gt(3, 3, 1, [0, 0, 10, 10])]},
         "results": [dt(3, 1, [0, 0, 10, 10], 0.5), dt(1, 1, [50, 50, 10, 10], 0.5), dt(2, 1, [0, 0, 10, 10], 0.5), dt(1, 1, [0, 0, 10, 10], 0.5)],
         "params": {}},
        {"name": "no detections at all",
         "gt": {"images": img, "categories": cats, "annotations": [gt(1, 1, 1, [0, 0, 10, 10])]}, "results": [], "params": {}},
        {"name": "no ground truth at all",
         "gt": {"images": img, "categories": cats, "annotations": []}, "results": [dt(1, 1, [0, 0, 10, 10], 0.5)], "params": {}},
        {"name": "more detections than maxDets with small maxDets",
         "gt": {"images": img, "categories": cats, "annotations": [gt(1, 1, 1, [0, 0, 10, 10]), gt(2, 1, 1, [20, 0, 10, 10])]},
         "results": [dt(1, 1, [40, 0, 10, 10], 0.9), dt(1, 1, [60, 0, 10, 10], 0.8), dt(1, 1, [20, 0, 10, 10], 0.7), dt(1, 1, [0, 0, 10, 10], 0.6)],
         "params": {"maxDets": [1, 2, 3]}},
    ]


def build_cases() -> list:
    cases = handmade_cases()
    configs = [
        # (name, n_images, n_cats, max_gt, max_extra, crowd_p, tie_scores, params, flood)
        ("small", 3, 2, 3, 2, 0.1, False, {}, 0),
        ("ties", 4, 2, 4, 3, 0.1, True, {}, 0),
        ("crowds", 4, 2, 4, 2, 0.4, True, {}, 0),
        ("many images", 8, 3, 3, 2, 0.1, True, {}, 0),
        ("empty-heavy", 6, 3, 1, 1, 0.1, False, {}, 0),
        ("maxDets 1 2 4", 4, 2, 4, 4, 0.1, True, {"maxDets": [1, 2, 4]}, 0),
        ("no categories", 4, 3, 4, 3, 0.2, True, {"useCategories": False}, 0),
        ("thresholds", 4, 2, 4, 3, 0.1, False, {"iouThresholds": [0.3, 0.5, 0.75], "recallThresholds": [0.0, 0.25, 0.5, 0.75, 1.0]}, 0),
        ("image subset", 6, 2, 3, 2, 0.1, True, "subset", 0),
        ("flood past 100", 2, 1, 2, 1, 0.0, False, {}, 130),
    ]
    for name, ni, nc, mg, me, cp, ties, params, flood in configs:
        for rep in range(4 if not flood else 2):
            label = f"random {name} #{rep}"
            seed = zlib.crc32(label.encode())
            case = random_case(seed, label, ni, nc, mg, me, cp, ties, {} if params == "subset" else params, flood)
            if params == "subset":
                ids = sorted(i["id"] for i in case["gt"]["images"])
                case["params"] = {"imageIds": ids[: len(ids) // 2], "categoryIds": [c["id"] for c in case["gt"]["categories"]][:1]}
            cases.append(case)
    return cases


def expected(case: dict, with_text: bool) -> dict:
    ev = evaluate(case["gt"], case["results"], case["params"])
    stats = summarize(ev)
    per_cat = [summarize(ev, k) for k in range(len(ev["catIds"]))] if ev["params"]["useCategories"] else []
    return {"stats": stats, "perCategory": per_cat, "iouThresholds": [float(x) for x in ev["thresholds"]],
            "recall": ev["recall"].reshape(-1).tolist(), "precisionMean": ev["precision"].mean(axis=1).reshape(-1).tolist(),
            **({"text": summary_lines(stats, ev["params"], ev["maxDets"])} if with_text else {})}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args()
    cases = build_cases()
    for i, c in enumerate(cases):
        c["expected"] = expected(c, with_text=not c["name"].startswith("random") or i % 4 == 0)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "coco-eval-cases.json"
    path.write_text(json.dumps({"generator": "tools/reference/make_coco_fixtures.py", "numpy": np.__version__, "cases": cases},
                               allow_nan=False, separators=(",", ":")) + "\n")
    print(f"{path}: {len(cases)} cases, {path.stat().st_size} bytes")


if __name__ == "__main__":
    main()
