"""Float64 PyTorch definitions of the losses Kiln's fixtures are made from.

Every loss function here takes ``inputs`` (dict of tensors keyed by Kiln argument name:
``input``, ``target``, ``weight``, ``classWeight``, ``posWeight``, ``score``) and ``options``
(Kiln option names, camelCase) and returns the reduced loss; gradients come from autograd.

Each family has a *reference* (what the fixture records) and, where useful, a *crosscheck*
(another way to compute the same thing, which the generator compares against the reference):

- Where PyTorch / torchvision have the loss and their float64 result is exact enough, the library
  function is the reference (cross_entropy, BCE with logits, L1 / smooth L1 / Huber, GIoU, DFL).
- torchvision's sigmoid_focal_loss computes ``(1 - p_t) ** gamma`` from a rounded ``p``: at
  saturated logits (``|x| >= ~37`` in float64) ``1 - p_t`` is exactly 0, and for ``gamma < 1`` its
  autograd gradient is NaN (0 * inf), and for ``|x| ~ 30`` ``1 - p_t`` has lost ~3 digits. The
  reference therefore uses the algebraically identical form built from ``logsigmoid(±x)``; the
  torchvision function is the crosscheck (compared wherever it is finite).
- The focal-type losses without a library version (softmax focal, QFL, VFL) are written in that
  same stable form and crosschecked against the literal formulas (mmdetection's code).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import torch
import torch.nn.functional as F
import torchvision

Inputs = dict  # str -> torch.Tensor
LossFn = Callable[[Inputs, dict], torch.Tensor]


# ---------------------------------------------------------------- shared pieces

def kiln_reduce(loss: torch.Tensor, reduction: str, count: int,
                avg_factor: Optional[float] = None) -> torch.Tensor:
    """Kiln's reductions: 'none' as is; 'sum'; 'mean' = sum / avgFactor if given, else
    sum / count (the number of non-ignored elements or rows). A mean over nothing is 0 (with a
    zero gradient), not NaN."""
    if reduction == "none":
        return loss
    total = loss.sum()
    if reduction == "sum":
        return total
    assert reduction == "mean", reduction
    divisor = avg_factor if avg_factor is not None else count
    return total / divisor if divisor != 0 else total * 0.0


def torch_reduce(loss: torch.Tensor, reduction: str) -> torch.Tensor:
    """PyTorch's reductions ('mean' over all elements)."""
    return {"none": lambda l: l, "sum": torch.sum, "mean": torch.mean}[reduction](loss)


def apply_weights(loss: torch.Tensor, inputs: Inputs) -> torch.Tensor:
    """Multiply the optional `weight` ([N, C] elementwise, or [N] per row) and `classWeight`
    ([C]) into an elementwise [N, C] loss, or a per-row `weight` [N] into a per-row loss."""
    weight = inputs.get("weight")
    if weight is not None:
        loss = loss * (weight.unsqueeze(1) if weight.dim() < loss.dim() else weight)
    class_weight = inputs.get("classWeight")
    if class_weight is not None:
        loss = loss * class_weight
    return loss


def bce_with_logits_stable(x: torch.Tensor, t: torch.Tensor,
                           pos_weight: Optional[torch.Tensor] = None) -> torch.Tensor:
    """-(pw * t * log p + (1 - t) * log(1 - p)) with log p = logsigmoid(x) and
    log(1 - p) = logsigmoid(-x): both terms are non-negative, so nothing cancels."""
    pos = t * F.logsigmoid(x)
    if pos_weight is not None:
        pos = pos * pos_weight
    return -(pos + (1 - t) * F.logsigmoid(-x))


def log_softmax_at(x: torch.Tensor, t: torch.Tensor):
    """(log p_t, log(1 - p_t)) of softmax(x) at class t[i] of each row, both without cancellation.

    With S = sum_{j != t} exp(x_j):  p_t = e^{x_t} / (e^{x_t} + S) = sigmoid(x_t - log S), and
    1 - p_t = sigmoid(log S - x_t). (F.log_softmax gives log p_t = -log(1 + S e^{-x_t}), which
    rounds to 0 once S e^{-x_t} < 1e-16; 1 - exp(log p_t) then is 0 too.) Needs C >= 2."""
    num_classes = x.shape[1]
    is_t = F.one_hot(t, num_classes).bool()
    x_t = x.gather(1, t.unsqueeze(1)).squeeze(1)
    log_s = torch.logsumexp(x.masked_fill(is_t, float("-inf")), dim=1)
    z = x_t - log_s
    return F.logsigmoid(z), F.logsigmoid(-z)


# ---------------------------------------------------------------- sigmoid_focal_loss

def sigmoid_focal_elementwise(x: torch.Tensor, t: torch.Tensor, alpha: float,
                              gamma: float) -> torch.Tensor:
    """torchvision's definition, BCE(x, t) * (1 - p_t)^gamma * alpha_t, written stably.

    p_t = p t + (1 - p)(1 - t), so 1 - p_t = t (1 - p) + (1 - t) p and
    log(1 - p_t) = logaddexp(log t + log(1 - p), log(1 - t) + log p); for t in {0, 1} one side is
    -inf and the other is exactly logsigmoid(∓x). (1 - p_t)^gamma = exp(gamma * log(1 - p_t)) is
    then finite with a finite gradient for every finite x and gamma >= 0 (gamma = 0 gives 1)."""
    log_p, log_1mp = F.logsigmoid(x), F.logsigmoid(-x)
    ce = -(t * log_p + (1 - t) * log_1mp)
    log_1m_pt = torch.logaddexp(torch.log(t) + log_1mp, torch.log1p(-t) + log_p)
    loss = ce * torch.exp(gamma * log_1m_pt)
    if alpha >= 0:
        loss = loss * (alpha * t + (1 - alpha) * (1 - t))
    return loss


def sigmoid_focal_elementwise_torchvision(x, t, alpha, gamma):
    """torchvision.ops.sigmoid_focal_loss itself (reduction 'none')."""
    return torchvision.ops.sigmoid_focal_loss(x, t, alpha=alpha, gamma=gamma, reduction="none")


def index_targets_to_onehot(target: torch.Tensor, num_classes: int, convention: str):
    """Index targets -> (float one-hot [N, C], valid rows [N]).

    'seed':  0 background, 1..C foreground class t - 1, negative = ignored row.
    'mmdet': 0..C-1 foreground, C background, negative = ignored row."""
    valid = target >= 0
    cls = target - 1 if convention == "seed" else target
    onehot = cls.unsqueeze(1) == torch.arange(num_classes).unsqueeze(0)
    return onehot.to(torch.float64), valid


def _sigmoid_focal(inputs: Inputs, options: dict, elementwise) -> torch.Tensor:
    x = inputs["input"]
    n, c = x.shape
    if options["targetFormat"] == "index":
        t, valid = index_targets_to_onehot(inputs["target"], c, options["convention"])
    else:
        t, valid = inputs["target"], torch.ones(n, dtype=torch.bool)
    loss = elementwise(x, t, options["alpha"], options["gamma"])
    loss = apply_weights(loss, inputs)
    loss = torch.where(valid.unsqueeze(1), loss, torch.zeros_like(loss))  # ignored rows: 0, no grad
    count = int(valid.sum()) * c
    return kiln_reduce(loss, options["reduction"], count, options.get("avgFactor"))


def sigmoid_focal_loss(inputs: Inputs, options: dict) -> torch.Tensor:
    """Kiln's sigmoid focal loss (see the spec): torchvision's elementwise definition on float
    targets, or on one-hot targets made from index targets (ignored rows zeroed and not counted),
    times weight and classWeight; mean = sum / (non-ignored rows * C) or sum / avgFactor."""
    return _sigmoid_focal(inputs, options, sigmoid_focal_elementwise)


def sigmoid_focal_loss_torchvision(inputs: Inputs, options: dict) -> torch.Tensor:
    """Crosscheck: the same with torchvision.ops.sigmoid_focal_loss for the elementwise part."""
    return _sigmoid_focal(inputs, options, sigmoid_focal_elementwise_torchvision)


# ---------------------------------------------------------------- binary_cross_entropy_with_logits

def binary_cross_entropy_with_logits(inputs: Inputs, options: dict) -> torch.Tensor:
    """F.binary_cross_entropy_with_logits(input, target, weight, pos_weight=posWeight)."""
    return F.binary_cross_entropy_with_logits(
        inputs["input"], inputs["target"], weight=inputs.get("weight"),
        pos_weight=inputs.get("posWeight"), reduction=options["reduction"])


def binary_cross_entropy_with_logits_stable(inputs: Inputs, options: dict) -> torch.Tensor:
    """Crosscheck: -(pw t log p + (1 - t) log(1 - p)) * weight, PyTorch's reductions."""
    loss = bce_with_logits_stable(inputs["input"], inputs["target"], inputs.get("posWeight"))
    if inputs.get("weight") is not None:
        loss = loss * inputs["weight"]
    return torch_reduce(loss, options["reduction"])


# ---------------------------------------------------------------- cross_entropy

def cross_entropy(inputs: Inputs, options: dict) -> torch.Tensor:
    """F.cross_entropy(input, target, weight=classWeight, ignore_index, label_smoothing).
    Its 'mean' with class weights divides by the summed weights of the non-ignored targets."""
    return F.cross_entropy(
        inputs["input"], inputs["target"], weight=inputs.get("classWeight"),
        ignore_index=options["ignoreIndex"], reduction=options["reduction"],
        label_smoothing=options["labelSmoothing"])


def cross_entropy_stable(inputs: Inputs, options: dict) -> Optional[torch.Tensor]:
    """Crosscheck (no label smoothing only): -w_t log p_t via log_softmax_at;
    mean = sum / sum of w_t over non-ignored rows."""
    if options["labelSmoothing"] != 0:
        return None
    x, t = inputs["input"], inputs["target"]
    valid = t != options["ignoreIndex"]
    t_safe = torch.where(valid, t, torch.zeros_like(t))
    log_pt, _ = log_softmax_at(x, t_safe)
    w = inputs["classWeight"][t_safe] if inputs.get("classWeight") is not None \
        else torch.ones_like(log_pt)
    w = torch.where(valid, w, torch.zeros_like(w))
    loss = -w * log_pt
    if options["reduction"] == "mean":
        return loss.sum() / w.sum()
    return torch_reduce(loss, options["reduction"])


# ---------------------------------------------------------------- regression losses

def l1_loss(inputs: Inputs, options: dict) -> torch.Tensor:
    """F.l1_loss(input, target)."""
    return F.l1_loss(inputs["input"], inputs["target"], reduction=options["reduction"])


def smooth_l1_loss(inputs: Inputs, options: dict) -> torch.Tensor:
    """F.smooth_l1_loss(input, target, beta) (beta = 0 is L1)."""
    return F.smooth_l1_loss(inputs["input"], inputs["target"], reduction=options["reduction"],
                            beta=options["beta"])


def huber_loss(inputs: Inputs, options: dict) -> torch.Tensor:
    """F.huber_loss(input, target, delta)."""
    return F.huber_loss(inputs["input"], inputs["target"], reduction=options["reduction"],
                        delta=options["delta"])


# ---------------------------------------------------------------- giou_loss

def giou_loss(inputs: Inputs, options: dict) -> torch.Tensor:
    """torchvision.ops.generalized_box_iou_loss(input, target, reduction, eps); xyxy boxes,
    gradient with respect to `input` only. Its mean of no boxes is 0."""
    return torchvision.ops.generalized_box_iou_loss(
        inputs["input"], inputs["target"], reduction=options["reduction"], eps=options["eps"])


# ---------------------------------------------------------------- softmax_focal_loss

def _softmax_alpha_t(inputs: Inputs, options: dict, t: torch.Tensor, like: torch.Tensor):
    """alpha_t: classWeight[t] when classWeight is given, else alpha (alpha < 0 means 1)."""
    if inputs.get("classWeight") is not None:
        return inputs["classWeight"][t]
    alpha = options["alpha"]
    return torch.full_like(like, alpha if alpha >= 0 else 1.0)


def _softmax_focal(inputs: Inputs, options: dict, log_pt_pair) -> torch.Tensor:
    x, t = inputs["input"], inputs["target"]
    valid = t != options["ignoreIndex"]
    t_safe = torch.where(valid, t, torch.zeros_like(t))
    log_pt, log_1m_pt = log_pt_pair(x, t_safe)
    alpha_t = _softmax_alpha_t(inputs, options, t_safe, log_pt)
    modulating = torch.exp(options["gamma"] * log_1m_pt) if log_1m_pt is not None \
        else (1 - log_pt.exp()) ** options["gamma"]
    loss = -alpha_t * modulating * log_pt
    loss = torch.where(valid, loss, torch.zeros_like(loss))
    return kiln_reduce(loss, options["reduction"], int(valid.sum()), options.get("avgFactor"))


def softmax_focal_loss(inputs: Inputs, options: dict) -> torch.Tensor:
    """Per non-ignored row with class t: -alpha_t (1 - p_t)^gamma log p_t, p = softmax(x);
    rows with t == ignoreIndex give 0; mean = sum / non-ignored rows (or avgFactor).
    Computed via log_softmax_at: (1 - p_t)^gamma = exp(gamma * log(1 - p_t))."""
    return _softmax_focal(inputs, options, log_softmax_at)


def softmax_focal_loss_naive(inputs: Inputs, options: dict) -> torch.Tensor:
    """Crosscheck: the literal formula with F.log_softmax and (1 - exp(log p_t)) ** gamma."""
    def log_pt_only(x, t):
        return F.log_softmax(x, dim=1).gather(1, t.unsqueeze(1)).squeeze(1), None
    return _softmax_focal(inputs, options, log_pt_only)


# ---------------------------------------------------------------- quality_focal_loss (GFL)

def _mmdet_reduce(loss: torch.Tensor, inputs: Inputs, options: dict) -> torch.Tensor:
    """mmdetection's weight_reduce_loss: times `weight`, then 'mean' = mean over all elements
    or sum / avgFactor (Kiln: exactly avgFactor; mmdetection adds float32 eps to it)."""
    loss = apply_weights(loss, inputs)
    if options["reduction"] == "mean" and options.get("avgFactor") is not None:
        return loss.sum() / options["avgFactor"]
    return torch_reduce(loss, options["reduction"])


def _qfl_positive_mask(label: torch.Tensor, num_classes: int) -> torch.Tensor:
    """[N, C] mask of each foreground row's class (label in 0..C-1; C = background)."""
    fg = (label >= 0) & (label < num_classes)
    return (label.unsqueeze(1) == torch.arange(num_classes).unsqueeze(0)) & fg.unsqueeze(1)


def quality_focal_loss(inputs: Inputs, options: dict) -> torch.Tensor:
    """QFL (GFL, mmdetection): every element BCE(x, 0) * sigmoid(x)^beta; the positive element of
    each foreground row BCE(x, score) * |score - sigmoid(x)|^beta instead; summed over C -> [N];
    times per-row weight; mean over rows (or avgFactor). Written with logsigmoid:
    BCE(x, 0) = -logsigmoid(-x), sigmoid(x)^beta = exp(beta * logsigmoid(x))."""
    x, label, score = inputs["input"], inputs["target"], inputs["score"]
    beta = options["beta"]
    negative = -F.logsigmoid(-x) * torch.exp(beta * F.logsigmoid(x))
    score_nc = score.unsqueeze(1).expand_as(x)
    positive = bce_with_logits_stable(x, score_nc) * (score_nc - torch.sigmoid(x)).abs() ** beta
    loss = torch.where(_qfl_positive_mask(label, x.shape[1]), positive, negative).sum(dim=1)
    return _mmdet_reduce(loss, inputs, options)


def quality_focal_loss_mmdet(inputs: Inputs, options: dict) -> torch.Tensor:
    """Crosscheck: mmdetection's quality_focal_loss, line by line."""
    pred, label, score = inputs["input"], inputs["target"], inputs["score"]
    beta = options["beta"]
    pred_sigmoid = pred.sigmoid()
    loss = F.binary_cross_entropy_with_logits(
        pred, torch.zeros_like(pred), reduction="none") * pred_sigmoid.pow(beta)
    pos = ((label >= 0) & (label < pred.size(1))).nonzero().squeeze(1)
    pos_label = label[pos].long()
    scale_factor = score[pos] - pred_sigmoid[pos, pos_label]
    loss[pos, pos_label] = F.binary_cross_entropy_with_logits(
        pred[pos, pos_label], score[pos], reduction="none") * scale_factor.abs().pow(beta)
    return _mmdet_reduce(loss.sum(dim=1), inputs, options)


# ---------------------------------------------------------------- distribution_focal_loss (GFL)

def _dfl_sides(label: torch.Tensor):
    dis_left = label.long()  # floor, labels are >= 0
    dis_right = dis_left + 1
    weight_left = dis_right.to(label.dtype) - label
    weight_right = label - dis_left.to(label.dtype)
    return dis_left, dis_right, weight_left, weight_right


def distribution_focal_loss(inputs: Inputs, options: dict) -> torch.Tensor:
    """DFL (GFL, mmdetection): pred [N, n+1], label in [0, n):
    CE(pred, floor(label)) * (floor(label) + 1 - label) + CE(pred, floor(label) + 1) *
    (label - floor(label)) -> [N]; times per-row weight; mean over rows (or avgFactor)."""
    pred, label = inputs["input"], inputs["target"]
    left, right, w_left, w_right = _dfl_sides(label)
    loss = F.cross_entropy(pred, left, reduction="none") * w_left \
        + F.cross_entropy(pred, right, reduction="none") * w_right
    return _mmdet_reduce(loss, inputs, options)


def distribution_focal_loss_stable(inputs: Inputs, options: dict) -> torch.Tensor:
    """Crosscheck: the same with log_softmax_at instead of F.cross_entropy."""
    pred, label = inputs["input"], inputs["target"]
    left, right, w_left, w_right = _dfl_sides(label)
    loss = -(log_softmax_at(pred, left)[0] * w_left + log_softmax_at(pred, right)[0] * w_right)
    return _mmdet_reduce(loss, inputs, options)


# ---------------------------------------------------------------- varifocal_loss

def varifocal_loss(inputs: Inputs, options: dict) -> torch.Tensor:
    """VFL (iou_weighted): BCE(x, t) * focal_weight with
    focal_weight = t where t > 0, alpha * sigmoid(x)^gamma where t <= 0 (targets are >= 0).
    With detachFocalWeight (the brief's definition, as RT-DETR does) sigmoid(x) in the weight
    is a constant for autograd; mmdetection's code does not detach it (detachFocalWeight false).
    Times weight; mean over all elements (or avgFactor)."""
    x, t = inputs["input"], inputs["target"]
    log_sig = F.logsigmoid(x)
    if options["detachFocalWeight"]:
        log_sig = log_sig.detach()
    negative_weight = options["alpha"] * torch.exp(options["gamma"] * log_sig)
    focal_weight = torch.where(t > 0, t, negative_weight)
    loss = bce_with_logits_stable(x, t) * focal_weight
    return _mmdet_reduce(loss, inputs, options)


def varifocal_loss_mmdet(inputs: Inputs, options: dict) -> torch.Tensor:
    """Crosscheck: mmdetection's varifocal_loss (iou_weighted=True), line by line, with the
    optional detach."""
    pred, target = inputs["input"], inputs["target"]
    alpha, gamma = options["alpha"], options["gamma"]
    pred_sigmoid = pred.sigmoid()
    if options["detachFocalWeight"]:
        pred_sigmoid = pred_sigmoid.detach()
    focal_weight = target * (target > 0.0).to(pred.dtype) + \
        alpha * (pred_sigmoid - target).abs().pow(gamma) * (target <= 0.0).to(pred.dtype)
    loss = F.binary_cross_entropy_with_logits(pred, target, reduction="none") * focal_weight
    return _mmdet_reduce(loss, inputs, options)


# ---------------------------------------------------------------- registry

@dataclass(frozen=True)
class Family:
    reference: LossFn
    crosscheck: Optional[Callable[[Inputs, dict], Optional[torch.Tensor]]] = None


FAMILIES: dict[str, Family] = {
    "sigmoid_focal_loss": Family(sigmoid_focal_loss, sigmoid_focal_loss_torchvision),
    "binary_cross_entropy_with_logits": Family(binary_cross_entropy_with_logits,
                                               binary_cross_entropy_with_logits_stable),
    "cross_entropy": Family(cross_entropy, cross_entropy_stable),
    "l1_loss": Family(l1_loss),
    "smooth_l1_loss": Family(smooth_l1_loss),
    "huber_loss": Family(huber_loss),
    "giou_loss": Family(giou_loss),
    "softmax_focal_loss": Family(softmax_focal_loss, softmax_focal_loss_naive),
    "quality_focal_loss": Family(quality_focal_loss, quality_focal_loss_mmdet),
    "distribution_focal_loss": Family(distribution_focal_loss, distribution_focal_loss_stable),
    "varifocal_loss": Family(varifocal_loss, varifocal_loss_mmdet),
}
