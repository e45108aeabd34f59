"""Writes test/fixtures/torchvision.json: torchvision.ops.deform_conv2d's outputs and gradients on
small random float64 cases, the reference the tests compare kiln-deform-conv with (an independent
implementation of the same op, with the same offset and mask layouts).

    /usr/bin/python3 tools/torchvision_fixture.py     # Debian's python3-torchvision (torch 1.13, torchvision 0.14)
"""
import json
import pathlib

import torch
from torchvision.ops import deform_conv2d

CASES = [
    # name, (N, C, H, W), (O, kh, kw), stride, padding, dilation, conv groups, offset groups, mask, bias
    ("3x3, padding 1, mask and bias", (2, 3, 5, 4), (2, 3, 3), (1, 1), (1, 1), (1, 1), 1, 1, True, True),
    ("stride 2, dilation 2, no mask", (1, 2, 7, 6), (3, 3, 3), (2, 2), (2, 1), (2, 2), 1, 1, False, True),
    ("groups 2, offset groups 2, 2x3 kernel", (1, 4, 4, 5), (4, 2, 3), (1, 2), (0, 1), (1, 1), 2, 2, True, False),
]


def out_size(size, k, s, p, d):
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


def main():
    torch.manual_seed(0)
    cases = []
    for name, (n, c, h, w), (o, kh, kw), stride, padding, dilation, groups, offset_groups, with_mask, with_bias in CASES:
        oh, ow = out_size(h, kh, stride[0], padding[0], dilation[0]), out_size(w, kw, stride[1], padding[1], dilation[1])
        x = torch.randn(n, c, h, w, dtype=torch.float64, requires_grad=True)
        offset = (torch.rand(n, 2 * offset_groups * kh * kw, oh, ow, dtype=torch.float64) * 4 - 2).requires_grad_()
        weight = torch.randn(o, c // groups, kh, kw, dtype=torch.float64, requires_grad=True)
        mask = torch.rand(n, offset_groups * kh * kw, oh, ow, dtype=torch.float64, requires_grad=True) if with_mask else None
        bias = torch.randn(o, dtype=torch.float64, requires_grad=True) if with_bias else None
        y = deform_conv2d(x, offset, weight, bias, stride=stride, padding=padding, dilation=dilation, mask=mask)
        upstream = torch.randn_like(y)
        y.backward(upstream)
        flat = lambda t: None if t is None else t.detach().reshape(-1).tolist()
        cases.append({
            "name": name, "stride": list(stride), "padding": list(padding), "dilation": list(dilation),
            "input": {"shape": list(x.shape), "data": flat(x)},
            "offset": {"shape": list(offset.shape), "data": flat(offset)},
            "weight": {"shape": list(weight.shape), "data": flat(weight)},
            "mask": None if mask is None else {"shape": list(mask.shape), "data": flat(mask)},
            "bias": flat(bias),
            "output": {"shape": list(y.shape), "data": flat(y)},
            "upstream": flat(upstream),
            "grads": {"input": flat(x.grad), "offset": flat(offset.grad), "weight": flat(weight.grad),
                      "mask": None if mask is None else flat(mask.grad), "bias": None if bias is None else flat(bias.grad)},
        })
    out = pathlib.Path(__file__).resolve().parent.parent / "test" / "fixtures" / "torchvision.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"generator": "tools/torchvision_fixture.py", "torch": torch.__version__, "torchvision": __import__("torchvision").__version__}
    out.write_text(json.dumps({"meta": meta, "cases": cases}) + "\n")
    print(f"wrote {out} ({out.stat().st_size} bytes, {len(cases)} cases)")


if __name__ == "__main__":
    main()
