"""Which cuDNN engine each convolution ran, from cuDNN's API logs (CUDNN_LOGLEVEL_DBG=3), and
where two logs differ: run Kiln's step and the PyTorch twin's with the log on, then compare.

    CUDNN_LOGLEVEL_DBG=3 CUDNN_LOGDEST_DBG=/tmp/kiln-cudnn.log node ... tools/bench/train-step.ts --steps 1 --warmup 1
    CUDNN_LOGLEVEL_DBG=3 CUDNN_LOGDEST_DBG=/tmp/torch-cudnn.log python3 tools/bench/retinanet_twin.py ... --steps 1 --warmup 1
    python3 tools/bench/cudnn_log_engines.py /tmp/kiln-cudnn.log /tmp/torch-cudnn.log

Each `cudnnBackendExecuteInternal` entry names the operation, its tensors' dims, the convolution's
padding, stride and dilation, alpha and beta, the engine id and its knobs. A problem is the
operation with its dims and geometry; the table lists, per problem, the engines (with knobs) each
log ran and how often, and marks the problems whose engines differ. Logs may be gzipped. With one
log, it lists that log's problems and engines. `--last` keeps each problem's last run only (with a
benchmark mode on, the search runs every candidate before the one it keeps).
"""

import collections
import gzip
import re
import sys

FIELDS = ("operation", "xDesc", "wDesc", "yDesc", "dxDesc", "dwDesc", "dyDesc")


def open_log(path):
    return gzip.open(path, "rt", errors="replace") if path.endswith(".gz") else open(path, errors="replace")


def entries(path):
    """Yields (problem, engine) for every cudnnBackendExecuteInternal entry of the log."""
    entry = None
    with open_log(path) as f:
        for line in f:
            if line.startswith("I! CuDNN"):
                if entry is not None:
                    yield summarise(entry)
                entry = [] if "cudnnBackendExecuteInternal()" in line else None
            elif entry is not None:
                entry.append(line.rstrip("\n"))
    if entry is not None:
        yield summarise(entry)


def summarise(lines):
    """The problem (operation, dims, geometry, beta) and the engine (id and knobs) of one entry."""
    problem, engine, tensor, in_knobs = [], [], None, False
    for line in lines:
        body = line[2:].strip() if line.startswith("i!") else line.strip()
        m = re.match(r"(\w+): type=([^;]*?)(?:;|:)\s*(?:val=(.*?);?)?$", body)
        if not m:
            continue
        name, _, val = m.group(1), m.group(2), m.group(3)
        if name == "operation":
            problem.append(val)
        elif name.endswith("Desc") and name != "knobDesc":
            tensor = name
            in_knobs = False
        elif name == "knobDesc":
            in_knobs = True
        elif name in ("numericalNotes", "behaviorNotes", "target_sm_count"):
            in_knobs = False
        elif in_knobs and name.startswith("CUDNN_KNOB_TYPE_"):
            engine.append(f"{name[len('CUDNN_KNOB_TYPE_'):].lower()}={val}")
        elif name == "engine_id":
            engine.insert(0, f"engine {val}")
        elif name in ("dimA", "padA", "strideA", "dilationA", "groupCount", "beta", "dataType") and val is not None:
            if name == "strideA" and tensor != "convDesc":
                continue  # tensor strides: the dims say enough
            if name == "dataType" and tensor not in ("xDesc", "dxDesc"):
                continue  # one operand's dtype says the problem's
            val = val.split(" ")[0]  # CUDNN_DATA_FLOAT (0) -> CUDNN_DATA_FLOAT
            problem.append(f"{tensor}.{name}={val}" if tensor else f"{name}={val}")
    return " ".join(problem), " ".join(engine)


def tally(path, last):
    """{problem: Counter(engine)} of a log; with `last`, only the engine of each problem's last run
    (benchmark modes run every candidate first: the last run is the one kept)."""
    out = collections.defaultdict(collections.Counter)
    for problem, engine in entries(path):
        if last:
            out[problem].clear()
        out[problem][engine] += 1
    return out


def short(problem):
    """The problem as one readable line: the operation, its dims, padding, stride and beta."""
    return " ".join(part.replace("Desc.dimA=", "=").replace("Desc.dataType=CUDNN_DATA_", " ").replace("convDesc.", "") for part in problem.split(" "))


def main(paths, last):
    logs = [tally(p, last) for p in paths]
    problems = sorted(set().union(*[log.keys() for log in logs]))
    differ = 0
    for problem in problems:
        runs = [log.get(problem, collections.Counter()) for log in logs]
        same = len(logs) == 1 or all(set(r) == set(runs[0]) for r in runs)
        differ += not same
        print(("   " if same else "!! ") + short(problem))
        for path, r in zip(paths, runs):
            engines = ", ".join(f"{e} ×{n}" for e, n in r.most_common()) or "(not run)"
            print(f"      {path.split('/')[-1]}: {engines}")
    if len(logs) > 1:
        print(f"{len(problems)} problems; {differ} run different engines (marked !!)")


if __name__ == "__main__":
    last = "--last" in sys.argv[1:]
    paths = [a for a in sys.argv[1:] if a != "--last"]
    if not paths:
        sys.exit("usage: cudnn_log_engines.py LOG [LOG ...] [--last]")
    main(paths, last)
