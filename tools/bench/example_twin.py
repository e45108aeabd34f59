#!/usr/bin/env python3
"""PyTorch twin of the RetinaNet example's training step (examples/retinanet, timed on Kiln's side
by tools/bench/example-step.ts): torchvision's own RetinaNet built with the example's settings
(ResNet-18 layout, layers 2 to 4 into a feature pyramid with P6 and P7, RetinaNet's head with the
example's width, anchors, normalisation, matcher, box coder and losses), on the same initial
weights and the same batch.

  node --conditions=@kiln/source --import tsx tools/bench/example-step.ts --export /tmp/ex-twin
  python3 tools/bench/example_twin.py --data /tmp/ex-twin --precisions float32,tf32,bf16 --json /tmp/ex-twin/torch.json
  node --conditions=@kiln/source --import tsx tools/bench/example-step.ts --precisions float32,tf32,bf16 --torch /tmp/ex-twin/torch.json

A step is what the example's step does: upload the batch, normalise, backbone and pyramid, head,
anchors, matching and the two losses (torchvision's RetinaNet.compute_loss, which matches and sums
the losses image by image, as shipped), backward, an Adam step, and reading both losses back.
torchvision's transform (which would resize the images) is left out: the images are already the
size the model takes, and Kiln's model does not resize either. The box loss is smooth L1 with the
example's beta (torchvision's RetinaNet passes none, so its smooth L1 would use beta 1: the
twin hands the example's beta to torchvision's _box_loss).

Before timing, the twin loads Kiln's weights (Kiln's state-dict keys are torchvision's in
camelCase) and checks that its float32 losses at those weights equal Kiln's (relative difference
<= --tol); a mismatch exits with status 3. Modes: eager, and compile (torch.compile of the backbone
and the head; torchvision's loss loop stays eager: its shapes depend on the data). Precisions:
float32 (TF32 off), tf32 (TF32 convolutions, as PyTorch's default), bf16 (torch.autocast). The
results (--json) have retinanet_twin.py's format, which example-step.ts --torch reads.
"""
import argparse
import functools
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import retinanet_twin as twin  # noqa: E402  (safetensors reader, precision switches, timing loop, profiler table)

torch = twin.torch
if torch is not None:
    import torch.nn as nn


def torchvision_parts():
    """torchvision's modules, or a clear message when torchvision is missing."""
    try:
        import torchvision.models.detection.retinanet as retinanet
        from torchvision.models import resnet18
        from torchvision.models.detection.anchor_utils import AnchorGenerator
        from torchvision.models.detection.backbone_utils import BackboneWithFPN
        from torchvision.models.detection.image_list import ImageList
        from torchvision.ops.feature_pyramid_network import LastLevelMaxPool, LastLevelP6P7
    except ImportError:
        twin.missing("torchvision")
    return retinanet, resnet18, AnchorGenerator, BackboneWithFPN, ImageList, LastLevelMaxPool, LastLevelP6P7


def snake(key):
    """Kiln's camelCase state-dict key as torchvision's ('bn1.runningMean' -> 'bn1.running_mean')."""
    return ".".join(re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", part).lower() for part in key.split("."))


class Example:
    """The exported detector (weights, settings) and batch, and torchvision's RetinaNet built to match."""

    def __init__(self, data_dir, device):
        meta_path = os.path.join(data_dir, "meta.json")
        if not os.path.exists(meta_path):
            raise SystemExit(f"example_twin: {meta_path} not found: run example-step.ts --export {data_dir} first")
        with open(meta_path) as f:
            self.meta = json.load(f)
        self.name = self.meta["preset"]
        self.device = device
        self.weights = twin.load_safetensors(os.path.join(data_dir, "model.safetensors"))
        b = twin.load_safetensors(os.path.join(data_dir, "batch.safetensors"))
        # host tensors, uploaded every step as the example uploads its batch
        self.host = {k: torch.from_numpy(b[k]) for k in ("images", "boxes", "labels")}
        if device.type == "cuda":
            self.host = {k: v.pin_memory() for k, v in self.host.items()}
        self.offsets = [int(o) for o in b["offsets"]]

    def model(self):
        retinanet, resnet18, AnchorGenerator, BackboneWithFPN, _, LastLevelMaxPool, LastLevelP6P7 = torchvision_parts()
        m, width = self.meta["model"], self.meta["model"]["fpnChannels"]
        if m["blocks"] != [2, 2, 2, 2] or m["baseChannels"] != 64:
            raise SystemExit(f"example_twin: torchvision's ResNet-18 has blocks [2, 2, 2, 2] of base width 64; the export has {m['blocks']} of {m['baseChannels']}")
        returned = m["returnedLayers"]
        extra = LastLevelP6P7(width, width) if m["extraLevels"] == "p6p7" else LastLevelMaxPool()
        body = BackboneWithFPN(resnet18(), {f"layer{k}": str(i) for i, k in enumerate(returned)},
                               [64 * 2 ** (k - 1) for k in returned], width, extra_blocks=extra)
        anchors = AnchorGenerator(tuple(tuple(s) for s in self.meta["anchorSizes"]), tuple(tuple(r) for r in self.meta["aspectRatios"]))
        groups = m.get("headGroupNorm")
        norm = functools.partial(nn.GroupNorm, groups) if groups else None
        head = retinanet.RetinaNetHead(width, anchors.num_anchors_per_location()[0], self.meta["numClasses"], norm_layer=norm)
        loss = self.meta["loss"]
        if loss["boxLoss"] != "smoothL1":
            raise SystemExit(f"example_twin: box loss {loss['boxLoss']} is not the twin's (smooth L1)")
        head.regression_head._loss_type = "smooth_l1"
        model = retinanet.RetinaNet(body, self.meta["numClasses"], anchor_generator=anchors, head=head)
        state = {snake(k): torch.from_numpy(v) for k, v in self.weights.items()}
        missing, unexpected = model.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise SystemExit(f"example_twin: Kiln's weights do not fit torchvision's model: missing {missing}, unexpected {unexpected}")
        return model.to(self.device).train()

    def upload(self):
        b = {k: v.to(self.device, non_blocking=True) for k, v in self.host.items()}
        o = self.offsets
        targets = [{"boxes": b["boxes"][o[i]:o[i + 1]], "labels": b["labels"][o[i]:o[i + 1]]} for i in range(len(o) - 1)]
        return b["images"], targets


def example_losses(model, images, targets, meta, backbone, head):
    """torchvision's training path without its resizing transform: normalise, features, head,
    anchors, RetinaNet.compute_loss (the focal loss's gamma and alpha are torchvision's defaults,
    2 and 0.25, the example's focal variant; checked in main)."""
    from torchvision.models.detection.image_list import ImageList
    mean = torch.tensor(meta["imageMean"], device=images.device).view(-1, 1, 1)
    std = torch.tensor(meta["imageStd"], device=images.device).view(-1, 1, 1)
    x = (images - mean) / std
    features = list(backbone(x).values())
    outputs = head(features)
    anchors = model.anchor_generator(ImageList(x, [tuple(x.shape[-2:])] * x.shape[0]), features)
    losses = model.compute_loss(targets, outputs, anchors)
    return losses["classification"], losses["bbox_regression"]


def with_box_beta(beta):
    """torchvision's RetinaNet calls _box_loss without settings (smooth L1 then takes beta 1): hand it the example's beta."""
    retinanet = torchvision_parts()[0]
    from torchvision.models.detection import _utils
    if not hasattr(retinanet, "_box_loss"):
        raise SystemExit("example_twin: this torchvision's RetinaNet has no _box_loss to give the example's smooth L1 beta")
    retinanet._box_loss = functools.partial(_utils._box_loss, cnf={"beta": beta})


class ExampleRunner(twin.Runner):
    """One (mode, precision): a fresh model and Adam, and the example's step (time_steps is the twin's)."""

    def __init__(self, p, mode, precision):  # pylint: disable=super-init-not-called
        self.p, self.mode, self.precision = p, mode, precision
        twin.set_precision(precision)
        self.model = p.model()
        self.opt = torch.optim.Adam(self.model.parameters(), lr=p.meta["lr"])
        self.optimizer_impl = "foreach" if p.device.type == "cuda" else "for-loop"
        compiled = mode == "compile"
        self.backbone = torch.compile(self.model.backbone) if compiled else self.model.backbone
        self.head = torch.compile(self.model.head) if compiled else self.model.head
        self.autocast = precision == "bf16"

    def step(self):
        images, targets = self.p.upload()
        if self.autocast:
            with torch.autocast(device_type=self.p.device.type, dtype=torch.bfloat16):
                cls, box = example_losses(self.model, images, targets, self.p.meta, self.backbone, self.head)
        else:
            cls, box = example_losses(self.model, images, targets, self.p.meta, self.backbone, self.head)
        (cls + box).backward()
        self.opt.step()
        self.opt.zero_grad(set_to_none=True)
        return float(cls.item()), float(box.item())


def check(p, tol):
    """Kiln's float32 losses at the exported weights against torchvision's; exits 3 on a mismatch."""
    twin.set_precision("float32")
    model = p.model()
    images, targets = p.upload()
    with torch.no_grad():
        cls, box = (float(v.item()) for v in example_losses(model, images, targets, p.meta, model.backbone, model.head))
    k = p.meta["kilnLosses"]
    e_cls, e_box = twin.rel(cls, k["classification"]), twin.rel(box, k["box"])
    ok = e_cls <= tol and e_box <= tol
    print(f"[{p.name}] losses at the same weights, float32: torch cls {cls:.7g} box {box:.7g}; kiln cls {k['classification']:.7g} box {k['box']:.7g}; "
          f"rel. diff {e_cls:.1e} / {e_box:.1e} {'ok' if ok else 'MISMATCH'}", flush=True)
    if not ok:
        print(f"example_twin: the two sides do not compute the same losses (tolerance {tol}); not timing", file=sys.stderr)
        sys.exit(3)
    return {"preset": p.name, "torchCls": cls, "torchBox": box, "kilnCls": k["classification"], "kilnBox": k["box"], "relErrCls": e_cls, "relErrBox": e_box, "ok": ok}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="the folder example-step.ts --export wrote")
    twin.add_timing_options(ap, steps=10, row_limit=30)
    # remote.sh's example-bench passes one command line to example-step.ts and to this script: the
    # options that are Kiln's alone (--batch, --head-norm, ...) are ignored here
    args, ignored = ap.parse_known_args()
    if ignored:
        print(f"example_twin: ignoring options that are not the twin's: {' '.join(ignored)}", flush=True)
    if twin.np is None:
        twin.missing("numpy")
    if torch is None:
        twin.missing("PyTorch (torch)")
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    p = Example(args.data, device)
    loss = p.meta["loss"]
    if (loss["focalGamma"], loss["focalAlpha"]) != (2, 0.25):
        raise SystemExit(f"example_twin: torchvision's RetinaNet uses gamma 2, alpha 0.25; the export has {loss['focalGamma']}, {loss['focalAlpha']}")
    with_box_beta(loss["smoothL1Beta"])
    out = {"torch": torch.__version__, "device": str(device), "gpu": torch.cuda.get_device_name(0) if device.type == "cuda" else None,
           "defaultThreads": torch.get_num_threads(), "checks": [check(p, args.tol)], "results": [],
           "notes": ["PyTorch side: torchvision's RetinaNet (its compute_loss: matching and losses image by image); compile = torch.compile of backbone and head"]}
    modes = twin.twin_modes(args.modes, out)
    for precision in twin.twin_precisions(args.precisions, out, device):
        for mode in modes:
            out["results"].append(twin.timed_row(lambda: ExampleRunner(p, mode, precision), p.name, args, None))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
