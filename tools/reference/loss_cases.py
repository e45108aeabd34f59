"""Seeded test-case inputs for Kiln's loss fixtures (numpy only, no torch).

Every case draws its inputs (and, for reduction 'none', a random upstream gradient) from its own
``numpy.random.RandomState`` whose seed is the CRC-32 of ``"<loss>:<case name>"``, so a case's
data does not depend on which other cases exist or in which order they are built.

``build_cases()`` returns ``{loss family: [Case, ...]}``; the torch side
(``loss_definitions.py``) computes the expected values.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

# Logits that stress the numerics: float32 exp overflow (88.7), bf16/f16 trouble spots (9.4, 17),
# saturated sigmoid in float64 (30, 100) and the spec's outer range (1e4).
EXTREME_LOGITS = [-1e4, -100.0, -88.7, -30.0, -17.0, -9.4, -1.0, 0.0,
                  1e-3, 1.0, 9.4, 17.0, 30.0, 88.7, 100.0, 1e4]
# A coarser set for softmax rows (differences of ±2e4 between classes).
EXTREME_SOFTMAX_LOGITS = [-1e4, -100.0, -30.0, 0.0, 30.0, 100.0, 1e4]


@dataclass
class Case:
    """One fixture case: inputs plus what the torch side needs to compute the expected values."""

    loss: str
    name: str
    seed: int
    options: dict
    inputs: dict[str, np.ndarray]  # float64 or int64 arrays, keyed by Kiln argument name
    grad_output: np.ndarray | None  # random upstream gradient for reduction 'none', else None
    # Optional hand-checked values (from the spec) that the generator asserts after computing.
    known: dict = field(default_factory=dict)


def case_seed(loss: str, name: str) -> int:
    return zlib.crc32(f"{loss}:{name}".encode())


def make_case(loss: str, name: str, options: dict,
              make_inputs: Callable[[np.random.RandomState], dict],
              out_shape: Callable[[dict], tuple], known: dict | None = None) -> Case:
    """Draw a case's inputs, then (reduction 'none' only) its upstream gradient, from one RNG."""
    seed = case_seed(loss, name)
    rng = np.random.RandomState(seed)
    inputs = {k: np.ascontiguousarray(v) for k, v in make_inputs(rng).items()}
    for key, arr in inputs.items():
        assert arr.dtype in (np.float64, np.int64), (loss, name, key, arr.dtype)
    grad_output = None
    if options["reduction"] == "none":
        grad_output = rng.standard_normal(out_shape(inputs)).astype(np.float64)
    return Case(loss, name, seed, options, inputs, grad_output, known or {})


def elementwise_shape(inputs: dict) -> tuple:
    return inputs["input"].shape


def per_row_shape(inputs: dict) -> tuple:
    return inputs["input"].shape[:1]


# ---------------------------------------------------------------- input helpers


def logits(rng, n, c, scale=3.0):
    return rng.standard_normal((n, c)) * scale


def extreme_choice(rng, n, c, values=EXTREME_LOGITS):
    return rng.choice(np.asarray(values, dtype=np.float64), size=(n, c))


def onehot_float(rng, n, c, fg_fraction=0.5):
    """Float one-hot targets: each row is background (all zero) or has one 1."""
    t = np.zeros((n, c))
    fg = rng.uniform(size=n) < fg_fraction
    t[np.arange(n)[fg], rng.randint(0, c, size=n)[fg]] = 1.0
    return t


def soft_float(rng, n, c):
    """Soft targets in [0, 1], with some exact 0s and 1s mixed in."""
    t = rng.uniform(size=(n, c))
    t[rng.uniform(size=(n, c)) < 0.2] = 0.0
    t[rng.uniform(size=(n, c)) < 0.1] = 1.0
    return t


def seed_labels(rng, n, c, fg_fraction=0.5, ignored=()):
    """Seed convention: 0 background, 1..C foreground; `ignored` = (row, negative value) pairs."""
    labels = np.where(rng.uniform(size=n) < fg_fraction, rng.randint(1, c + 1, size=n), 0)
    for row, value in ignored:
        labels[row] = value
    return labels.astype(np.int64)


def mmdet_labels(rng, n, c, fg_fraction=0.5, ignored=()):
    """mmdetection convention: 0..C-1 foreground, C background; negative values ignored."""
    labels = np.where(rng.uniform(size=n) < fg_fraction, rng.randint(0, c, size=n), c)
    for row, value in ignored:
        labels[row] = value
    return labels.astype(np.int64)


def class_indices(rng, n, c, ignored=(), ignore_index=-100):
    labels = rng.randint(0, c, size=n)
    for row in ignored:
        labels[row] = ignore_index
    return labels.astype(np.int64)


def positive_weights(rng, shape):
    return rng.uniform(0.1, 2.0, size=shape)


def boxes(rng, n, lo=0.0, hi=10.0):
    """Valid boxes (x1 < x2, y1 < y2) in xyxy format."""
    xy = rng.uniform(lo, hi, size=(n, 2))
    wh = rng.uniform(0.5, 5.0, size=(n, 2))
    return np.concatenate([xy, xy + wh], axis=1)


# ---------------------------------------------------------------- sigmoid_focal_loss

def sigmoid_focal_cases() -> list[Case]:
    loss = "sigmoid_focal_loss"
    cases = []

    def add(name, options, make_inputs, known=None):
        cases.append(make_case(loss, name, options, make_inputs, elementwise_shape, known))

    def opts(gamma, alpha, reduction, fmt, convention=None, **extra):
        o = {"gamma": gamma, "alpha": alpha, "reduction": reduction, "targetFormat": fmt}
        if convention is not None:
            o["convention"] = convention
        o.update(extra)
        return o

    # --- float targets (torchvision's definition)
    def float_inputs(n, c, soft=False, weight=None, class_weight=False, scale=3.0):
        def make(rng):
            x = logits(rng, n, c, scale)
            t = soft_float(rng, n, c) if soft else onehot_float(rng, n, c)
            d = {"input": x, "target": t}
            if weight == "NC":
                d["weight"] = positive_weights(rng, (n, c))
            elif weight == "N":
                d["weight"] = positive_weights(rng, (n,))
            if class_weight:
                d["classWeight"] = positive_weights(rng, (c,))
            return d
        return make

    add("float_onehot_n3_c2_g2_a0.25_none", opts(2.0, 0.25, "none", "float"), float_inputs(3, 2))
    add("float_onehot_n7_c5_g2_a0.25_mean", opts(2.0, 0.25, "mean", "float"), float_inputs(7, 5))
    add("float_onehot_n16_c5_g2_a0.25_sum", opts(2.0, 0.25, "sum", "float"), float_inputs(16, 5))
    add("float_soft_n7_c5_g0.5_a0.25_none", opts(0.5, 0.25, "none", "float"),
        float_inputs(7, 5, soft=True))
    add("float_soft_n16_c5_g2_a-1_mean", opts(2.0, -1.0, "mean", "float"),
        float_inputs(16, 5, soft=True))
    add("float_onehot_n7_c5_g0_a-1_sum_is_bce", opts(0.0, -1.0, "sum", "float"),
        float_inputs(7, 5))
    add("float_onehot_n7_c5_g5_a0.25_none", opts(5.0, 0.25, "none", "float"), float_inputs(7, 5))
    add("float_onehot_n1_c1_g2_a0.25_none", opts(2.0, 0.25, "none", "float"), float_inputs(1, 1))
    add("float_onehot_n3_c80_g2_a0.25_mean", opts(2.0, 0.25, "mean", "float"), float_inputs(3, 80))
    for red in ("none", "sum", "mean"):
        add(f"float_n0_c5_g2_a0.25_{red}", opts(2.0, 0.25, red, "float"), float_inputs(0, 5))
    add("float_onehot_n7_c5_weightNC_mean", opts(2.0, 0.25, "mean", "float"),
        float_inputs(7, 5, weight="NC"))
    add("float_soft_n7_c5_weightN_sum", opts(2.0, 0.25, "sum", "float"),
        float_inputs(7, 5, soft=True, weight="N"))
    add("float_onehot_n7_c5_classWeight_none", opts(2.0, 0.25, "none", "float"),
        float_inputs(7, 5, class_weight=True))
    add("float_onehot_n16_c5_weightNC_classWeight_mean", opts(2.0, 0.25, "mean", "float"),
        float_inputs(16, 5, weight="NC", class_weight=True))
    add("float_onehot_n16_c5_avgFactor3_mean", opts(2.0, 0.25, "mean", "float", avgFactor=3.0),
        float_inputs(16, 5))

    # Extreme logits: every column holds one EXTREME_LOGITS value; rows are targets 0, 1, 0.3, 0.9.
    def float_extreme(rng):
        x = np.tile(np.asarray(EXTREME_LOGITS), (4, 1))
        t = np.repeat(np.array([[0.0], [1.0], [0.3], [0.9]]), len(EXTREME_LOGITS), axis=1)
        return {"input": x, "target": t}

    for gamma in (0.0, 0.5, 2.0, 5.0):
        add(f"float_extreme_g{gamma:g}_a0.25_none", opts(gamma, 0.25, "none", "float"),
            float_extreme)
    add("float_extreme_g2_a-1_none", opts(2.0, -1.0, "none", "float"), float_extreme)
    add("float_extreme_g0.5_a0.25_sum", opts(0.5, 0.25, "sum", "float"), float_extreme)

    # --- index targets, seed convention (0 background, 1..C foreground, negative ignored)
    def seed_inputs(n, c, ignored=(), weight=None, class_weight=False, fg=0.5):
        def make(rng):
            d = {"input": logits(rng, n, c), "target": seed_labels(rng, n, c, fg, ignored)}
            if weight == "NC":
                d["weight"] = positive_weights(rng, (n, c))
            elif weight == "N":
                d["weight"] = positive_weights(rng, (n,))
            if class_weight:
                d["classWeight"] = positive_weights(rng, (c,))
            return d
        return make

    seed_opts = lambda g, a, r, **e: opts(g, a, r, "index", "seed", **e)  # noqa: E731
    add("index_seed_n7_c5_g2_a0.25_none_ignored", seed_opts(2.0, 0.25, "none"),
        seed_inputs(7, 5, ignored=[(2, -1)]))
    add("index_seed_n16_c5_g2_a0.25_mean_ignored", seed_opts(2.0, 0.25, "mean"),
        seed_inputs(16, 5, ignored=[(0, -1), (9, -3)]))
    add("index_seed_n16_c5_g2_a0.25_sum_ignored", seed_opts(2.0, 0.25, "sum"),
        seed_inputs(16, 5, ignored=[(4, -1)]))
    add("index_seed_n3_c80_g2_a0.25_mean", seed_opts(2.0, 0.25, "mean"), seed_inputs(3, 80, fg=0.7))
    add("index_seed_n7_c1_g2_a0.25_none_ignored", seed_opts(2.0, 0.25, "none"),
        seed_inputs(7, 1, ignored=[(3, -1)]))
    add("index_seed_n7_c5_g0.5_a-1_mean", seed_opts(0.5, -1.0, "mean"), seed_inputs(7, 5))
    add("index_seed_n7_c5_g0_a0.25_none", seed_opts(0.0, 0.25, "none"), seed_inputs(7, 5))
    add("index_seed_n7_c5_g5_a0.25_sum", seed_opts(5.0, 0.25, "sum"), seed_inputs(7, 5))
    add("index_seed_n3_c5_all_ignored_mean", seed_opts(2.0, 0.25, "mean"),
        seed_inputs(3, 5, ignored=[(0, -1), (1, -1), (2, -2)]))
    for red in ("none", "sum", "mean"):
        add(f"index_seed_n0_c5_{red}", seed_opts(2.0, 0.25, red), seed_inputs(0, 5))
    add("index_seed_n16_c5_weightNC_classWeight_mean_ignored", seed_opts(2.0, 0.25, "mean"),
        seed_inputs(16, 5, ignored=[(5, -1)], weight="NC", class_weight=True))
    add("index_seed_n7_c5_weightN_sum", seed_opts(2.0, 0.25, "sum"),
        seed_inputs(7, 5, weight="N"))
    add("index_seed_n7_c5_classWeight_none_ignored", seed_opts(2.0, 0.25, "none"),
        seed_inputs(7, 5, ignored=[(6, -1)], class_weight=True))
    add("index_seed_n16_c5_avgFactor2.5_mean_ignored", seed_opts(2.0, 0.25, "mean", avgFactor=2.5),
        seed_inputs(16, 5, ignored=[(1, -1), (2, -1)]))

    # Extreme logits with index targets: every row is EXTREME_LOGITS; labels pick which column is
    # positive (label 1 -> x = -1e4, 8 -> x = 0, 13 -> x = 30, 16 -> x = 1e4); last row ignored.
    def seed_extreme(rng):
        labels = np.array([0, 1, 8, 13, 16, -1], dtype=np.int64)
        return {"input": np.tile(np.asarray(EXTREME_LOGITS), (len(labels), 1)), "target": labels}

    for gamma in (0.0, 0.5, 2.0, 5.0):
        add(f"index_seed_extreme_g{gamma:g}_a0.25_none", seed_opts(gamma, 0.25, "none"),
            seed_extreme)
    add("index_seed_extreme_g2_a0.25_mean", seed_opts(2.0, 0.25, "mean"), seed_extreme)

    def seed_random_extreme(rng):
        return {"input": extreme_choice(rng, 7, 5),
                "target": seed_labels(rng, 7, 5, 0.6, [(3, -1)])}

    add("index_seed_random_extreme_g0.5_a0.25_none", seed_opts(0.5, 0.25, "none"),
        seed_random_extreme)

    # --- index targets, mmdetection convention (0..C-1 foreground, C background)
    def mmdet_inputs(n, c, ignored=()):
        def make(rng):
            return {"input": logits(rng, n, c), "target": mmdet_labels(rng, n, c, 0.5, ignored)}
        return make

    mm_opts = lambda g, a, r, **e: opts(g, a, r, "index", "mmdet", **e)  # noqa: E731

    # The spec's reference values (mmcv's test): sum 0.27125922 and the unscaled gradient.
    def spec_example(rng):
        return {"input": np.array([[1.0, 0.0], [0.0, 1.0]]), "target": np.array([0, 1], np.int64)}

    add("spec_mmcv_example_mmdet_sum", mm_opts(2.0, 0.25, "sum"), spec_example,
        known={"output": [0.27125922],
               "gradInput": [-0.01314528, 0.2237151, 0.2237151, -0.01314528], "atol": 5e-8})
    add("spec_mmcv_example_mmdet_mean", mm_opts(2.0, 0.25, "mean"), spec_example,
        known={"output": [0.27125922 / 4], "atol": 2e-8})
    add("index_mmdet_n7_c5_g2_a0.25_none", mm_opts(2.0, 0.25, "none"), mmdet_inputs(7, 5))
    add("index_mmdet_n16_c5_g2_a0.25_mean_ignored", mm_opts(2.0, 0.25, "mean"),
        mmdet_inputs(16, 5, ignored=[(3, -1)]))
    add("index_mmdet_n7_c1_g2_a0.25_none_ignored", mm_opts(2.0, 0.25, "none"),
        mmdet_inputs(7, 1, ignored=[(0, -1)]))
    add("index_mmdet_n3_c80_g2_a0.25_sum", mm_opts(2.0, 0.25, "sum"), mmdet_inputs(3, 80))
    return cases


# ---------------------------------------------------------------- binary_cross_entropy_with_logits

def bce_cases() -> list[Case]:
    loss = "binary_cross_entropy_with_logits"
    cases = []

    def add(name, reduction, make_inputs):
        options = {"reduction": reduction}
        cases.append(make_case(loss, name, options, make_inputs, elementwise_shape))

    def inputs(n, c, soft=False, weight=None, pos_weight=False):
        def make(rng):
            d = {"input": logits(rng, n, c),
                 "target": soft_float(rng, n, c) if soft else onehot_float(rng, n, c)}
            if weight is not None:  # "NC", "C" (broadcast over rows) or "N1" (per row)
                shape = {"NC": (n, c), "C": (c,), "N1": (n, 1)}[weight]
                d["weight"] = positive_weights(rng, shape)
            if pos_weight:
                d["posWeight"] = positive_weights(rng, (c,)) * 3.0
            return d
        return make

    add("n3_c2_none", "none", inputs(3, 2))
    add("n7_c5_mean", "mean", inputs(7, 5))
    add("n16_c5_sum", "sum", inputs(16, 5))
    add("n7_c5_soft_none", "none", inputs(7, 5, soft=True))
    add("n16_c5_soft_mean", "mean", inputs(16, 5, soft=True))
    add("n1_c1_none", "none", inputs(1, 1))
    add("n3_c80_mean", "mean", inputs(3, 80))
    add("n0_c5_none", "none", inputs(0, 5))
    add("n0_c5_sum", "sum", inputs(0, 5))
    add("n7_c5_weightNC_mean", "mean", inputs(7, 5, weight="NC"))
    add("n7_c5_weightC_sum", "sum", inputs(7, 5, weight="C"))
    add("n7_c5_weightN1_none", "none", inputs(7, 5, soft=True, weight="N1"))
    add("n16_c5_posWeight_mean", "mean", inputs(16, 5, pos_weight=True))
    add("n7_c5_soft_posWeight_weightNC_none", "none",
        inputs(7, 5, soft=True, weight="NC", pos_weight=True))

    def extreme(rng):
        x = np.tile(np.asarray(EXTREME_LOGITS), (3, 1))
        t = np.repeat(np.array([[0.0], [1.0], [0.5]]), len(EXTREME_LOGITS), axis=1)
        return {"input": x, "target": t}

    add("extreme_none", "none", extreme)
    add("extreme_sum", "sum", extreme)
    return cases


# ---------------------------------------------------------------- cross_entropy

def cross_entropy_cases() -> list[Case]:
    loss = "cross_entropy"
    cases = []

    def add(name, options, make_inputs):
        cases.append(make_case(loss, name, options, make_inputs, per_row_shape))

    def opts(reduction, ignore_index=-100, smoothing=0.0):
        return {"reduction": reduction, "ignoreIndex": ignore_index, "labelSmoothing": smoothing}

    def inputs(n, c, ignored=(), ignore_index=-100, class_weight=False, scale=2.0):
        def make(rng):
            d = {"input": logits(rng, n, c, scale),
                 "target": class_indices(rng, n, c, ignored, ignore_index)}
            if class_weight:
                d["classWeight"] = positive_weights(rng, (c,))
            return d
        return make

    add("n3_c2_none", opts("none"), inputs(3, 2))
    add("n7_c5_mean", opts("mean"), inputs(7, 5))
    add("n16_c5_sum", opts("sum"), inputs(16, 5))
    add("n3_c1_none", opts("none"), inputs(3, 1))
    add("n3_c80_mean", opts("mean"), inputs(3, 80))
    add("n0_c5_none", opts("none"), inputs(0, 5))
    add("n0_c5_sum", opts("sum"), inputs(0, 5))
    add("n16_c5_classWeight_mean", opts("mean"), inputs(16, 5, class_weight=True))
    add("n16_c5_ignored_mean", opts("mean"), inputs(16, 5, ignored=(2, 11)))
    add("n16_c5_ignored_classWeight_mean", opts("mean"),
        inputs(16, 5, ignored=(0, 7), class_weight=True))
    add("n7_c5_ignored_none", opts("none"), inputs(7, 5, ignored=(4,)))
    add("n7_c5_ignoreIndex2_mean", opts("mean", ignore_index=2), inputs(7, 5))
    add("n3_c5_all_ignored_sum", opts("sum"), inputs(3, 5, ignored=(0, 1, 2)))
    add("n16_c5_smoothing0.1_mean", opts("mean", smoothing=0.1), inputs(16, 5))
    add("n16_c5_smoothing0.2_classWeight_mean", opts("mean", smoothing=0.2),
        inputs(16, 5, class_weight=True))
    add("n7_c5_smoothing0.1_ignored_none", opts("none", smoothing=0.1),
        inputs(7, 5, ignored=(1,)))
    add("n7_c5_smoothing0.1_ignored_classWeight_sum", opts("sum", smoothing=0.1),
        inputs(7, 5, ignored=(3,), class_weight=True))

    def extreme(rng):
        return {"input": extreme_choice(rng, 7, 5, EXTREME_SOFTMAX_LOGITS),
                "target": class_indices(rng, 7, 5)}

    add("extreme_none", opts("none"), extreme)
    add("extreme_mean", opts("mean"), extreme)
    return cases


# ---------------------------------------------------------------- l1 / smooth_l1 / huber

def regression_cases(loss: str, param: str | None, values: tuple) -> list[Case]:
    """[N, 4] regression inputs; `param` is the Kiln option name (beta / delta) or None."""
    cases = []

    def inputs(n, zero_diff=False):
        def make(rng):
            x = rng.standard_normal((n, 4)) * 2.0
            t = x + rng.standard_normal((n, 4)) * 1.5
            if zero_diff and n:
                t[0, 0] = x[0, 0]  # |x - t| = 0 exactly: records PyTorch's choice of subgradient
            return {"input": x, "target": t}
        return make

    def add(name, reduction, value, make_inputs):
        options = {"reduction": reduction}
        if param is not None:
            options[param] = value
        tag = f"_{param}{value:g}" if param is not None else ""
        cases.append(make_case(loss, name + tag, options, make_inputs, elementwise_shape))

    for value in values:
        add("n7_none", "none", value, inputs(7))
        add("n16_mean", "mean", value, inputs(16))
        add("n16_sum", "sum", value, inputs(16))
    first = values[0]
    add("n1_none", "none", first, inputs(1))
    add("n0_none", "none", first, inputs(0))
    add("n0_sum", "sum", first, inputs(0))
    add("n3_zero_diff_none", "none", first, inputs(3, zero_diff=True))
    return cases


# ---------------------------------------------------------------- giou_loss

def giou_cases() -> list[Case]:
    loss = "giou_loss"
    cases = []

    def add(name, reduction, make_inputs):
        options = {"reduction": reduction, "eps": 1e-7}
        cases.append(make_case(loss, name, options, make_inputs, per_row_shape))

    def overlapping(n):
        def make(rng):
            b = boxes(rng, n)
            jitter = rng.uniform(-0.4, 0.4, size=(n, 4))
            t = b + jitter
            t[:, 2:] = np.maximum(t[:, 2:], t[:, :2] + 0.1)  # keep target boxes valid
            return {"input": b, "target": t}
        return make

    def mixed(n):
        def make(rng):
            return {"input": boxes(rng, n), "target": boxes(rng, n)}
        return make

    def disjoint(rng):
        b = boxes(rng, 3, 0.0, 5.0)
        return {"input": b, "target": boxes(rng, 3, 20.0, 30.0)}

    def contained(rng):
        outer = boxes(rng, 3)
        inner = outer.copy()
        inner[:, :2] += 0.2
        inner[:, 2:] -= 0.2
        return {"input": inner, "target": outer}

    add("n7_overlapping_none", "none", overlapping(7))
    add("n16_overlapping_mean", "mean", overlapping(16))
    add("n16_mixed_mean", "mean", mixed(16))
    add("n16_mixed_sum", "sum", mixed(16))
    add("n3_disjoint_none", "none", disjoint)
    add("n3_contained_none", "none", contained)
    add("n1_mixed_none", "none", mixed(1))
    add("n0_none", "none", mixed(0))
    add("n0_sum", "sum", mixed(0))
    add("n0_mean", "mean", mixed(0))  # torchvision: mean of nothing is 0
    return cases


# ---------------------------------------------------------------- softmax_focal_loss

def softmax_focal_cases() -> list[Case]:
    loss = "softmax_focal_loss"
    cases = []

    def add(name, options, make_inputs):
        cases.append(make_case(loss, name, options, make_inputs, per_row_shape))

    def opts(gamma, alpha, reduction, ignore_index=-100, **extra):
        o = {"gamma": gamma, "alpha": alpha, "reduction": reduction, "ignoreIndex": ignore_index}
        o.update(extra)
        return o

    def inputs(n, c, ignored=(), ignore_index=-100, class_weight=False):
        def make(rng):
            d = {"input": logits(rng, n, c),
                 "target": class_indices(rng, n, c, ignored, ignore_index)}
            if class_weight:
                d["classWeight"] = positive_weights(rng, (c,))
            return d
        return make

    add("n7_c5_g2_a0.25_none", opts(2.0, 0.25, "none"), inputs(7, 5))
    add("n16_c5_g2_a0.25_mean_ignored", opts(2.0, 0.25, "mean"), inputs(16, 5, ignored=(3, 8)))
    add("n16_c5_g0_a-1_sum_is_ce", opts(0.0, -1.0, "sum"), inputs(16, 5))
    add("n7_c5_g0.5_a0.25_mean", opts(0.5, 0.25, "mean"), inputs(7, 5))
    add("n7_c5_g5_a0.25_none_ignored", opts(5.0, 0.25, "none"), inputs(7, 5, ignored=(6,)))
    add("n3_c2_g2_a0.25_sum", opts(2.0, 0.25, "sum"), inputs(3, 2))
    add("n16_c5_g2_classWeight_mean", opts(2.0, -1.0, "mean"), inputs(16, 5, class_weight=True))
    add("n7_c5_g2_classWeight_none_ignored", opts(2.0, -1.0, "none"),
        inputs(7, 5, ignored=(2,), class_weight=True))
    add("n7_c5_g2_a0.25_ignoreIndex0_mean", opts(2.0, 0.25, "mean", ignore_index=0), inputs(7, 5))
    add("n3_c80_g2_a0.25_mean", opts(2.0, 0.25, "mean"), inputs(3, 80))
    add("n0_c5_none", opts(2.0, 0.25, "none"), inputs(0, 5))
    add("n0_c5_mean", opts(2.0, 0.25, "mean"), inputs(0, 5))
    add("n3_c5_all_ignored_mean", opts(2.0, 0.25, "mean"), inputs(3, 5, ignored=(0, 1, 2)))
    add("n16_c5_g2_a0.25_avgFactor4_mean", opts(2.0, 0.25, "mean", avgFactor=4.0),
        inputs(16, 5, ignored=(5,)))

    def extreme(rng):
        return {"input": extreme_choice(rng, 8, 5, EXTREME_SOFTMAX_LOGITS),
                "target": class_indices(rng, 8, 5, ignored=(7,))}

    for gamma in (0.0, 0.5, 2.0):
        add(f"extreme_g{gamma:g}_a0.25_none", opts(gamma, 0.25, "none"), extreme)
    return cases


# ---------------------------------------------------------------- quality_focal_loss (GFL)

def quality_focal_cases() -> list[Case]:
    loss = "quality_focal_loss"
    cases = []

    def add(name, options, make_inputs):
        cases.append(make_case(loss, name, options, make_inputs, per_row_shape))

    def opts(beta, reduction, **extra):
        return {"beta": beta, "reduction": reduction, **extra}

    def inputs(n, c, extreme=False, weight=False):
        def make(rng):
            x = extreme_choice(rng, n, c) if extreme else logits(rng, n, c)
            label = mmdet_labels(rng, n, c, fg_fraction=0.6)
            score = rng.uniform(size=n)
            if n >= 3:
                score[:2] = [0.0, 1.0]  # exact end points of the IoU range
            d = {"input": x, "target": label, "score": score}
            if weight:
                d["weight"] = positive_weights(rng, (n,))
            return d
        return make

    add("n7_c5_b2_none", opts(2.0, "none"), inputs(7, 5))
    add("n16_c5_b2_mean", opts(2.0, "mean"), inputs(16, 5))
    add("n16_c5_b2_sum", opts(2.0, "sum"), inputs(16, 5))
    add("n7_c5_b1.5_none", opts(1.5, "none"), inputs(7, 5))
    add("n3_c80_b2_mean", opts(2.0, "mean"), inputs(3, 80))
    add("n7_c1_b2_none", opts(2.0, "none"), inputs(7, 1))
    add("n0_c5_none", opts(2.0, "none"), inputs(0, 5))
    add("n0_c5_sum", opts(2.0, "sum"), inputs(0, 5))
    add("n16_c5_b2_weightN_mean", opts(2.0, "mean"), inputs(16, 5, weight=True))
    add("n16_c5_b2_avgFactor5_mean", opts(2.0, "mean", avgFactor=5.0), inputs(16, 5))
    add("extreme_n7_c16_b2_none", opts(2.0, "none"), inputs(7, 16, extreme=True))
    return cases


# ---------------------------------------------------------------- distribution_focal_loss (GFL)

def distribution_focal_cases() -> list[Case]:
    loss = "distribution_focal_loss"
    cases = []

    def add(name, options, make_inputs):
        cases.append(make_case(loss, name, options, make_inputs, per_row_shape))

    def inputs(n, reg_max, weight=False, edge_labels=False):
        """pred [N, reg_max + 1]; labels in [0, reg_max) so that dis_right <= reg_max."""
        def make(rng):
            x = logits(rng, n, reg_max + 1, scale=2.0)
            label = rng.uniform(0.0, reg_max, size=n)
            label = np.minimum(label, reg_max - 1e-3)
            if edge_labels and n >= 3:
                label[:3] = [0.0, 3.0, reg_max - 1e-6]  # integer labels put all weight left
            d = {"input": x, "target": label}
            if weight:
                d["weight"] = positive_weights(rng, (n,))
            return d
        return make

    add("n7_reg7_none", {"reduction": "none"}, inputs(7, 7))
    add("n16_reg16_mean", {"reduction": "mean"}, inputs(16, 16))
    add("n16_reg7_sum", {"reduction": "sum"}, inputs(16, 7))
    add("n7_reg7_edge_labels_none", {"reduction": "none"}, inputs(7, 7, edge_labels=True))
    add("n1_reg1_none", {"reduction": "none"}, inputs(1, 1))
    add("n0_reg7_none", {"reduction": "none"}, inputs(0, 7))
    add("n0_reg7_sum", {"reduction": "sum"}, inputs(0, 7))
    add("n16_reg7_weightN_mean", {"reduction": "mean"}, inputs(16, 7, weight=True))
    add("n16_reg7_avgFactor6_mean", {"reduction": "mean", "avgFactor": 6.0}, inputs(16, 7))
    return cases


# ---------------------------------------------------------------- varifocal_loss

def varifocal_cases() -> list[Case]:
    loss = "varifocal_loss"
    cases = []

    def add(name, options, make_inputs):
        cases.append(make_case(loss, name, options, make_inputs, elementwise_shape))

    def opts(reduction, detach=True, alpha=0.75, gamma=2.0, **extra):
        return {"alpha": alpha, "gamma": gamma, "iouWeighted": True,
                "detachFocalWeight": detach, "reduction": reduction, **extra}

    def inputs(n, c, extreme=False, weight=False):
        """IoU-aware targets: 0 for negatives, an IoU in (0, 1] at a row's class for positives."""
        def make(rng):
            x = extreme_choice(rng, n, c) if extreme else logits(rng, n, c)
            t = onehot_float(rng, n, c, fg_fraction=0.6) * rng.uniform(0.05, 1.0, size=(n, 1))
            d = {"input": x, "target": t}
            if weight:
                d["weight"] = positive_weights(rng, (n, c))
            return d
        return make

    add("n7_c5_none", opts("none"), inputs(7, 5))
    add("n16_c5_mean", opts("mean"), inputs(16, 5))
    add("n16_c5_sum", opts("sum"), inputs(16, 5))
    add("n3_c80_mean", opts("mean"), inputs(3, 80))
    add("n1_c1_none", opts("none"), inputs(1, 1))
    add("n0_c5_none", opts("none"), inputs(0, 5))
    add("n0_c5_sum", opts("sum"), inputs(0, 5))
    add("n16_c5_weightNC_mean", opts("mean"), inputs(16, 5, weight=True))
    add("n16_c5_avgFactor4_mean", opts("mean", avgFactor=4.0), inputs(16, 5))
    add("n7_c5_a0.5_g1.5_none", opts("none", alpha=0.5, gamma=1.5), inputs(7, 5))
    add("extreme_n7_c16_none", opts("none"), inputs(7, 16, extreme=True))
    # mmdetection's own varifocal_loss does not detach sigmoid(pred) in the focal weight.
    add("n7_c5_none_nodetach", opts("none", detach=False), inputs(7, 5))
    add("n16_c5_mean_nodetach", opts("mean", detach=False), inputs(16, 5))
    return cases


# ---------------------------------------------------------------- all families

def build_cases() -> dict[str, list[Case]]:
    families = {
        "sigmoid_focal_loss": sigmoid_focal_cases(),
        "binary_cross_entropy_with_logits": bce_cases(),
        "cross_entropy": cross_entropy_cases(),
        "l1_loss": regression_cases("l1_loss", None, (None,)),
        "smooth_l1_loss": regression_cases("smooth_l1_loss", "beta", (1.0, 0.5, 0.0)),
        "huber_loss": regression_cases("huber_loss", "delta", (1.0, 0.25, 2.5)),
        "giou_loss": giou_cases(),
        "softmax_focal_loss": softmax_focal_cases(),
        "quality_focal_loss": quality_focal_cases(),
        "distribution_focal_loss": distribution_focal_cases(),
        "varifocal_loss": varifocal_cases(),
    }
    for loss, cases in families.items():
        names = [c.name for c in cases]
        assert len(names) == len(set(names)), f"duplicate case names in {loss}"
        assert all(c.loss == loss for c in cases), loss
    return families
