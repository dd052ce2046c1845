#!/usr/bin/python3
"""gen_optim_reference.py - writes tests/data/optim_reference.txt: parameter
values after several steps of torch.optim.SGD / Adam / AdamW (PyTorch 1.13)
for every option, read by tests/test_optim.c.

Run:  /usr/bin/python3 tests/gen_optim_reference.py   (deterministic; commit the output)

FORMAT (line based, '#' comments):
    optim_reference 1 <number of cases>
    case <label>
    opt <sgd|adam|adamw> <key>=<value> ...     (lr momentum dampening weight_decay
                                                nesterov maximize beta1 beta2 eps amsgrad)
    param <name> <ndim> <dims...> <values...>  (initial values; one line per parameter)
    grad <step> <name> <values...>             (the grad set before step <step>,
                                                1-based; a parameter with no grad line
                                                for a step before its first has no grad
                                                and is skipped, as PyTorch does)
    after <step> <name> <values...>            (the parameter after that step)
    end
Values are float32 printed with %.9g.
"""

import os
import sys

import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "optim_reference.txt")


def fmt(t):
    return " ".join("%.9g" % v for v in t.detach().reshape(-1).tolist())


def shape(t):
    return " ".join([str(t.dim())] + [str(d) for d in t.shape])


def case(blocks, label, kind, opts, shapes, steps=4, late=None, grads=None):
    """late: name of a parameter that gets its first grad at step 2.
    grads(step, shape): the grad of a parameter at a step (default: randn)."""
    params = {}
    lines = ["case " + label]
    optline = "opt " + kind + "".join(" %s=%s" % (k, int(v) if isinstance(v, bool) else repr(v))
                                      for k, v in sorted(opts.items()))
    lines.append(optline)
    for name, s in shapes:
        p = torch.randn(s).requires_grad_()
        params[name] = p
        lines.append("param %s %s %s" % (name, shape(p), fmt(p)))
    topts = dict(opts)
    if "beta1" in topts:
        topts["betas"] = (topts.pop("beta1"), topts.pop("beta2"))
    cls = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[kind]
    opt = cls(list(params.values()), **topts)
    for step in range(1, steps + 1):
        for name, p in params.items():
            if name == late and step < 2:
                continue
            g = grads(step, p.shape) if grads else torch.randn(p.shape)
            p.grad = g.clone()
            lines.append("grad %d %s %s" % (step, name, fmt(g)))
        opt.step()
        for name, p in params.items():
            lines.append("after %d %s %s" % (step, name, fmt(p)))
    lines.append("end")
    blocks.append("\n".join(lines))


def vanishing(step, shape):
    """A gradient that is large for 3 steps, then about 0 for 5 (1e-4 * randn,
    every other element exactly 0), then large again (larger than before) in
    every third element only. After the drop the second moment v shrinks, so
    amsgrad's running maximum of v is not v; where the gradient returns, the
    maximum grows again. The magnitudes differ by element (a scale from 0.05
    to 3), so a maximum taken over a whole tensor is not the elementwise one."""
    n = 1
    for d in shape:
        n *= d
    scale = torch.tensor([0.05, 3.0, 0.4, 1.0, 0.1, 2.0, 0.7][:n] + [1.0] * max(0, n - 7))
    g = torch.randn(n)
    if step <= 3:
        g = g * scale
    elif step <= 8:
        g = g * 1e-4
        g[::2] = 0.0
    else:
        g = g * scale * 4.0
        keep = torch.zeros(n, dtype=torch.bool)
        keep[::3] = True
        g = torch.where(keep, g, torch.zeros(n))
    return g.reshape(shape)


def main():
    torch.manual_seed(20261127)
    torch.set_num_threads(1)
    blocks = []
    shapes = [("w", (2, 3)), ("b", (2,))]
    # SGD: every option alone and together
    sgd = [
        {"lr": 0.01},
        {"lr": 0.1, "momentum": 0.9},
        {"lr": 0.1, "momentum": 0.9, "dampening": 0.5},
        {"lr": 0.1, "weight_decay": 0.01},
        {"lr": 0.1, "momentum": 0.9, "nesterov": True},
        {"lr": 0.1, "maximize": True},
        {"lr": 0.05, "momentum": 0.8, "dampening": 0.1, "weight_decay": 0.1, "maximize": True},
        {"lr": 0.05, "momentum": 0.5, "weight_decay": 0.2, "nesterov": True, "maximize": True},
    ]
    for o in sgd:
        full = {"lr": 0.0, "momentum": 0.0, "dampening": 0.0, "weight_decay": 0.0,
                "nesterov": False, "maximize": False}
        full.update(o)
        case(blocks, "sgd " + repr(o), "sgd", full, shapes)
    case(blocks, "sgd momentum, b's first grad at step 2", "sgd",
         {"lr": 0.1, "momentum": 0.9, "dampening": 0.0, "weight_decay": 0.0, "nesterov": False,
          "maximize": False}, shapes, late="b")
    # Adam and AdamW
    adam = [
        {},
        {"lr": 0.01},
        {"lr": 0.01, "weight_decay": 0.1},
        {"lr": 0.01, "amsgrad": True},
        {"lr": 0.01, "maximize": True},
        {"lr": 0.02, "beta1": 0.8, "beta2": 0.99, "eps": 1e-6},
        {"lr": 0.01, "weight_decay": 0.05, "amsgrad": True, "maximize": True},
    ]
    for kind, wd in (("adam", 0.0), ("adamw", 0.01)):
        for o in adam:
            full = {"lr": 0.001, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": wd,
                    "amsgrad": False, "maximize": False}
            full.update(o)
            case(blocks, kind + " " + repr(o), kind, full, shapes, steps=5)
        case(blocks, kind + ", b's first grad at step 2", kind,
             {"lr": 0.01, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": wd,
              "amsgrad": False, "maximize": False}, shapes, late="b")
    # amsgrad where it matters: the gradient drops to about 0 after 3 steps, so
    # max(v) is not v (the earlier cases, 5 steps of similar gradients, never
    # shrink v); a small beta2 makes v shrink fast, and the default one with a
    # large lr shows the 0.1% per step it shrinks by. See vanishing().
    amsgrad = [
        {"lr": 0.01, "beta2": 0.9},
        {"lr": 0.1},
        {"lr": 0.01, "beta2": 0.9, "weight_decay": 0.1},
        {"lr": 0.02, "beta1": 0.8, "beta2": 0.95, "weight_decay": 0.05, "maximize": True},
    ]
    for kind, wd in (("adam", 0.0), ("adamw", 0.01)):
        for o in amsgrad:
            full = {"lr": 0.001, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": wd,
                    "amsgrad": True, "maximize": False}
            full.update(o)
            case(blocks, kind + " amsgrad, vanishing gradient " + repr(o), kind, full, shapes,
                 steps=10, grads=vanishing)
    text = "".join("# " + l + "\n" if l else "#\n" for l in __doc__.splitlines())
    text += "optim_reference 1 %d\n\n" % len(blocks) + "\n\n".join(blocks) + "\n"
    with open(OUT, "w") as f:
        f.write(text)
    print("%s: %d cases (torch %s)" % (OUT, len(blocks), torch.__version__))


if __name__ == "__main__":
    sys.exit(main())
