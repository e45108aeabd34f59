"""What make_model_fixtures.py (CPU, torchvision 0.14) and make_model_fixtures_gpu.py (the GPU
machine, torchvision 0.26) share: seeded weights both Python and Kiln's tests regenerate, the
models, the inputs, and the records of their outputs.

Seeded weights. Value i of the tensor named `key` (torchvision's state-dict key) is a function of
(seed, key, i) only, so Kiln's test (packages/vision/test/support/seeded-weights.ts, the same
definition) regenerates resnet50's and retinanet_resnet50_fpn's 25 M and 34 M weights instead of
reading 100 MB of fixtures:

    base  = fnv1a32(utf-8 bytes of key) xor seed                       (32-bit)
    x     = i * 0x9E3779B1 + base  (mod 2^32), then murmur3's fmix32:
            x ^= x >> 16; x *= 0x85EBCA6B; x ^= x >> 13; x *= 0xC2B2AE35; x ^= x >> 16   (mod 2^32)
    u     = (x >> 8) / 2^24                                              (24 bits, in [0, 1))

and the value is one of (in float64, then rounded to float32, exactly as JavaScript rounds):

    num_batches_tracked   int64 5
    running_var           0.5 + u
    running_mean          (u - 0.5) * 0.2
    cls_logits.bias       CLS_BIAS + (u - 0.5) * 0.2    (few scores above RetinaNet's 0.05)
    other 1-d .weight     0.25 + 0.25 * u                (norm scales: residual sums stay O(1))
    other .bias           (u - 0.5) * 0.2
    weights of >= 2 dims  (2u - 1) * sqrt(6 / fan_in)    (He-uniform; fan_in = shape[1] * prod(shape[2:]))

Each tensor's CRC-32 (of its little-endian bytes) goes into the fixture, so the test knows it
regenerated the same weights.
"""

from __future__ import annotations

import math
import zlib

import numpy as np
import torch
import torchvision
from torchvision.models.detection import retinanet_resnet50_fpn

SEED = 20261204
CLS_BIAS = -5.0
SAMPLES = 512
IMAGE_SIZES = [(64, 64), (48, 80)]
RESNET_BATCH = 2


def fnv1a32(text: str) -> int:
    h = 0x811C9DC5
    for b in text.encode("utf-8"):
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return h


def uniform(seed: int, key: str, n: int) -> np.ndarray:
    """u_i in [0, 1) for i < n, float64 holding 24-bit fractions."""
    base = np.uint32((fnv1a32(key) ^ seed) & 0xFFFFFFFF)
    x = np.arange(n, dtype=np.uint32) * np.uint32(0x9E3779B1) + base
    x ^= x >> np.uint32(16)
    x *= np.uint32(0x85EBCA6B)
    x ^= x >> np.uint32(13)
    x *= np.uint32(0xC2B2AE35)
    x ^= x >> np.uint32(16)
    return (x >> np.uint32(8)).astype(np.float64) / float(1 << 24)


def seeded_value(seed: int, key: str, shape: tuple[int, ...]) -> np.ndarray:
    """The seeded tensor of `key` (module docstring), float32 (int64 for num_batches_tracked)."""
    if key.endswith("num_batches_tracked"):
        return np.full(shape, 5, dtype=np.int64)
    n = int(np.prod(shape)) if shape else 1
    u = uniform(seed, key, n)
    if key.endswith("running_var"):
        v = 0.5 + u
    elif key.endswith("running_mean"):
        v = (u - 0.5) * 0.2
    elif key.endswith("cls_logits.bias"):
        v = CLS_BIAS + (u - 0.5) * 0.2
    elif len(shape) == 1 and key.endswith(".weight"):
        v = 0.25 + 0.25 * u
    elif key.endswith(".bias"):
        v = (u - 0.5) * 0.2
    else:
        fan_in = shape[1] * int(np.prod(shape[2:]))
        v = (2 * u - 1) * math.sqrt(6 / fan_in)
    return v.astype(np.float32).reshape(shape)


def seed_state(model: torch.nn.Module, seed: int = SEED) -> dict[str, dict]:
    """Writes the seeded values into every entry of model's state dict; returns each key's shape and CRC-32 (hex)."""
    state = model.state_dict()
    crcs = {}
    with torch.no_grad():
        for key, t in state.items():
            v = seeded_value(seed, key, tuple(t.shape))
            t.copy_(torch.from_numpy(v))
            crcs[key] = {"shape": list(t.shape), "crc32": f"{zlib.crc32(v.tobytes()):08x}"}
    return crcs


def images(seed: int = SEED) -> list[torch.Tensor]:
    """RetinaNet's input: the images of IMAGE_SIZES, pixels u in [0, 1) (key 'image<i>')."""
    return [torch.from_numpy(uniform(seed, f"image{i}", 3 * h * w).astype(np.float32).reshape(3, h, w)) for i, (h, w) in enumerate(IMAGE_SIZES)]


def resnet_input(seed: int = SEED) -> torch.Tensor:
    """The ResNets' input [2, 3, 64, 64] (key 'resnet_input')."""
    return torch.from_numpy(uniform(seed, "resnet_input", RESNET_BATCH * 3 * 64 * 64).astype(np.float32).reshape(RESNET_BATCH, 3, 64, 64))


def targets() -> list[dict[str, torch.Tensor]]:
    """Training targets of the two images: boxes inside each image, one class used twice."""
    return [
        {"boxes": torch.tensor([[4.0, 6.0, 30.0, 40.0], [20.0, 18.5, 60.0, 62.0], [40.0, 2.0, 52.0, 14.0]]), "labels": torch.tensor([3, 17, 3])},
        {"boxes": torch.tensor([[10.0, 5.0, 70.0, 40.0], [1.0, 30.0, 12.0, 46.0]]), "labels": torch.tensor([90, 0])},
    ]


def make_resnet(name: str) -> torch.nn.Module:
    return getattr(torchvision.models, name)(weights=None)


def make_retinanet(topk_candidates: int, detections_per_img: int) -> torch.nn.Module:
    """retinanet_resnet50_fpn without pretrained weights (BatchNorm2d, every layer trainable), whose
    transform does not resize (Kiln's RetinaNet leaves resizing to the data pipeline)."""
    model = retinanet_resnet50_fpn(weights=None, weights_backbone=None, num_classes=91,
                                   topk_candidates=topk_candidates, detections_per_img=detections_per_img)
    model.transform.resize = lambda image, target=None: (image, target)
    return model


def record(t: torch.Tensor, samples: int = SAMPLES) -> dict:
    """A tensor as the test compares it: shape, evenly spaced samples, max |x| and sum |x| (float64)."""
    flat = t.detach().to("cpu", torch.float64).reshape(-1)
    n = flat.numel()
    m = min(n, samples)
    idx = sorted({(k * n) // m for k in range(m)} | ({n - 1} if n else set()))
    return {"shape": list(t.shape), "indices": idx, "values": [float(flat[i]) for i in idx],
            "maxAbs": float(flat.abs().max()) if n else 0.0, "sumAbs": float(flat.abs().sum())}


def detections_record(d: dict[str, torch.Tensor]) -> dict:
    return {"boxes": d["boxes"].detach().cpu().double().reshape(-1).tolist(), "scores": d["scores"].detach().cpu().double().tolist(),
            "labels": d["labels"].cpu().tolist()}


def same_detections(a: list[dict], b: list[dict], tol: float = 1e-4) -> bool:
    """The same boxes in the same order with the same labels; scores and coordinates within tol (relative)."""
    for x, y in zip(a, b):
        if x["labels"].tolist() != y["labels"].tolist():
            return False
        for k in ("boxes", "scores"):
            p, q = x[k].double().cpu(), y[k].double().cpu()
            if p.shape != q.shape or (p.numel() and float((p - q).abs().max()) > tol * max(1.0, float(q.abs().max()))):
                return False
    return True


def capture(module: torch.nn.Module, names: list[str]) -> tuple[dict[str, torch.Tensor], list]:
    """Forward hooks keeping the outputs of the named submodules (dicts are kept whole)."""
    out: dict[str, torch.Tensor] = {}
    handles = []
    subs = dict(module.named_modules())
    for name in names:
        handles.append(subs[name].register_forward_hook(lambda _m, _i, o, name=name: out.__setitem__(name, o)))
    return out, handles


def resnet_case(name: str, device: str, dtype: torch.dtype) -> tuple[dict, dict]:
    """A ResNet in evaluation mode: its four stages and its logits for resnet_input(); and the CRCs."""
    model = make_resnet(name)
    crcs = seed_state(model)
    model = model.to(device, dtype).eval()
    outs, handles = capture(model, ["layer1", "layer2", "layer3", "layer4"])
    with torch.no_grad():
        logits = model(resnet_input().to(device, dtype))
    for h in handles:
        h.remove()
    return {**{k: record(v) for k, v in outs.items()}, "logits": record(logits)}, crcs


def retinanet_eval(model: torch.nn.Module, device: str, dtype: torch.dtype, perturb: float = 0.0) -> tuple[dict[str, torch.Tensor], list[dict]]:
    """Evaluation-mode outputs (backbone stages, pyramid levels, head outputs) and detections; with
    perturb > 0 the head's outputs get relative noise of that size before post-processing."""
    model = model.to(device, dtype).eval()
    outs, handles = capture(model, ["backbone.body", "backbone.fpn", "head"])
    if perturb:
        gen = torch.Generator().manual_seed(int(abs(perturb) * 1e9) + (perturb < 0))

        def noisy(_m, _i, o):
            return {k: v * (1 + perturb * (2 * torch.rand(v.shape, generator=gen, dtype=torch.float64) - 1).to(v)) for k, v in o.items()}
        handles.append(model.head.register_forward_hook(noisy))
    with torch.no_grad():
        dets = model([im.to(device, dtype) for im in images()])
    for h in handles:
        h.remove()
    flat = {f"body.{k}": v for k, v in outs["backbone.body"].items()}
    flat.update({f"fpn.{k}": v for k, v in outs["backbone.fpn"].items()})
    flat["clsLogits"] = outs["head"]["cls_logits"]
    flat["bboxRegression"] = outs["head"]["bbox_regression"]
    return flat, dets


GRAD_KEYS = ["head.classification_head.cls_logits.weight", "head.regression_head.bbox_reg.weight", "backbone.body.layer1.0.conv1.weight",
             "backbone.fpn.layer_blocks.0.0.weight"]


def retinanet_losses(model: torch.nn.Module, device: str, dtype: torch.dtype) -> dict:
    """Training-mode losses for each box-loss type, and gradients of a few weights for 'l1'."""
    model = model.to(device, dtype).train()
    ims = [im.to(device, dtype) for im in images()]
    tg = [{"boxes": t["boxes"].to(device, dtype), "labels": t["labels"].to(device)} for t in targets()]
    out = {}
    for loss_type, kiln_name in (("l1", "l1"), ("smooth_l1", "smoothL1"), ("giou", "giou")):
        model.head.regression_head._loss_type = loss_type
        model.zero_grad(set_to_none=True)
        losses = model(ims, tg)
        entry = {"classification": float(losses["classification"]), "bboxRegression": float(losses["bbox_regression"])}
        if loss_type == "l1":
            (losses["classification"] + losses["bbox_regression"]).backward()
            params = dict(model.named_parameters())
            entry["grads"] = {k: record(params[k].grad) for k in GRAD_KEYS}
        out[kiln_name] = entry
    model.head.regression_head._loss_type = "l1"
    return out


SETTINGS = ((100, 50), (120, 60), (80, 40), (150, 70))


def find_stable_setting(device: str, log=print, settings=SETTINGS) -> tuple[torch.nn.Module, dict, int, int]:
    """A RetinaNet whose detections are the same in float32, float64 and with the head's outputs
    perturbed by up to 1e-5 relative (about 20 times float32's rounding of them here), so that a
    correct float32 implementation cannot land on the other side of a score threshold, a top-k cut
    or an NMS decision; tries candidate settings in order."""
    for topk, per_img in settings:
        model = make_retinanet(topk, per_img)
        crcs = seed_state(model)
        _, ref = retinanet_eval(model, device, torch.float64)
        counts = [int(d["labels"].numel()) for d in ref]
        stable = same_detections(retinanet_eval(model, device, torch.float32)[1], ref)
        for p in (1e-5, -1e-5, 5e-6, -5e-6):
            stable = stable and same_detections(retinanet_eval(model, device, torch.float64, p)[1], ref, tol=1e-3)
        # saturated scores (1.0) would tie, and ties are broken by each implementation's sort
        top = max(float(d["scores"].max()) for d in ref if d["scores"].numel())
        log(f"  topk_candidates {topk}, detections_per_img {per_img}: {counts} detections, best score {top:.4f}, {'stable' if stable else 'unstable'}")
        if stable and all(c > 0 for c in counts) and top < 0.99:
            return model, crcs, topk, per_img
    raise SystemExit("no stable RetinaNet setting found: change SEED or CLS_BIAS")


def retinanet_case(device: str, log=print, settings=SETTINGS) -> tuple[dict, dict]:
    """Everything recorded of retinanet_resnet50_fpn (float64 reference; detections checked stable)."""
    model, crcs, topk, per_img = find_stable_setting(device, log, settings)
    tensors, dets = retinanet_eval(model, device, torch.float64)
    case = {"options": {"numClasses": 91, "topkCandidates": topk, "detectionsPerImg": per_img, "scoreThresh": 0.05, "nmsThresh": 0.5},
            "imageSizes": [list(s) for s in IMAGE_SIZES],
            "targets": [{"boxes": t["boxes"].reshape(-1).tolist(), "labels": t["labels"].tolist()} for t in targets()],
            "tensors": {k: record(v) for k, v in tensors.items()},
            "detections": [detections_record(d) for d in dets],
            "losses": retinanet_losses(model, device, torch.float64)}
    return case, crcs


def build_fixture(device: str, generator: str, log=print, settings=SETTINGS) -> dict:
    log(f"torch {torch.__version__}, torchvision {torchvision.__version__}, device {device}")
    resnets = {}
    for name in ("resnet18", "resnet50"):
        outputs, crcs = resnet_case(name, device, torch.float64)
        resnets[name] = {"inputShape": [RESNET_BATCH, 3, 64, 64], "weights": crcs, "outputs": outputs}
        log(f"{name}: recorded")
    retina, retina_crcs = retinanet_case(device, log, settings)
    log("retinanet_resnet50_fpn: recorded")
    return {"generator": generator, "torch": torch.__version__, "torchvision": torchvision.__version__, "device": device,
            "seed": SEED, "clsBias": CLS_BIAS, "samples": SAMPLES,
            **resnets,
            "retinanet": {"weights": retina_crcs, **retina}}


def write_safetensors(state: dict[str, torch.Tensor], path) -> None:
    """A state dict as a safetensors file, written from the format's definition (an 8-byte
    little-endian header length, a JSON header of dtype / shape / data_offsets, the raw bytes)."""
    import json
    import struct
    codes = {torch.float32: "F32", torch.float64: "F64", torch.int64: "I64", torch.float16: "F16"}
    header, chunks, offset = {}, [], 0
    for key, t in state.items():
        data = t.detach().cpu().contiguous().numpy().tobytes()
        header[key] = {"dtype": codes[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":"))
    text += " " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text.encode("utf-8"))
        for c in chunks:
            f.write(c)
