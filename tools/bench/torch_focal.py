#!/usr/bin/env python3
"""Benchmark sigmoid focal loss forward + backward in PyTorch on a GPU.

Implementations (gamma = 2, alpha = 0.25, reduction 'mean', logits [N, C]):
  eager          torchvision.ops.sigmoid_focal_loss(x, onehot, 0.25, 2, 'mean')
  compile        the same under torch.compile(dynamic=False), compiled per shape and dtype
  seed           the seed's CUDA kernels (seed_ext/): forward kernel ('none') + PyTorch .mean();
                 backward kernel with d_losses = a pre-made [N, C] tensor of 1 / numel
  seed-autograd  the seed kernels in an autograd.Function ('none') + .mean(), so autograd makes
                 the 1 / numel d_losses tensor (as the seed's wrapper would be used)

Every implementation is first checked against a float64 reference (loss: relative error;
gradient: max |error| / max |reference|), then timed with CUDA events: median of --reps
forward+backward steps after --warmup steps, rotating over input sets whose total size is
at least twice the L2 cache, so the cache does not help. Effective bandwidth counts the bytes
the op cannot avoid: logits read + gradient written (2 * N * C * itemsize); it is compared with
a device-to-device copy (bytes read + written over time).

    python3 tools/bench/torch_focal.py --json $OUT/torch_focal.json
    python3 tools/bench/torch_focal.py --sizes 20000 --dtypes float32 --impls eager,seed
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
import torchvision

GAMMA, ALPHA = 2.0, 0.25
SEED_EXT_DIR = Path(__file__).resolve().parent / "seed_ext"
SEED_EXT_NAME = "kiln_seed_focal_loss"
SEED_NVCC_FLAGS = ["-O3", "-gencode=arch=compute_90,code=sm_90"]
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
# Tolerances of the correctness check, by input dtype (float16 / bfloat16 are computed in
# their own precision by eager PyTorch and by the seed).
TOLERANCE = {torch.float32: 1e-4, torch.bfloat16: 1e-2, torch.float16: 1e-2}
ALL_IMPLS = ("eager", "compile", "seed", "seed-autograd")


def log(*parts):
    print(*parts, flush=True)


# ---------------------------------------------------------------- inputs

@dataclass
class InputSet:
    logits: torch.Tensor  # [N, C], requires grad
    labels: torch.Tensor  # [N] int64, seed convention: 0 background, 1..C class t - 1
    onehot: torch.Tensor  # [N, C] in the logits' dtype, for torchvision

    @property
    def nbytes(self) -> int:
        """Bytes that every implementation reads (the seed does not read the one-hot)."""
        return sum(t.numel() * t.element_size() for t in (self.logits, self.labels))


def make_input_set(n: int, c: int, dtype: torch.dtype, device: str,
                   gen: torch.Generator) -> InputSet:
    """Logits randn * 3; ~10% of rows foreground with a uniform class, the rest background."""
    logits = (torch.randn(n, c, generator=gen, device=device) * 3).to(dtype)
    foreground = torch.rand(n, generator=gen, device=device) < 0.1
    classes = torch.randint(1, c + 1, (n,), generator=gen, device=device)
    labels = torch.where(foreground, classes, torch.zeros_like(classes))
    onehot = F.one_hot(labels, c + 1)[:, 1:].to(dtype).contiguous()
    return InputSet(logits.requires_grad_(True), labels, onehot)


def make_input_sets(n, c, dtype, device, min_total_bytes, seed=0) -> list[InputSet]:
    gen = torch.Generator(device=device)
    gen.manual_seed(seed)
    first = make_input_set(n, c, dtype, device, gen)
    count = max(2, math.ceil(min_total_bytes / first.nbytes))
    return [first] + [make_input_set(n, c, dtype, device, gen) for _ in range(count - 1)]


# ---------------------------------------------------------------- float64 reference

def reference_loss_and_grad(s: InputSet):
    """Mean focal loss and its gradient in float64, written with logsigmoid (no cancellation):
    positive -alpha (1 - p)^g log p, negative -(1 - alpha) p^g log(1 - p)."""
    x = s.logits.detach().double().requires_grad_(True)
    positive = s.onehot > 0
    log_p, log_1mp = F.logsigmoid(x), F.logsigmoid(-x)
    loss = torch.where(positive,
                       -ALPHA * torch.exp(GAMMA * log_1mp) * log_p,
                       -(1 - ALPHA) * torch.exp(GAMMA * log_p) * log_1mp).mean()
    (grad,) = torch.autograd.grad(loss, x)
    return loss.detach(), grad


def check_against_reference(loss, grad, ref_loss, ref_grad):
    """(loss relative error, gradient max |error| / max |reference|)."""
    loss_err = (loss.double() - ref_loss).abs().item() / max(ref_loss.abs().item(), 1e-300)
    grad_err = (grad.double() - ref_grad).abs().max().item() / max(ref_grad.abs().max().item(),
                                                                   1e-300)
    return loss_err, grad_err


# ---------------------------------------------------------------- implementations

def torchvision_mean(x, onehot):
    return torchvision.ops.sigmoid_focal_loss(x, onehot, ALPHA, GAMMA, "mean")


def eager_step(s: InputSet):
    loss = torchvision_mean(s.logits, s.onehot)
    (grad,) = torch.autograd.grad(loss, s.logits)
    return loss, grad


def make_compiled_step():
    """A fresh torch.compile per (shape, dtype): reset dynamo so no recompile limit is hit."""
    from torch import _dynamo  # not always imported by `import torch`
    _dynamo.reset()
    compiled = torch.compile(torchvision_mean, dynamic=False)

    def step(s: InputSet):
        loss = compiled(s.logits, s.onehot)
        (grad,) = torch.autograd.grad(loss, s.logits)
        return loss, grad
    return step


def make_seed_step(ext, s0: InputSet):
    """Seed kernels called directly; d_losses (1 / numel everywhere, the upstream gradient of
    mean) is made once per shape and dtype, outside the timing."""
    n, c = s0.logits.shape
    d_losses = torch.full((n, c), 1.0 / (n * c), dtype=s0.logits.dtype, device=s0.logits.device)

    def step(s: InputSet):
        x = s.logits.detach()
        loss = ext.forward(x, s.labels, c, GAMMA, ALPHA).mean()
        grad = ext.backward(x, s.labels, d_losses, c, GAMMA, ALPHA)
        return loss, grad
    return step


def make_seed_autograd_step(ext):
    """The seed's SigmoidFocalLossFunction with reduction 'none', then .mean() in PyTorch."""

    class SeedSigmoidFocalLoss(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, labels):
            ctx.save_for_backward(x, labels)
            return ext.forward(x, labels, x.shape[1], GAMMA, ALPHA)

        @staticmethod
        def backward(ctx, d_loss):
            x, labels = ctx.saved_tensors
            d_x = ext.backward(x, labels, d_loss.contiguous(), x.shape[1], GAMMA, ALPHA)
            return d_x, None

    def step(s: InputSet):
        loss = SeedSigmoidFocalLoss.apply(s.logits, s.labels).mean()
        (grad,) = torch.autograd.grad(loss, s.logits)
        return loss, grad
    return step


# ---------------------------------------------------------------- seed extension build

def load_seed_extension(verbose: bool = False):
    """Build and import seed_ext/ (nvcc needed). Uses cpp_extension.load when ninja is there,
    otherwise a setuptools build without ninja."""
    from torch.utils import cpp_extension
    if cpp_extension.CUDA_HOME is None:
        raise RuntimeError("no CUDA toolkit found (nvcc / CUDA_HOME)")
    sources = [str(SEED_EXT_DIR / "seed_focal_loss.cu"),
               str(SEED_EXT_DIR / "seed_focal_loss_bind.cpp")]
    if cpp_extension.is_ninja_available():
        return cpp_extension.load(name=SEED_EXT_NAME, sources=sources, extra_cflags=["-O3"],
                                  extra_cuda_cflags=SEED_NVCC_FLAGS, verbose=verbose)
    log("  ninja not found: building the seed extension with setuptools (use_ninja=False)")
    extension = cpp_extension.CUDAExtension(
        name=SEED_EXT_NAME, sources=sources,
        extra_compile_args={"cxx": ["-O3"], "nvcc": SEED_NVCC_FLAGS})
    return build_with_setuptools(extension, Path(tempfile.gettempdir()) / SEED_EXT_NAME)


def build_with_setuptools(extension, build_dir: Path):
    import setuptools
    from torch.utils.cpp_extension import BuildExtension
    build_dir.mkdir(parents=True, exist_ok=True)
    try:
        setuptools.setup(
            name=extension.name, ext_modules=[extension],
            cmdclass={"build_ext": BuildExtension.with_options(use_ninja=False)},
            script_args=["--quiet", "build_ext", "--build-lib", str(build_dir),
                         "--build-temp", str(build_dir / "tmp")])
    except SystemExit as exc:  # distutils reports build errors by exiting
        raise RuntimeError(f"setuptools build failed: {exc}") from None
    sys.path.insert(0, str(build_dir))
    return importlib.import_module(extension.name)


# ---------------------------------------------------------------- timing

def cuda_time_ms(fn, reps: int, warmup: int, arg_for) -> list[float]:
    """Per-call times in ms of fn(arg_for(i)), measured with CUDA events."""
    for i in range(warmup):
        fn(arg_for(i))
    torch.cuda.synchronize()
    events = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True))
              for _ in range(reps)]
    for i, (start, end) in enumerate(events):
        arg = arg_for(warmup + i)
        start.record()
        fn(arg)
        end.record()
    torch.cuda.synchronize()
    return [start.elapsed_time(end) for start, end in events]


def cpu_time_ms(fn, reps: int, warmup: int, arg_for) -> list[float]:
    """Wall-clock fallback for --device cpu (a smoke test of this script, not a benchmark)."""
    for i in range(warmup):
        fn(arg_for(i))
    times = []
    for i in range(reps):
        arg = arg_for(warmup + i)
        t0 = time.perf_counter()
        fn(arg)
        times.append((time.perf_counter() - t0) * 1e3)
    return times


def bandwidth_gbps(device: str, fn, bytes_moved: int, reps: int = 20) -> float:
    """bytes_moved (read + written by one call of fn) over fn's median time, in GB/s."""
    timer = cuda_time_ms if device == "cuda" else cpu_time_ms
    times = timer(lambda _: fn(), reps, 3, lambda i: None)
    return bytes_moved / (statistics.median(times) * 1e-3) / 1e9


def copy_bandwidth_gbps(device: str, nbytes: int, reps: int = 20) -> float:
    """Device-to-device copy_ of an nbytes buffer: (bytes read + written) / median time."""
    src = torch.ones(nbytes, dtype=torch.uint8, device=device)
    dst = torch.empty_like(src)
    return bandwidth_gbps(device, lambda: dst.copy_(src), 2 * nbytes, reps)


def elementwise_bandwidth_gbps(device: str, nbytes: int, reps: int = 20) -> dict:
    """Float32 elementwise kernels over nbytes per operand, (bytes read + written) / median time:
    x * 2 (one read, one write) and x + y (two reads, one write), into preallocated outputs."""
    n = nbytes // 4
    x = torch.ones(n, dtype=torch.float32, device=device)
    y = torch.ones_like(x)
    out = torch.empty_like(x)
    return {"mul": bandwidth_gbps(device, lambda: torch.mul(x, 2, out=out), 2 * nbytes, reps),
            "add": bandwidth_gbps(device, lambda: torch.add(x, y, out=out), 3 * nbytes, reps)}


# ---------------------------------------------------------------- driver

def run_one(impl, step, sets, ref, dtype, n, c, args, timer) -> dict:
    loss, grad = step(sets[0])
    loss_err, grad_err = check_against_reference(loss, grad, *ref)
    ok = loss_err <= TOLERANCE[dtype] and grad_err <= TOLERANCE[dtype]
    del loss, grad
    times = timer(step, args.reps, args.warmup, lambda i: sets[i % len(sets)])
    median = statistics.median(times)
    useful_bytes = 2 * n * c * sets[0].logits.element_size()  # logits read + gradient written
    gbps = useful_bytes / (median * 1e-3) / 1e9
    result = {"impl": impl, "dtype": str(dtype).replace("torch.", ""), "n": n, "c": c,
              "medianMs": median, "minMs": min(times), "gbps": gbps,
              "fractionOfCopy": gbps / args.copy_gbps if args.copy_gbps else None,
              "lossRelErr": loss_err, "gradRelErr": grad_err, "checkOk": ok,
              "inputSets": len(sets), "reps": args.reps}
    log(f"  {impl:14s} {median:9.3f} ms  {gbps:8.1f} GB/s  loss err {loss_err:.2e}  "
        f"grad err {grad_err:.2e}  {'ok' if ok else 'CHECK FAILED'}")
    return result


def build_step(impl, sets, seed_ext, n, dtype):
    """The step function of one implementation for one shape and dtype (compiled if need be)."""
    if impl == "eager":
        return eager_step
    if impl == "compile":
        log(f"  compiling for N={n}, {dtype} ...")
        t0 = time.perf_counter()
        step = make_compiled_step()
        step(sets[0])  # compile now, not inside the timing
        log(f"  compiled in {time.perf_counter() - t0:.1f} s")
        return step
    if impl == "seed":
        return make_seed_step(seed_ext, sets[0])
    if impl == "seed-autograd":
        return make_seed_autograd_step(seed_ext)
    raise ValueError(impl)


def export_check(out_dir: Path, impls, seed_ext, device: str, n: int = 4096, c: int = 80) -> None:
    """Writes one float32 input set, the float64 reference and each implementation's loss and
    gradient, so another benchmark (tools/bench/focal-gpu.ts, Kiln's) can check itself against
    PyTorch on the same inputs in the same run. Files: logits.f32 [n, c], labels.i64 [n] (seed
    convention), ref_grad.f64, grad_<impl>.f32 (raw little-endian) and check.json (losses)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    gen = torch.Generator(device=device)
    gen.manual_seed(1234)
    s = make_input_set(n, c, torch.float32, device, gen)
    ref_loss, ref_grad = reference_loss_and_grad(s)
    s.logits.detach().cpu().numpy().tofile(out_dir / "logits.f32")
    s.labels.cpu().numpy().tofile(out_dir / "labels.i64")
    ref_grad.cpu().numpy().tofile(out_dir / "ref_grad.f64")
    losses = {}
    for impl in impls:
        loss, grad = build_step(impl, [s], seed_ext, n, torch.float32)(s)
        losses[impl] = loss.double().item()
        grad.detach().float().cpu().numpy().tofile(out_dir / f"grad_{impl}.f32")
    meta = {"n": n, "c": c, "gamma": GAMMA, "alpha": ALPHA, "reduction": "mean",
            "labels": "seed convention (0 background, 1..C class t - 1)",
            "refLoss": ref_loss.item(), "losses": losses}
    (out_dir / "check.json").write_text(json.dumps(meta, indent=1) + "\n")
    log(f"wrote the cross-check inputs and outputs to {out_dir}")


def available_impls(args, skipped: list) -> tuple[list[str], object]:
    impls = [i for i in args.impls if i in ALL_IMPLS]
    seed_ext = None
    if "compile" in impls and not hasattr(torch, "compile"):
        skipped.append({"impl": "compile", "reason": "torch.compile not available"})
        impls.remove("compile")
    if any(i.startswith("seed") for i in impls):
        try:
            if args.device != "cuda":
                raise RuntimeError("the seed kernels need CUDA")
            log("building the seed extension (first build takes a minute or two) ...")
            t0 = time.perf_counter()
            seed_ext = load_seed_extension(verbose=args.verbose)
            log(f"  built in {time.perf_counter() - t0:.1f} s")
        except Exception as exc:  # report and go on with the other implementations
            log(f"  seed extension unavailable: {exc}")
            for impl in [i for i in impls if i.startswith("seed")]:
                skipped.append({"impl": impl, "reason": str(exc).splitlines()[0][:300]})
                impls.remove(impl)
    return impls, seed_ext


def markdown_table(results: list[dict]) -> str:
    lines = ["| impl | dtype | N | median ms | GB/s | of copy | loss err | grad err |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        frac = f"{100 * r['fractionOfCopy']:.0f}%" if r["fractionOfCopy"] else "-"
        flag = "" if r["checkOk"] else " (FAIL)"
        lines.append(f"| {r['impl']} | {r['dtype']} | {r['n']} | {r['medianMs']:.3f} | "
                     f"{r['gbps']:.1f} | {frac} | {r['lossRelErr']:.1e} | "
                     f"{r['gradRelErr']:.1e}{flag} |")
    return "\n".join(lines)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="20000,200000,1600000", help="comma-separated N values")
    p.add_argument("--classes", type=int, default=80)
    p.add_argument("--dtypes", default="float32,bfloat16", help=f"from {sorted(DTYPES)}")
    p.add_argument("--impls", default=",".join(ALL_IMPLS), help=f"from {ALL_IMPLS}")
    p.add_argument("--reps", type=int, default=50)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--l2-mib", type=float, default=50.0,
                   help="L2 cache size; input sets rotate over at least twice this")
    p.add_argument("--copy-gib", type=float, default=1.0, help="size of the copy_ test buffer")
    p.add_argument("--device", default="cuda", help="cuda; cpu only smoke-tests the script")
    p.add_argument("--json", type=Path, help="also write the results to this JSON file")
    p.add_argument("--verbose", action="store_true", help="show the extension build")
    p.add_argument("--export-check", type=Path,
                   help="write a float32 input set and every implementation's outputs here")
    args = p.parse_args(argv)
    args.sizes = [int(s) for s in args.sizes.split(",") if s]
    args.dtypes = [DTYPES[d] for d in args.dtypes.split(",") if d]
    args.impls = [i for i in args.impls.split(",") if i]
    unknown = set(args.impls) - set(ALL_IMPLS)
    if unknown:
        p.error(f"unknown impls {sorted(unknown)}")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        log("CUDA is not available")
        return 1
    device_name = torch.cuda.get_device_name() if args.device == "cuda" else "cpu"
    log(f"device {device_name}, torch {torch.__version__}, torchvision {torchvision.__version__}"
        f", CUDA {torch.version.cuda}")
    timer = cuda_time_ms if args.device == "cuda" else cpu_time_ms

    args.copy_gbps = copy_bandwidth_gbps(args.device, int(args.copy_gib * 2**30))
    log(f"device-to-device copy: {args.copy_gbps:.1f} GB/s (read + write)")
    args.elementwise_gbps = elementwise_bandwidth_gbps(args.device, int(args.copy_gib * 2**30))
    log(f"elementwise float32: x * 2 {args.elementwise_gbps['mul']:.1f} GB/s, "
        f"x + y {args.elementwise_gbps['add']:.1f} GB/s (read + write)")

    skipped: list[dict] = []
    impls, seed_ext = available_impls(args, skipped)
    if args.export_check:
        export_check(args.export_check, impls, seed_ext, args.device)
    results = []
    min_total_bytes = int(2 * args.l2_mib * 2**20)
    for dtype in args.dtypes:
        for n in args.sizes:
            c = args.classes
            log(f"\nN={n}, C={c}, {dtype}")
            sets = make_input_sets(n, c, dtype, args.device, min_total_bytes)
            ref = reference_loss_and_grad(sets[0])
            log(f"  {len(sets)} input sets of {sets[0].nbytes / 2**20:.1f} MiB "
                f"(logits + labels); reference loss {ref[0].item():.6e}")
            for impl in impls:
                try:
                    step = build_step(impl, sets, seed_ext, n, dtype)
                    results.append(run_one(impl, step, sets, ref, dtype, n, c, args, timer))
                except Exception as exc:  # report it and go on with the others
                    reason = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
                    log(f"  {impl} failed: {reason}")
                    skipped.append({"impl": impl, "dtype": str(dtype).replace("torch.", ""),
                                    "n": n, "reason": reason})
            del sets, ref
            if args.device == "cuda":
                torch.cuda.empty_cache()

    log("\n" + markdown_table(results))
    log(f"\nbytes = logits read + gradient written (2 * N * C * itemsize); "
        f"copy bandwidth {args.copy_gbps:.1f} GB/s")
    for s in skipped:
        where = f" ({s['dtype']}, N={s['n']})" if "n" in s else ""
        log(f"skipped {s['impl']}{where}: {s['reason']}")
    if args.json:
        payload = {"benchmark": "sigmoid_focal_loss forward+backward",
                   "generator": "tools/bench/torch_focal.py", "device": device_name,
                   "torch": torch.__version__, "torchvision": torchvision.__version__,
                   "cuda": torch.version.cuda, "gamma": GAMMA, "alpha": ALPHA,
                   "reduction": "mean", "bytesModel": "2 * N * C * itemsize",
                   "copyBandwidthGBps": args.copy_gbps, "l2MiB": args.l2_mib,
                   "elementwiseGBps": args.elementwise_gbps,
                   "results": results, "skipped": skipped}
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(payload, indent=1) + "\n")
        log(f"wrote {args.json}")
    failed = [f"{r['impl']}/{r['dtype']}/N={r['n']}" for r in results if not r["checkOk"]]
    if failed:
        log("correctness check failed (timed anyway): " + ", ".join(failed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
