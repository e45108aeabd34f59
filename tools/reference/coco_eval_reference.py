"""COCO box evaluation written from pycocotools' definition (COCOeval, iouType='bbox'), numpy only.

An independent oracle for @kiln/vision's CocoEval: arrays and numpy idioms (np.lexsort,
np.cumsum, np.maximum.accumulate, np.searchsorted) where the TypeScript uses loops. The rules it
follows, from pycocotools 2.0 (cocoeval.py, maskApi.c):

- IoU of [x, y, w, h] boxes in float64; for a crowd ground truth the union is the detection's area.
- Per (image, category): detections sorted by score, descending, stable (file order among ties),
  cut to maxDets[-1]; ground truths in file order.
- Per area range: a ground truth is ignored if crowd or its `area` is outside [lo, hi] (inclusive);
  ignored ones go last (stable). At each IoU threshold t, detections in score order each take the
  unmatched (or crowd) ground truth with the highest IoU >= min(t, 1 - 1e-10), the later one on
  equal IoU, and stop scanning at the first ignored ground truth once a non-ignored one matched.
  A detection matched to an ignored ground truth is ignored; an unmatched one whose area is out of
  range is ignored. "Matched" means a non-zero ground-truth id (pycocotools' test).
- Accumulate per (category, range, maxDet): the images' first maxDet detections, merged and
  stably sorted by score; tp / fp cumulative sums over the non-ignored; recall = tp / #non-ignored
  ground truths; precision = tp / (tp + fp + spacing(1)) made non-increasing from the right; the
  precision at each recall threshold is read at the first detection whose recall reaches it
  (0 when none does). Undefined (no ground truth in range, or nothing evaluated): -1.
- Summaries: numpy's mean over the values > -1 of the selected slice, -1 if none.
"""

from __future__ import annotations

import numpy as np

AREA_RANGES = [[0.0, 1e10], [0.0, 32.0 ** 2], [32.0 ** 2, 96.0 ** 2], [96.0 ** 2, 1e10]]
AREA_LABELS = ["all", "small", "medium", "large"]


def default_params(gt: dict) -> dict:
    return {
        "imageIds": sorted(img["id"] for img in gt["images"]),
        "categoryIds": sorted(c["id"] for c in gt["categories"]),
        "iouThresholds": np.linspace(0.5, 0.95, 10).tolist(),
        "recallThresholds": np.linspace(0.0, 1.0, 101).tolist(),
        "maxDets": [1, 10, 100],
        "areaRanges": AREA_RANGES,
        "areaRangeLabels": AREA_LABELS,
        "useCategories": True,
    }


def load_results(gt: dict, results: list) -> list:
    """Detections as annotations: id = position + 1, area = w * h, iscrowd 0."""
    image_ids = {img["id"] for img in gt["images"]}
    out = []
    for i, r in enumerate(results):
        assert r["image_id"] in image_ids, "result on an unknown image"
        x, y, w, h = r["bbox"]
        out.append({**r, "id": i + 1, "area": w * h, "iscrowd": 0})
    return out


def box_iou(dt_boxes: np.ndarray, gt_boxes: np.ndarray, crowd: np.ndarray) -> np.ndarray:
    """[D, G] IoU of xywh boxes; crowd columns divide by the detection's area."""
    if len(dt_boxes) == 0 or len(gt_boxes) == 0:
        return np.zeros((len(dt_boxes), len(gt_boxes)))
    d = dt_boxes[:, None, :]
    g = gt_boxes[None, :, :]
    w = np.minimum(d[..., 0] + d[..., 2], g[..., 0] + g[..., 2]) - np.maximum(d[..., 0], g[..., 0])
    h = np.minimum(d[..., 1] + d[..., 3], g[..., 1] + g[..., 3]) - np.maximum(d[..., 1], g[..., 1])
    inter = np.where((w > 0) & (h > 0), w * h, 0.0)
    d_area = d[..., 2] * d[..., 3]
    g_area = g[..., 2] * g[..., 3]
    union = np.where(crowd[None, :], d_area, d_area + g_area - inter)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(inter > 0, inter / union, 0.0)


def stable_desc(scores) -> np.ndarray:
    """Indices sorting scores descending, ties in original order."""
    scores = np.asarray(scores, dtype=np.float64)
    return np.lexsort((np.arange(len(scores)), -scores))


def match_pair(gts: list, dts: list, area_range, thresholds) -> dict | None:
    if not gts and not dts:
        return None
    lo, hi = area_range
    area = np.array([g["area"] for g in gts], dtype=np.float64)
    crowd_file = np.array([bool(g.get("iscrowd", 0)) for g in gts], dtype=bool)
    ignore_file = crowd_file | (area < lo) | (area > hi)
    order = np.lexsort((np.arange(len(gts)), ignore_file.astype(int)))
    gts = [gts[i] for i in order]
    g_ignore = ignore_file[order]
    g_crowd = crowd_file[order]
    g_ids = np.array([g["id"] for g in gts], dtype=np.float64)
    gt_boxes = np.array([g["bbox"] for g in gts], dtype=np.float64).reshape(-1, 4)
    dt_boxes = np.array([d["bbox"] for d in dts], dtype=np.float64).reshape(-1, 4)
    iou = box_iou(dt_boxes, gt_boxes, g_crowd)
    T, D, G = len(thresholds), len(dts), len(gts)
    dt_match = np.zeros((T, D))
    gt_match = np.zeros((T, G))
    dt_ignore = np.zeros((T, D), dtype=bool)
    for t, thr in enumerate(thresholds):
        for d in range(D):
            free = (gt_match[t] == 0) | g_crowd
            # candidates: free, IoU >= the bar; the bar rises with each better match, so the best
            # is the last index holding the maximum IoU among those scanned before the cut
            bar = min(thr, 1 - 1e-10)
            ok = free & (iou[d] >= bar)
            if not ok.any():
                continue
            regular = ok & ~g_ignore
            pool = regular if regular.any() else ok
            best = np.max(iou[d][pool])
            m = np.nonzero(pool & (iou[d] == best))[0][-1]
            dt_match[t, d] = g_ids[m]
            gt_match[t, m] = dts[d]["id"]
            dt_ignore[t, d] = g_ignore[m]
    d_area = np.array([d["area"] for d in dts], dtype=np.float64)
    out_of_range = (d_area < lo) | (d_area > hi)
    dt_ignore |= (dt_match == 0) & out_of_range[None, :]
    return {"scores": np.array([d["score"] for d in dts], dtype=np.float64), "dt_match": dt_match,
            "dt_ignore": dt_ignore, "g_ignore": g_ignore}


def evaluate(gt: dict, results: list, params: dict | None = None) -> dict:
    p = default_params(gt)
    p.update(params or {})
    image_ids = sorted(set(p["imageIds"]))
    use_cats = p["useCategories"]
    cat_ids = sorted(set(p["categoryIds"])) if use_cats else [-1]
    max_dets = sorted(p["maxDets"])
    thresholds = np.asarray(p["iouThresholds"], dtype=np.float64)
    rec_thr = np.asarray(p["recallThresholds"], dtype=np.float64)
    dts_all = load_results(gt, results)
    img_set, cat_set = set(image_ids), set(cat_ids)

    def group(anns):
        out = {}
        for a in anns:
            if a["image_id"] not in img_set or (use_cats and a["category_id"] not in cat_set):
                continue
            out.setdefault((a["image_id"], a["category_id"] if use_cats else -1), []).append(a)
        return out

    gts_by, dts_by = group(gt["annotations"]), group(dts_all)
    T, R, K, A, M = len(thresholds), len(rec_thr), len(cat_ids), len(p["areaRanges"]), len(max_dets)
    precision = -np.ones((T, R, K, A, M))
    recall = -np.ones((T, K, A, M))
    for k, c in enumerate(cat_ids):
        for a, rng in enumerate(p["areaRanges"]):
            evals = []
            for i in image_ids:
                dts = dts_by.get((i, c), [])
                dts = [dts[j] for j in stable_desc([d["score"] for d in dts])][: max_dets[-1]]
                e = match_pair(gts_by.get((i, c), []), dts, rng, thresholds)
                if e is not None:
                    evals.append(e)
            if not evals:
                continue
            n_pos = int(sum(np.count_nonzero(~e["g_ignore"]) for e in evals))
            if n_pos == 0:
                continue
            for m, md in enumerate(max_dets):
                scores = np.concatenate([e["scores"][:md] for e in evals])
                order = stable_desc(scores)
                matched = np.concatenate([e["dt_match"][:, :md] for e in evals], axis=1)[:, order] != 0
                ignored = np.concatenate([e["dt_ignore"][:, :md] for e in evals], axis=1)[:, order]
                tp = np.cumsum(matched & ~ignored, axis=1).astype(np.float64)
                fp = np.cumsum(~matched & ~ignored, axis=1).astype(np.float64)
                nd = tp.shape[1]
                for t in range(T):
                    rc = tp[t] / n_pos
                    pr = tp[t] / (fp[t] + tp[t] + np.spacing(1))
                    recall[t, k, a, m] = rc[-1] if nd else 0.0
                    envelope = np.maximum.accumulate(pr[::-1])[::-1]
                    at = np.searchsorted(rc, rec_thr, side="left")
                    q = np.zeros(R)
                    reached = at < nd
                    q[reached] = envelope[at[reached]]
                    precision[t, :, k, a, m] = q
    return {"params": p, "catIds": cat_ids, "maxDets": max_dets, "thresholds": thresholds,
            "precision": precision, "recall": recall}


def _mean_defined(s: np.ndarray) -> float:
    v = s[s > -1]
    return -1.0 if v.size == 0 else float(np.mean(v))


def summarize(ev: dict, k: int | None = None) -> list:
    """The 12 stats; k restricts to one category index."""
    p, thr = ev["params"], ev["thresholds"]
    prec, rec = ev["precision"], ev["recall"]
    if k is not None:
        prec, rec = prec[:, :, k:k + 1], rec[:, k:k + 1]
    labels, md = p["areaRangeLabels"], ev["maxDets"]

    def one(ap, iou=None, area="all", max_det=md[2]):
        a = [i for i, lab in enumerate(labels) if lab == area]
        m = [i for i, x in enumerate(md) if x == max_det]
        t = np.arange(len(thr)) if iou is None else np.nonzero(thr == iou)[0]
        s = prec[t][:, :, :, a][..., m] if ap else rec[t][:, :, a][..., m]
        return _mean_defined(s)

    return [one(1), one(1, 0.5), one(1, 0.75), one(1, area="small"), one(1, area="medium"), one(1, area="large"),
            one(0, max_det=md[0]), one(0, max_det=md[1]), one(0), one(0, area="small"),
            one(0, area="medium"), one(0, area="large")]
