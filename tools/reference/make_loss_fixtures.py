#!/usr/bin/env python3
"""Write Kiln's loss test fixtures: seeded inputs, float64 PyTorch outputs and input gradients.

    python3 tools/reference/make_loss_fixtures.py --out $OUT/fixtures      # needs torch
    python3 tools/reference/make_loss_fixtures.py --dry-run --out /tmp/fx   # numpy only

One JSON file per loss family (<family>.json). Inputs come from loss_cases.py (numpy), the
definitions from loss_definitions.py (torch, float64, CPU). --dry-run writes the same files
without "expected" (and without importing torch), to check shapes and format.
See README.md in this folder for the file format.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from loss_cases import Case, build_cases

GENERATOR = "tools/reference/make_loss_fixtures.py"
REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO_ROOT / "packages" / "losses" / "test" / "fixtures"
MAX_FILE_BYTES = 300 * 1024

# Crosscheck tolerance: |reference - crosscheck| <= ATOL * scale + RTOL * |reference|, with
# scale = max(1, max |reference|) over the tensor, on entries where the crosscheck is finite.
RTOL, ATOL = 1e-9, 1e-12


def tensor_json(array: np.ndarray, dtype: str | None = None) -> dict:
    """{"shape", "dtype", "data"}: data flat, row-major, as Python floats / ints (repr-exact)."""
    array = np.asarray(array)
    dtype = dtype or ("int64" if array.dtype.kind in "iu" else "float64")
    return {"shape": list(array.shape), "dtype": dtype, "data": array.reshape(-1).tolist()}


def case_json(case: Case, expected: dict | None) -> dict:
    out = {"name": case.name, "loss": case.loss, "seed": case.seed, "options": case.options,
           "inputs": {key: tensor_json(value) for key, value in case.inputs.items()}}
    if case.grad_output is not None:
        out["gradOutput"] = tensor_json(case.grad_output)
    if expected is not None:
        out["expected"] = {key: tensor_json(value) for key, value in expected.items()}
    return out


# ---------------------------------------------------------------- torch side

class Evaluator:
    """Runs a case through a family's reference (and crosscheck) with torch autograd."""

    def __init__(self):
        import torch  # only here, so that --dry-run works without torch
        import loss_definitions
        self.torch = torch
        self.families = loss_definitions.FAMILIES
        self.crosscheck_failures: list[str] = []

    def evaluate(self, case: Case, fn):
        """(output, gradInput) of fn on the case's inputs; None if fn declines (returns None)."""
        torch = self.torch
        tensors = {key: torch.from_numpy(value.copy()) for key, value in case.inputs.items()}
        x = tensors["input"].requires_grad_(True)
        out = fn(tensors, case.options)
        if out is None:
            return None
        if case.grad_output is not None:
            grad_out = torch.from_numpy(case.grad_output.copy())
            assert grad_out.shape == out.shape, (case.name, grad_out.shape, out.shape)
        else:
            assert out.dim() == 0, (case.name, out.shape)
            grad_out = torch.ones_like(out)
        if out.requires_grad:
            (grad,) = torch.autograd.grad(out, x, grad_out, allow_unused=True)
        else:
            grad = None
        if grad is None:
            grad = torch.zeros_like(x)
        return out.detach().numpy(), grad.detach().numpy()

    def expected(self, case: Case) -> dict:
        family = self.families[case.loss]
        output, grad_input = self.evaluate(case, family.reference)
        for label, value in (("output", output), ("gradInput", grad_input)):
            if not np.all(np.isfinite(value)):
                raise ValueError(f"{case.loss}/{case.name}: non-finite reference {label}")
        if family.crosscheck is not None:
            other = self.evaluate(case, family.crosscheck)
            if other is not None:
                self.compare(case, {"output": output, "gradInput": grad_input},
                             {"output": other[0], "gradInput": other[1]})
        self.check_known(case, output, grad_input)
        return {"output": output, "gradInput": grad_input}

    def compare(self, case: Case, reference: dict, crosscheck: dict):
        for key, ref in reference.items():
            other = crosscheck[key]
            finite = np.isfinite(other)
            scale = max(1.0, float(np.max(np.abs(ref), initial=0.0)))
            err = np.abs(ref - np.where(finite, other, 0.0))
            bad = finite & (err > ATOL * scale + RTOL * np.abs(ref))
            nonfinite = int(np.size(other) - np.count_nonzero(finite))
            if nonfinite:
                print(f"  note {case.loss}/{case.name}: crosscheck {key} has {nonfinite} "
                      f"non-finite entries (reference finite)", flush=True)
            if np.any(bad):
                worst = float(np.max(np.where(bad, err, 0.0)))
                message = (f"{case.loss}/{case.name}: crosscheck {key} differs in "
                           f"{int(bad.sum())} entries, max abs diff {worst:.3e}")
                print("  MISMATCH " + message, flush=True)
                self.crosscheck_failures.append(message)

    @staticmethod
    def check_known(case: Case, output: np.ndarray, grad_input: np.ndarray):
        """Assert the hand-checked values a case carries (from the spec)."""
        atol = case.known.get("atol", 1e-8)
        for key, value in (("output", output), ("gradInput", grad_input)):
            if key in case.known:
                want = np.asarray(case.known[key])
                got = np.asarray(value).reshape(-1)
                if not np.allclose(got, want, rtol=0, atol=atol):
                    raise AssertionError(f"{case.loss}/{case.name}: {key} {got} != known {want}")
                print(f"  known values ok: {case.loss}/{case.name} {key}", flush=True)


# ---------------------------------------------------------------- main

def library_versions(dry_run: bool) -> dict:
    if dry_run:
        return {"torch": None, "torchvision": None}
    import torch
    import torchvision
    return {"torch": torch.__version__, "torchvision": torchvision.__version__}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help=f"output folder (default: {DEFAULT_OUT.relative_to(REPO_ROOT)})")
    parser.add_argument("--dry-run", action="store_true",
                        help="write inputs only (no 'expected'); needs numpy, not torch")
    parser.add_argument("--only", nargs="*", metavar="FAMILY", help="only these loss families")
    args = parser.parse_args(argv)

    families = build_cases()
    if args.only:
        unknown = set(args.only) - set(families)
        if unknown:
            parser.error(f"unknown families {sorted(unknown)}; known: {sorted(families)}")
        families = {name: families[name] for name in args.only}

    evaluator = None if args.dry_run else Evaluator()
    versions = library_versions(args.dry_run)
    args.out.mkdir(parents=True, exist_ok=True)
    oversized = []
    for family, cases in families.items():
        print(f"{family}: {len(cases)} cases", flush=True)
        payload = {"generator": GENERATOR, **versions, "dryRun": args.dry_run,
                   "cases": [case_json(c, evaluator.expected(c) if evaluator else None)
                             for c in cases]}
        path = args.out / f"{family}.json"
        text = json.dumps(payload, allow_nan=False, separators=(",", ":"))
        path.write_text(text + "\n")
        size = path.stat().st_size
        print(f"  wrote {path} ({size / 1024:.1f} KiB)", flush=True)
        if size > MAX_FILE_BYTES:
            oversized.append(f"{path} is {size} bytes")

    problems = oversized + (evaluator.crosscheck_failures if evaluator else [])
    if problems:
        print("\nFixtures were written, but:", *problems, sep="\n  ", file=sys.stderr)
        return 2
    print("\nall fixtures written" + ("" if args.dry_run else ", crosschecks passed"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
