#!/usr/bin/env python3
"""PyTorch twin of the training-step benchmark's RetinaNet (tools/bench/train-step/, the RetinaNet
example's model before it moved to @kiln/vision), for
tools/bench/train-step.ts.

The same architecture as tools/bench/train-step/model.ts (backbone of stride-2 3x3 convs, a top-down
pyramid of 1x1 laterals plus nearest 2x upsampling, classification and box subnets of `headDepth`
3x3 convs + ReLU shared by every level), the same losses as tools/bench/train-step/loss.ts (sigmoid
focal loss over every (anchor, class) pair, ignored anchors left out, plus smooth L1 (beta 0.11) on
the deltas of positive anchors, both summed and divided by the number of positive anchors) and
Adam. One step is what the example's step does: upload the batch, forward, losses, backward, an
Adam step, and reading both losses back.

Same model and data for real: `train-step.ts --export DIR` writes, per preset, Kiln's initial
weights (DIR/PRESET/model.safetensors, Kiln's state-dict keys, which are this module's), one batch
(DIR/PRESET/batch.safetensors) and the settings with Kiln's losses on that batch at the initial
weights (DIR/PRESET/meta.json). This script loads them and checks, in float32 before timing, that
its losses at the same weights agree with Kiln's (relative difference <= 1e-4); a mismatch stops
it with exit status 3. (RetinaNet's __init__ also initialises the model with the example's scheme,
PyTorch's RNG, before the weights are loaded over it.)

Modes: eager and torch.compile (the model + losses compiled; backward through AOTAutograd; the
optimizer eager), each in float32 (TF32 off: the same arithmetic as Kiln's float32), tf32 (PyTorch's
defaults: TF32 convolutions) and bf16 (torch.autocast bfloat16). torch.compile needs PyTorch >= 2
(Debian's 1.13 has none: those rows say so). Timing: warm-up steps, then --steps steps; per step the
host wall time (perf_counter, the step ends with the losses read back, a synchronisation) and on
CUDA its device time (events around the step); medians. Results go to --json for train-step.ts.

  python3 tools/bench/retinanet_twin.py --data /tmp/kiln-train --presets cuda,real --json torch.json
  python3 tools/bench/retinanet_twin.py --data /tmp/kiln-train --presets cpu --device cpu --threads 1,0
  python3 tools/bench/retinanet_twin.py --serve ...   (line protocol for train-step.ts --interleave)
"""
import argparse
import json
import math
import os
import statistics
import sys
import time

try:
    import numpy as np
except ImportError:  # pragma: no cover - said clearly, not a traceback
    np = None
try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError:
    torch = None


def missing(what):
    print(f"retinanet_twin: {what} is not installed for {sys.executable}; "
          "install it (Debian: apt-get install -y python3-torchvision, for /usr/bin/python3) to run the PyTorch side",
          file=sys.stderr)
    sys.exit(2)


# ---- the model: tools/bench/train-step/model.ts ---------------------------------------------------

if torch is not None:
    def conv3(cin, cout, stride=1):
        return nn.Conv2d(cin, cout, 3, padding=1, stride=stride)

    class Backbone(nn.Module):
        def __init__(self, in_channels, width, strides):
            super().__init__()
            self.strides = list(strides)
            self.stem = conv3(in_channels, width // 2)
            downs, s = [], 2
            while s <= strides[-1]:
                downs.append(conv3(width // 2 if s == 2 else width, width, 2))
                s *= 2
            self.downs = nn.ModuleList(downs)

        def forward(self, x):
            y = F.relu(self.stem(x))
            out = []
            for i, d in enumerate(self.downs):
                y = F.relu(d(y))
                if 2 ** (i + 1) in self.strides:
                    out.append(y)
            return out

    class Pyramid(nn.Module):
        def __init__(self, width, levels):
            super().__init__()
            self.laterals = nn.ModuleList(nn.Conv2d(width, width, 1) for _ in range(levels))

        def forward(self, features):
            out = [None] * len(features)
            for i in range(len(features) - 1, -1, -1):
                lateral = self.laterals[i](features[i])
                out[i] = lateral if i == len(features) - 1 else lateral + F.interpolate(out[i + 1], scale_factor=2, mode="nearest")
            return out

    class Subnet(nn.Module):
        def __init__(self, width, depth, anchors, per_anchor, out_bias):
            super().__init__()
            self.anchors, self.per_anchor = anchors, per_anchor
            self.hidden = nn.ModuleList(conv3(width, width) for _ in range(depth))
            for c in self.hidden:
                nn.init.kaiming_normal_(c.weight, nonlinearity="relu")
                nn.init.zeros_(c.bias)
            self.out = conv3(width, anchors * per_anchor)
            nn.init.normal_(self.out.weight, 0, 0.01)
            nn.init.constant_(self.out.bias, out_bias)

        def forward(self, x):
            y = x
            for c in self.hidden:
                y = F.relu(c(y))
            n, _, h, w = y.shape
            return self.out(y).permute(0, 2, 3, 1).reshape(n, h * w * self.anchors, self.per_anchor)

    class RetinaNet(nn.Module):
        def __init__(self, cfg):
            super().__init__()
            w, depth, a = cfg["width"], cfg["headDepth"], cfg["anchorsPerLocation"]
            prior = -math.log((1 - cfg["priorProbability"]) / cfg["priorProbability"])
            self.backbone = Backbone(cfg["inChannels"], w, cfg["strides"])
            self.pyramid = Pyramid(w, len(cfg["strides"]))
            self.classification = Subnet(w, depth, a, cfg["numClasses"], prior)
            self.box = Subnet(w, depth, a, 4, 0.0)

        def forward(self, images):
            levels = self.pyramid(self.backbone(images))
            logits = [self.classification(p) for p in levels]
            deltas = [self.box(p) for p in levels]
            return torch.cat(logits, 1), torch.cat(deltas, 1)

    def focal_loss_sum(logits, labels, gamma, alpha):
        """Sum of the sigmoid focal loss over non-ignored rows; labels: 0 background, 1..K class k-1,
        negative ignored (the 'seed' convention of tools/bench/train-step/loss.ts). torchvision's formula."""
        k = logits.shape[1]
        valid = (labels >= 0).unsqueeze(1).to(logits.dtype)
        target = (labels.unsqueeze(1) == torch.arange(1, k + 1, device=logits.device)).to(logits.dtype)
        p = torch.sigmoid(logits)
        ce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
        p_t = p * target + (1 - p) * (1 - target)
        loss = ce * ((1 - p_t) ** gamma)
        if alpha >= 0:
            loss = (alpha * target + (1 - alpha) * (1 - target)) * loss
        return (loss * valid).sum()

    def detection_loss(model, images, labels, deltas, mask, loss_cfg):
        logits, pred = model(images)
        n, a, k = logits.shape
        avg = max(1.0, float(loss_cfg["positives"]))
        logits = logits.float().reshape(n * a, k)
        cls = focal_loss_sum(logits, labels, loss_cfg["gamma"], loss_cfg["alpha"]) / avg
        box = (F.smooth_l1_loss(pred.float().reshape(n * a, 4), deltas, beta=loss_cfg["beta"], reduction="none") * mask).sum() / avg
        return cls, box


# ---- Kiln's files -----------------------------------------------------------------------------

ST_DTYPES = {"F32": "<f4", "F64": "<f8", "F16": "<f2", "I32": "<i4", "I64": "<i8", "BOOL": "|b1"}


def load_safetensors(path):
    """A safetensors file (packages/nn/src/state-file.ts writes them) as numpy arrays by key."""
    with open(path, "rb") as f:
        raw = f.read()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    base = 8 + n
    out = {}
    for key, e in header.items():
        if key == "__metadata__":
            continue
        b, en = e["data_offsets"]
        out[key] = np.frombuffer(raw[base + b:base + en], dtype=ST_DTYPES[e["dtype"]]).reshape(e["shape"]).copy()
    return out


class Preset:
    """One preset's model, batch (on the host) and loss settings."""

    def __init__(self, name, data_dir, device):
        self.name = name
        meta_path = os.path.join(data_dir, name, "meta.json") if data_dir else None
        if meta_path and os.path.exists(meta_path):
            with open(meta_path) as f:
                self.meta = json.load(f)
            self.weights = load_safetensors(os.path.join(data_dir, name, "model.safetensors"))
            batch = load_safetensors(os.path.join(data_dir, name, "batch.safetensors"))
        elif data_dir:
            raise SystemExit(f"retinanet_twin: {meta_path} not found: run train-step.ts --export {data_dir} --presets {name} first")
        else:
            raise SystemExit("retinanet_twin: --data is required (the weights, batch and settings come from train-step.ts --export)")
        self.cfg = self.meta["model"]
        self.loss_cfg = self.meta["loss"]
        self.batch_size = self.meta["batchSize"]
        self.device = device
        # host tensors, uploaded every step as the example uploads its batch
        self.host = {
            "images": torch.from_numpy(batch["images"]),
            "labels": torch.from_numpy(batch["labels"].astype(np.int64)),
            "deltas": torch.from_numpy(batch["deltas"]),
            "mask": torch.from_numpy(batch["positiveMask"]),
        }
        if device.type == "cuda":
            self.host = {k: v.pin_memory() for k, v in self.host.items()}

    def model(self):
        torch.manual_seed(0)
        m = RetinaNet(self.cfg)
        m.load_state_dict({k: torch.from_numpy(v) for k, v in self.weights.items()}, strict=True)
        return m.to(self.device).train()

    def upload(self):
        return {k: v.to(self.device, non_blocking=True) for k, v in self.host.items()}


def set_precision(precision):
    """float32: TF32 off (Kiln's arithmetic); tf32: PyTorch's defaults for convolutions."""
    if torch.cuda.is_available():
        torch.backends.cudnn.allow_tf32 = precision == "tf32"
        torch.backends.cuda.matmul.allow_tf32 = False


def first_losses(p):
    """Losses at the initial weights in float32 (no step), for the check against Kiln's."""
    set_precision("float32")
    model = p.model()
    b = p.upload()
    with torch.no_grad():
        cls, box = detection_loss(model, b["images"], b["labels"], b["deltas"], b["mask"], p.loss_cfg)
    return float(cls.item()), float(box.item())


class Runner:
    """One training setup (preset, mode, precision): a fresh model and Adam, and its step."""

    def __init__(self, p, mode, precision):
        self.p, self.mode, self.precision = p, mode, precision
        set_precision(precision)
        self.model = p.model()
        self.opt = torch.optim.Adam(self.model.parameters(), lr=p.meta["lr"])
        # PyTorch's default implementation: foreach (multi-tensor) when every parameter is on CUDA
        self.optimizer_impl = "foreach" if p.device.type == "cuda" else "for-loop"
        loss_cfg = p.loss_cfg

        def fwd(images, labels, deltas, mask):
            return detection_loss(self.model, images, labels, deltas, mask, loss_cfg)

        self.fwd = torch.compile(fwd) if mode == "compile" else fwd
        self.autocast = precision == "bf16"

    def step(self):
        b = self.p.upload()
        if self.autocast:
            with torch.autocast(device_type=self.p.device.type, dtype=torch.bfloat16):
                cls, box = self.fwd(b["images"], b["labels"], b["deltas"], b["mask"])
        else:
            cls, box = self.fwd(b["images"], b["labels"], b["deltas"], b["mask"])
        (cls + box).backward()
        self.opt.step()
        self.opt.zero_grad(set_to_none=True)
        return float(cls.item()), float(box.item())

    def time_steps(self, n):
        """Host ms (and device ms on CUDA) of n steps."""
        cuda = self.p.device.type == "cuda"
        host, dev = [], []
        for _ in range(n):
            if cuda:
                a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                a.record()
            t0 = time.perf_counter()
            self.step()
            t1 = time.perf_counter()
            if cuda:
                b.record()
                b.synchronize()
                dev.append(a.elapsed_time(b))
            host.append((t1 - t0) * 1e3)
        return host, dev


def timed_row(make_runner, preset, args, threads):
    """Builds a runner (make_runner()), takes its first step (where torch.compile compiles), the
    warm-up steps and the timed ones; prints the result and returns its row of the --json results
    (shared by example_twin.py). args: warmup, steps, profile, row_limit (and profile_shapes)."""
    t0 = time.perf_counter()
    r = make_runner()
    losses = r.step()
    first_s = time.perf_counter() - t0
    for _ in range(max(0, args.warmup - 1)):
        r.step()
    host, dev = r.time_steps(args.steps)
    if args.profile and r.mode == "eager":
        print_profile(r, args.row_limit, getattr(args, "profile_shapes", False))
    row = {
        "preset": preset, "mode": r.mode, "precision": r.precision, "threads": threads,
        "stepMs": statistics.median(host), "minMs": min(host), "deviceMs": statistics.median(dev) if dev else None,
        "steps": args.steps, "firstStepS": first_s, "optimizer": r.optimizer_impl, "firstLosses": list(losses),
    }
    on = "" if threads is None else " %d thread(s)" % threads
    print(f"[{preset}] torch {r.mode} {r.precision}{on}: step {row['stepMs']:.2f} ms (min {row['minMs']:.2f})"
          + (f", device {row['deviceMs']:.2f} ms" if row["deviceMs"] is not None else "") + f"; first step {first_s:.1f} s", flush=True)
    cuda = r.p.device.type == "cuda"
    del r
    if cuda:
        torch.cuda.empty_cache()
    return row


def print_profile(runner, row_limit, by_shape=False):
    """torch.profiler's table of one step (CPU and CUDA activity), sorted by device time: the
    kernels PyTorch runs (cuDNN's by their names) beside Kiln's profiler table of the same step;
    with by_shape, also the table per op and input shapes (record_shapes, group_by_input_shape)."""
    from torch.profiler import ProfilerActivity, profile
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if runner.p.device.type == "cuda" else [])
    with profile(activities=acts, record_shapes=by_shape) as prof:
        runner.step()
    keys = ["device_time_total", "cuda_time_total"] if runner.p.device.type == "cuda" else ["cpu_time_total"]
    for grouped in [False, True] if by_shape else [False]:
        for key in keys:   # PyTorch 2.4 renamed cuda_time_total
            try:
                table = prof.key_averages(group_by_input_shape=grouped).table(sort_by=key, row_limit=row_limit, max_name_column_width=90)
                break
            except (AttributeError, KeyError, ValueError):
                continue
        how = " per op and input shapes" if grouped else ""
        print(f"\ntorch.profiler, one {runner.mode} {runner.precision} step of preset {runner.p.name}{how} (sorted by {key}):", flush=True)
        print(table, flush=True)


def compile_available():
    return hasattr(torch, "compile") and int(torch.__version__.split(".")[0]) >= 2


PRECISIONS = ("float32", "tf32", "bf16")


def add_timing_options(ap, steps, row_limit):
    """The options both twins (this one and example_twin.py) take: what timed_row, twin_modes and
    twin_precisions read."""
    ap.add_argument("--device", default="", help="cuda or cpu (default: cuda when available)")
    ap.add_argument("--modes", default="eager,compile", help="eager, compile")
    ap.add_argument("--precisions", default="float32", help="float32 (TF32 off), tf32 (PyTorch's defaults), bf16 (autocast)")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--steps", type=int, default=steps)
    ap.add_argument("--tol", type=float, default=1e-4, help="largest relative difference of the losses at the initial weights")
    ap.add_argument("--json", default="", help="write the results here (train-step.ts and example-step.ts --torch read them)")
    ap.add_argument("--profile", action="store_true", help="print torch.profiler's table of one eager step per preset and precision (its kernels by device time)")
    ap.add_argument("--row-limit", type=int, default=row_limit, help="rows of the --profile table")


def twin_modes(asked, out):
    """The modes asked for that this PyTorch has (torch.compile needs 2.0; a note says when it is missing)."""
    modes = [m for m in asked.split(",") if m]
    if "compile" in modes and not compile_available():
        out["notes"].append(f"torch.compile is not available in PyTorch {torch.__version__} (it needs 2.0 or later): no compile rows")
        print(out["notes"][-1], flush=True)
        modes = [m for m in modes if m != "compile"]
    return modes


def twin_precisions(asked, out, device):
    """The precisions the twin times, in order (tf32 on CUDA only); the others asked for (Kiln's
    fp16, say: the twins have no GradScaler step) get a note in the results instead of a row timed
    as something else."""
    names = [x for x in asked.split(",") if x]
    for x in names:
        if x not in PRECISIONS:
            out["notes"].append(f"precision {x}: not timed by the PyTorch twin (it times {', '.join(PRECISIONS)})")
            print(out["notes"][-1], flush=True)
    return [x for x in names if x in PRECISIONS and (x != "tf32" or device.type == "cuda")]


def rel(a, b):
    return abs(a - b) / max(abs(b), 1e-30)


def check_preset(p, tol, out=sys.stdout):
    """Compares the float32 losses at the initial weights with Kiln's (meta.json); exits 3 on a mismatch."""
    cls, box = first_losses(p)
    k = p.meta.get("kilnLosses")
    entry = {"preset": p.name, "torchCls": cls, "torchBox": box}
    if k is None:
        entry.update(ok=None, note="no Kiln losses in meta.json: nothing compared")
        return entry
    e_cls, e_box = rel(cls, k["classification"]), rel(box, k["box"])
    entry.update(kilnCls=k["classification"], kilnBox=k["box"], relErrCls=e_cls, relErrBox=e_box, ok=e_cls <= tol and e_box <= tol)
    print(f"[{p.name}] first-step losses at the same weights, float32: torch cls {cls:.7g} box {box:.7g}; "
          f"kiln cls {k['classification']:.7g} box {k['box']:.7g}; rel. diff {e_cls:.1e} / {e_box:.1e} "
          f"{'ok' if entry['ok'] else 'MISMATCH'}", file=out, flush=True)
    if not entry["ok"]:
        print(f"retinanet_twin: the two sides do not compute the same losses for preset {p.name} (tolerance {tol}); not timing", file=sys.stderr)
        sys.exit(3)
    return entry


def serve(presets, tol):
    """Line protocol for train-step.ts --interleave: each request is a JSON line
    {"preset", "mode", "precision", "threads", "steps"}; the reply is a JSON line {"hostMs": [...]}.
    A setup is built once and kept; "quit" ends."""
    runners = {}
    # the same check as before a timing run: stderr says it, and a mismatch exits 3 before "ready"
    checks = [check_preset(p, tol, out=sys.stderr) for p in presets.values()]
    print(json.dumps({"ready": True, "torch": torch.__version__, "threads": torch.get_num_threads(), "checks": checks}), flush=True)
    for line in sys.stdin:
        line = line.strip()
        if not line or line == "quit":
            break
        req = json.loads(line)
        threads = int(req.get("threads", 0)) or default_threads()
        torch.set_num_threads(threads)
        key = (req["preset"], req.get("mode", "eager"), req.get("precision", "float32"))
        if key not in runners:
            runners[key] = Runner(presets[req["preset"]], key[1], key[2])
            runners[key].step()
        host, _ = runners[key].time_steps(int(req.get("steps", 1)))
        print(json.dumps({"hostMs": host, "threads": torch.get_num_threads()}), flush=True)


_DEFAULT_THREADS = None


def default_threads():
    return _DEFAULT_THREADS


def main():
    global _DEFAULT_THREADS
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="", help="the folder train-step.ts --export wrote")
    ap.add_argument("--presets", default="", help="comma-separated presets among those exported (default: every one in --data)")
    add_timing_options(ap, steps=20, row_limit=40)
    ap.add_argument("--threads", default="0", help="CPU: comma-separated thread counts, 0 = PyTorch's default")
    ap.add_argument("--cudnn-benchmark", action="store_true", help="torch.backends.cudnn.benchmark = True (train-step.ts's flag of the same name)")
    ap.add_argument("--profile-shapes", action="store_true", help="the --profile table per op and input shapes (record_shapes, group_by_input_shape)")
    ap.add_argument("--serve", action="store_true", help="answer timing requests on stdin (train-step.ts --interleave)")
    # train-step.ts takes the same command line (remote.sh's train-bench passes one to both): its own
    # options are not this script's, and are ignored here
    args, ignored = ap.parse_known_args()
    if ignored:
        print(f"retinanet_twin: ignoring options that are not the twin's: {' '.join(ignored)}", flush=True)
    if np is None:
        missing("numpy")
    if torch is None:
        missing("PyTorch (torch)")
    _DEFAULT_THREADS = torch.get_num_threads()
    if args.cudnn_benchmark and torch.cuda.is_available():
        torch.backends.cudnn.benchmark = True
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("retinanet_twin: --device cuda but torch.cuda.is_available() is False")
    names = [n for n in args.presets.split(",") if n]
    if not names and args.data:
        names = sorted(d for d in os.listdir(args.data) if os.path.exists(os.path.join(args.data, d, "meta.json")))
    if not names:
        raise SystemExit(f"retinanet_twin: no preset found in --data {args.data!r} (train-step.ts --export writes them)")
    presets = {name: Preset(name, args.data, device) for name in names}
    if args.serve:
        serve(presets, args.tol)
        return

    out = {
        "torch": torch.__version__,
        "device": str(device),
        "gpu": torch.cuda.get_device_name(0) if device.type == "cuda" else None,
        "defaultThreads": _DEFAULT_THREADS,
        "checks": [],
        "results": [],
        "notes": [],
    }
    for p in presets.values():
        out["checks"].append(check_preset(p, args.tol))
    modes = twin_modes(args.modes, out)
    threads = [int(t) for t in args.threads.split(",")] if device.type == "cpu" else [0]
    precisions = twin_precisions(args.precisions, out, device)
    for p in presets.values():
        for precision in precisions:
            for mode in modes:
                for t in threads:
                    if device.type == "cpu":
                        torch.set_num_threads(t or _DEFAULT_THREADS)
                    out["results"].append(timed_row(lambda: Runner(p, mode, precision), p.name, args, torch.get_num_threads() if device.type == "cpu" else None))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
