"""Each kernel's device time from Nsight Compute's CSV (`ncu --csv --metrics gpu__time_duration.sum`),
summed by kernel name: the exact kernel times of a Kiln step and of its PyTorch twin, free of the
launch gaps that Kiln's event-based profiler counts in where the host is the limit.

    ncu --csv --print-units base --metrics gpu__time_duration.sum --cache-control none --clock-control none \
        --log-file /tmp/kiln-ncu.csv node ... tools/bench/train-step.ts --steps 2 --warmup 1
    python3 tools/bench/ncu_kernel_times.py /tmp/kiln-ncu.csv --top 30 [--label kiln]

Prints the total kernel time, then the kernels with the most time: total ms, calls, µs per call.
Several files: one table each, then their totals side by side.
"""

import argparse
import collections
import csv

UNIT_TO_US = {"nsecond": 1e-3, "ns": 1e-3, "usecond": 1.0, "us": 1.0, "msecond": 1e3, "ms": 1e3, "second": 1e6, "s": 1e6}


def read(path):
    """{kernel name: [total µs, calls]} from one ncu CSV log (lines before the header are ncu's own)."""
    with open(path, errors="replace") as f:
        lines = f.readlines()
    start = next((i for i, line in enumerate(lines) if line.startswith('"ID"')), None)
    if start is None:
        raise SystemExit(f"{path}: no ncu CSV header (\"ID\",...) found")
    times = collections.defaultdict(lambda: [0.0, 0])
    for row in csv.DictReader(lines[start:]):
        if row.get("Metric Name") != "gpu__time_duration.sum":
            continue
        value = float(row["Metric Value"].replace(",", ""))
        entry = times[row["Kernel Name"]]
        entry[0] += value * UNIT_TO_US.get(row.get("Metric Unit", "nsecond"), 1e-3)
        entry[1] += 1
    return times


def short(name, width=110):
    return name if len(name) <= width else name[: width - 3] + "..."


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("files", nargs="+")
    ap.add_argument("--top", type=int, default=30)
    ap.add_argument("--divide", type=float, nargs="*", help="per file: divide totals and calls by this (the steps profiled)")
    args = ap.parse_args()
    divide = args.divide or [1.0] * len(args.files)
    if len(divide) != len(args.files):
        raise SystemExit("--divide: one number per file")
    totals = []
    for path, d in zip(args.files, divide):
        times = read(path)
        total = sum(t for t, _ in times.values()) / d
        totals.append((path, total, sum(n for _, n in times.values()) / d))
        print(f"{path}: {total / 1e3:.3f} ms of kernel time in {sum(n for _, n in times.values()) / d:.0f} kernels" + (f" (per 1/{d:g})" if d != 1 else ""))
        print(f"{'ms':>9} {'calls':>7} {'µs/call':>9}  kernel")
        for name, (t, n) in sorted(times.items(), key=lambda kv: -kv[1][0])[: args.top]:
            print(f"{t / d / 1e3:9.3f} {n / d:7.1f} {t / n:9.2f}  {short(name)}")
        print()
    if len(totals) > 1:
        for path, total, n in totals:
            print(f"{total / 1e3:9.3f} ms  {n:7.0f} kernels  {path}")


if __name__ == "__main__":
    main()
