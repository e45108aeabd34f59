"""The cases of @kiln/vision's torchvision fixtures: seeded inputs (numpy only) and, given torch and
torchvision, the expected outputs of torchvision.ops on a device. Used by make_vision_fixtures.py
(CPU, this machine's torchvision) and make_vision_cuda_fixtures.py (the GPU machine's).

Every case is {"name", "op", "options", "inputs": {name: tensor}, "expected": {name: tensor}}
with tensors as {"shape", "dtype", "data"} (flat, row-major; see tools/reference/README.md).
"""

from __future__ import annotations

import math
import zlib

import numpy as np


def seed_of(name: str) -> int:
    return zlib.crc32(name.encode())


def quantized(x, step: float = 1 / 64):
    """x rounded to multiples of a power of two: exact in float32, short in JSON."""
    return np.round(np.asarray(x, dtype=np.float64) / step) * step


def tensor_json(array, dtype: str | None = None) -> dict:
    array = np.asarray(array)
    if dtype is None:
        dtype = "int64" if array.dtype.kind in "iu" else ("bool" if array.dtype.kind == "b" else str(array.dtype))
    data = array.reshape(-1)
    values = [bool(v) for v in data] if dtype == "bool" else data.tolist()
    return {"shape": list(array.shape), "dtype": dtype, "data": values}


# ------------------------------------------------------------------ inputs

def random_boxes(rng, n: int, size: float = 100.0, min_wh: float = 1.0, max_wh: float = 40.0) -> np.ndarray:
    """[n, 4] boxes (x1, y1, x2, y2) inside a size × size image, some heavily overlapping."""
    xy = rng.uniform(0, size - max_wh, (n, 2))
    wh = rng.uniform(min_wh, max_wh, (n, 2))
    return quantized(np.concatenate([xy, xy + wh], axis=1))


def clustered_boxes(rng, n: int, clusters: int = 6) -> np.ndarray:
    """Boxes jittered around a few centers: many overlaps above any threshold."""
    centers = random_boxes(rng, clusters)
    pick = rng.integers(0, clusters, n)
    return quantized(centers[pick] + rng.normal(0, 2.0, (n, 4)))


def degenerate_boxes() -> np.ndarray:
    """Zero-area, inverted, duplicate, out-of-image and huge boxes."""
    return np.array([
        [10, 10, 10, 20],      # zero width
        [10, 10, 20, 10],      # zero height
        [5, 5, 5, 5],          # a point
        [30, 30, 20, 20],      # inverted (x2 < x1, y2 < y1)
        [0, 0, 10, 10],
        [0, 0, 10, 10],        # duplicate
        [-20, -20, 5, 5],      # partly outside the image
        [-50, -50, -40, -40],  # entirely outside
        [0, 0, 1e6, 1e6],      # huge
        [2, 2, 8, 8],
    ], dtype=np.float64)


def nms_cases() -> list[dict]:
    cases = []

    def add(name, boxes, scores, threshold, dtype="float32", idxs=None, op="nms"):
        inputs = {"boxes": tensor_json(np.asarray(boxes, dtype=dtype), dtype), "scores": tensor_json(quantized(scores, 1 / 4096).astype(dtype), dtype)}
        if idxs is not None:
            inputs["idxs"] = tensor_json(np.asarray(idxs, dtype=np.int64), "int64")
        cases.append({"name": name, "op": op, "options": {"iouThreshold": threshold}, "inputs": inputs})

    for threshold in (0.3, 0.5, 0.7):
        rng = np.random.default_rng(seed_of(f"nms_random_{threshold}"))
        add(f"random_200_t{threshold}", random_boxes(rng, 200), rng.uniform(0, 1, 200), threshold)
    rng = np.random.default_rng(seed_of("nms_clustered"))
    add("clustered_300", clustered_boxes(rng, 300), rng.uniform(0, 1, 300), 0.5)
    # ties: scores from a handful of values, so that many boxes share a score
    rng = np.random.default_rng(seed_of("nms_ties"))
    add("ties_120", clustered_boxes(rng, 120, 4), rng.integers(0, 5, 120) / 4.0, 0.5)
    add("all_equal_scores_40", clustered_boxes(np.random.default_rng(seed_of("nms_equal")), 40, 3), np.full(40, 0.5), 0.4)
    add("empty", np.zeros((0, 4)), np.zeros(0), 0.5)
    add("one", [[1, 2, 3, 4]], [0.3], 0.5)
    deg = degenerate_boxes()
    add("degenerate", deg, np.linspace(1, 0.1, len(deg)), 0.5)
    add("degenerate_threshold_0", deg, np.linspace(1, 0.1, len(deg)), 0.0)
    add("threshold_1", random_boxes(np.random.default_rng(seed_of("nms_t1")), 50), np.random.default_rng(1).uniform(0, 1, 50), 1.0)
    rng = np.random.default_rng(seed_of("nms_f64"))
    add("random_float64", random_boxes(rng, 150), rng.uniform(0, 1, 150), 0.5, "float64")
    # batched: few and many categories, ties across categories, and an input above torchvision's
    # 4000-number threshold on the CPU (its per-category loop)
    rng = np.random.default_rng(seed_of("batched_small"))
    add("batched_5_classes", clustered_boxes(rng, 200), rng.uniform(0, 1, 200), 0.5, idxs=rng.integers(0, 5, 200), op="batched_nms")
    rng = np.random.default_rng(seed_of("batched_ties"))
    add("batched_ties", clustered_boxes(rng, 100, 3), rng.integers(0, 3, 100) / 2.0, 0.5, idxs=rng.integers(0, 3, 100), op="batched_nms")
    rng = np.random.default_rng(seed_of("batched_large"))
    # distinct scores: torchvision's per-category path orders equal scores by category, its
    # coordinate-trick path (and Kiln) by index
    add("batched_1100_boxes_10_classes", clustered_boxes(rng, 1100, 30), (rng.permutation(1100) + 0.5) / 2048, 0.6, idxs=rng.integers(0, 10, 1100), op="batched_nms")
    rng = np.random.default_rng(seed_of("batched_negative_idxs"))
    add("batched_negative_and_large_idxs", clustered_boxes(rng, 80), rng.uniform(0, 1, 80), 0.5, idxs=rng.choice([-7, 0, 3, 1000], 80), op="batched_nms")
    add("batched_empty", np.zeros((0, 4)), np.zeros(0), 0.5, idxs=np.zeros(0), op="batched_nms")
    return cases


def roi_inputs(name: str, n: int, c: int, h: int, w: int, k: int, dtype: str):
    rng = np.random.default_rng(seed_of(name))
    features = quantized(rng.normal(0, 1, (n, c, h, w)), 1 / 256).astype(dtype)
    # rois in image coordinates (the image is 1 / scale times the feature map): inside, partly
    # outside, inverted, tiny, whole-image
    boxes = random_boxes(rng, k, size=2 * max(h, w), min_wh=0.5, max_wh=max(h, w))
    boxes[0] = [-10, -10, 5, 5]
    if k > 1:
        boxes[1] = [20, 20, 10, 10]
    if k > 2:
        boxes[2] = [3, 3, 3.2, 3.1]
    if k > 3:
        boxes[3] = [0, 0, 2 * w, 2 * h]
    if k > 4:
        boxes[4] = [2 * w + 5, 2 * h + 5, 2 * w + 30, 2 * h + 30]
    boxes = quantized(boxes, 1 / 8)
    batch = rng.integers(0, n, (k, 1)).astype(np.float64)
    rois = np.concatenate([batch, boxes], axis=1).astype(dtype)
    grad = rng.normal(0, 1, (k, c, 1, 1))  # broadcast over the pooled map below
    return features, rois, grad


def roi_cases() -> list[dict]:
    cases = []
    for op in ("roi_align", "roi_pool"):
        settings = [
            ("f64_scale_half_7", "float64", 7, 0.5, 2, False),
            ("f64_23_adaptive", "float64", (2, 3), 0.5, 0, False),
            ("f64_aligned", "float64", (3, 2), 0.5, 2, True),
            ("f64_aligned_adaptive", "float64", 4, 0.25, 0, True),
            ("f32_scale_1_sampling_1", "float32", 3, 1.0, 1, False),
            ("f32_aligned_sampling_3", "float32", 5, 0.5, 3, True),
        ]
        if op == "roi_pool":
            settings = [s for s in settings if not s[5] and s[4] != 1]  # roi_pool has neither aligned nor sampling
        for label, dtype, size, scale, sampling, aligned in settings:
            name = f"{op}_{label}"
            features, rois, grad = roi_inputs(name, 2, 3, 9, 11, 12, dtype)
            ph, pw = (size, size) if isinstance(size, int) else size
            grad_output = quantized(np.broadcast_to(grad, (rois.shape[0], 3, ph, pw)) * np.random.default_rng(seed_of(name + "g")).normal(0, 1, (rois.shape[0], 3, ph, pw)), 1 / 256)
            options = {"outputSize": [ph, pw], "spatialScale": scale}
            if op == "roi_align":
                options.update({"samplingRatio": sampling, "aligned": aligned})
            cases.append({"name": name, "op": op, "options": options,
                          "inputs": {"input": tensor_json(features, dtype), "rois": tensor_json(rois, dtype),
                                     "gradOutput": tensor_json(grad_output.astype(dtype), dtype)}})
        # no rois
        features, rois, _ = roi_inputs(f"{op}_empty", 1, 2, 5, 5, 1, "float64")
        options = {"outputSize": [2, 2], "spatialScale": 1.0}
        if op == "roi_align":
            options.update({"samplingRatio": 2, "aligned": False})
        cases.append({"name": f"{op}_no_rois", "op": op, "options": options,
                      "inputs": {"input": tensor_json(features, "float64"), "rois": tensor_json(rois[:0], "float64"),
                                 "gradOutput": tensor_json(np.zeros((0, 2, 2, 2)), "float64")}})
    return cases


def box_cases() -> list[dict]:
    rng = np.random.default_rng(seed_of("boxes"))
    a = random_boxes(rng, 7)
    b = np.concatenate([random_boxes(rng, 5), degenerate_boxes()[[0, 4, 6]]])
    cases = []
    for op in ("box_iou", "generalized_box_iou", "distance_box_iou", "complete_box_iou"):
        weights = quantized(np.random.default_rng(seed_of(op)).normal(0, 1, (len(a), len(b))), 1 / 256)
        cases.append({"name": op, "op": op, "options": {},
                      "inputs": {"boxes1": tensor_json(a, "float64"), "boxes2": tensor_json(b, "float64"), "gradOutput": tensor_json(weights, "float64")}})
    cases.append({"name": "box_iou_float32", "op": "box_iou", "options": {},
                  "inputs": {"boxes1": tensor_json(a.astype(np.float32), "float32"), "boxes2": tensor_json(b.astype(np.float32), "float32")}})
    cases.append({"name": "box_iou_empty", "op": "box_iou", "options": {},
                  "inputs": {"boxes1": tensor_json(np.zeros((0, 4)), "float64"), "boxes2": tensor_json(b, "float64")}})
    cases.append({"name": "box_area", "op": "box_area", "options": {}, "inputs": {"boxes": tensor_json(b, "float64")}})
    for fin in ("xyxy", "xywh", "cxcywh"):
        for fout in ("xyxy", "xywh", "cxcywh"):
            cases.append({"name": f"box_convert_{fin}_{fout}", "op": "box_convert", "options": {"inFmt": fin, "outFmt": fout},
                          "inputs": {"boxes": tensor_json(a, "float64")}})
    cases.append({"name": "clip_boxes_to_image", "op": "clip_boxes_to_image", "options": {"size": [30, 45]},
                  "inputs": {"boxes": tensor_json(np.concatenate([a, degenerate_boxes()]), "float64")}})
    for min_size in (0.0, 5.0, 20.0):
        cases.append({"name": f"remove_small_boxes_{min_size}", "op": "remove_small_boxes", "options": {"minSize": min_size},
                      "inputs": {"boxes": tensor_json(np.concatenate([a, degenerate_boxes()]), "float64")}})
    # box coder: encode matched ground truth against proposals, decode codes (some past the clamp)
    gt, proposals = random_boxes(rng, 9), random_boxes(rng, 9)
    codes = quantized(rng.normal(0, 1, (9, 8)), 1 / 256)
    codes[0, 2] = 10.0   # dw / ww far above log(1000 / 16)
    codes[1, 7] = 12.0
    for weights in ((1.0, 1.0, 1.0, 1.0), (10.0, 10.0, 5.0, 5.0)):
        cases.append({"name": f"box_coder_{'_'.join(str(int(w)) for w in weights)}", "op": "box_coder", "options": {"weights": list(weights)},
                      "inputs": {"referenceBoxes": tensor_json(gt, "float64"), "proposals": tensor_json(proposals, "float64"),
                                 "relCodes": tensor_json(codes, "float64")}})
    # multi-scale RoI align over 4 levels (strides 4 to 32) of a 64 × 64 batch of two images
    levels = {}
    for i, name in enumerate(("p2", "p3", "p4", "p5")):
        s = 64 // (4 * 2 ** i)
        levels[name] = quantized(rng.normal(0, 1, (2, 3, s, s)), 1 / 256)
    boxes = [np.array([[0, 0, 8, 8], [1, 1, 60, 60], [10, 10, 40, 30], [5, 5, 6, 7]], dtype=np.float64),
             np.array([[0, 0, 63, 63], [20, 20, 36, 36], [2, 30, 9, 62]], dtype=np.float64)]
    cases.append({"name": "multi_scale_roi_align", "op": "multi_scale_roi_align",
                  "options": {"featmapNames": ["p2", "p3", "p4", "p5"], "outputSize": 3, "samplingRatio": 2, "imageShapes": [[64, 64], [60, 64]],
                              "canonicalScale": 224, "canonicalLevel": 4},
                  "inputs": {**{k: tensor_json(v, "float64") for k, v in levels.items()},
                             "boxes0": tensor_json(boxes[0], "float64"), "boxes1": tensor_json(boxes[1], "float64")}})
    return cases


def all_cases() -> dict[str, list[dict]]:
    """The cases by fixture file."""
    return {"nms": nms_cases(), "roi": roi_cases(), "boxes": box_cases()}


# ------------------------------------------------------------------ torch side

def evaluate(case: dict, device: str) -> dict:
    """The expected outputs of one case, computed by torchvision on `device` (as JSON tensors)."""
    import torch
    import torchvision.ops as ops
    from torchvision.models.detection._utils import BoxCoder

    def t(name, requires_grad=False):
        spec = case["inputs"][name]
        dtype = {"float32": torch.float32, "float64": torch.float64, "int64": torch.int64, "bool": torch.bool}[spec["dtype"]]
        x = torch.tensor(spec["data"], dtype=dtype).reshape(spec["shape"]).to(device)
        return x.requires_grad_() if requires_grad else x

    def out(x):
        x = x.detach().cpu()
        return tensor_json(x.numpy(), str(x.dtype).replace("torch.", ""))

    op, o = case["op"], case["options"]
    if op == "nms":
        return {"keep": out(ops.nms(t("boxes"), t("scores"), o["iouThreshold"]))}
    if op == "batched_nms":
        return {"keep": out(ops.batched_nms(t("boxes"), t("scores"), t("idxs"), o["iouThreshold"]))}
    if op in ("roi_align", "roi_pool"):
        x = t("input", True)
        if op == "roi_align":
            y = ops.roi_align(x, t("rois"), o["outputSize"], o["spatialScale"], o["samplingRatio"], o["aligned"])
        else:
            y = ops.roi_pool(x, t("rois"), o["outputSize"], o["spatialScale"])
        if y.numel() > 0:
            y.backward(t("gradOutput"))
            grad = x.grad
        else:
            grad = torch.zeros_like(x)
        return {"output": out(y), "gradInput": out(grad)}
    if op in ("box_iou", "generalized_box_iou", "distance_box_iou", "complete_box_iou"):
        with_grad = "gradOutput" in case["inputs"]
        a, b = t("boxes1", with_grad), t("boxes2", with_grad)
        y = getattr(ops, op)(a, b)
        result = {"output": out(y)}
        if with_grad:
            y.backward(t("gradOutput"))
            result.update({"gradBoxes1": out(a.grad), "gradBoxes2": out(b.grad)})
        return result
    if op == "box_area":
        return {"output": out(ops.box_area(t("boxes")))}
    if op == "box_convert":
        return {"output": out(ops.box_convert(t("boxes"), o["inFmt"], o["outFmt"]))}
    if op == "clip_boxes_to_image":
        return {"output": out(ops.clip_boxes_to_image(t("boxes"), tuple(o["size"])))}
    if op == "remove_small_boxes":
        return {"keep": out(ops.remove_small_boxes(t("boxes"), o["minSize"]))}
    if op == "box_coder":
        coder = BoxCoder(tuple(o["weights"]))
        proposals = t("proposals")
        encoded = coder.encode_single(t("referenceBoxes"), proposals)
        decoded = coder.decode_single(t("relCodes"), proposals)
        return {"encoded": out(encoded), "decoded": out(decoded)}
    if op == "multi_scale_roi_align":
        names = o["featmapNames"]
        features = {n: t(n, True) for n in names}
        pooler = ops.MultiScaleRoIAlign(names, o["outputSize"], o["samplingRatio"], canonical_scale=o["canonicalScale"], canonical_level=o["canonicalLevel"])
        y = pooler(features, [t("boxes0"), t("boxes1")], [tuple(s) for s in o["imageShapes"]])
        y.sum().backward()
        return {"output": out(y), **{f"grad_{n}": out(features[n].grad) for n in names}}
    raise ValueError(f"unknown op {op}")


def versions() -> dict:
    import torch
    import torchvision
    return {"torch": torch.__version__, "torchvision": torchvision.__version__}


def _self_check() -> None:
    assert math.isclose(math.log(1000 / 16), 4.135166556742356)
