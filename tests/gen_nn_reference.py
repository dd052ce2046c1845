#!/usr/bin/python3
"""gen_nn_reference.py - writes tests/data/nn_reference.txt: torch.nn.Linear
forward/backward and whole training steps (Linear, ReLU, MSELoss or
CrossEntropyLoss, SGD/Adam/AdamW), computed by PyTorch 1.13, for
tests/test_nn.c.

Run:  /usr/bin/python3 tests/gen_nn_reference.py   (deterministic; commit the output)

FORMAT (line based, '#' comments, values float32 as %.9g):
    nn_reference 1 <number of cases>
  a layer case:
    linear <label>
    layer <in> <out> <bias 0|1>
    weight <values...>              ((out, in) row-major)
    bias <values...>                (if bias)
    input <ndim> <dims...> <values...>
    output <ndim> <dims...> <values...>
    seed <values...>                (the output's gradient)
    grad_input <values...>
    grad_weight <values...>
    grad_bias <values...>           (if bias)
    end
  a training case (model: Linear(in, h) ReLU Linear(h, out), or one Linear if h is 0):
    train <label>
    model <in> <h> <out>
    loss <mse|ce>
    opt <sgd|adam|adamw> <key>=<value> ...
    param <k> <values...>           (initial values of parameter k: w1 b1 [w2 b2])
    x <n> <values...>               ((n, in))
    y <values...>                   ((n, out) for mse; n class indices for ce)
    step <s> loss <value>           (the loss before step s's update, 1-based)
    after <s> <k> <values...>       (parameter k after step s)
    end
"""

import os
import sys

import torch
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "nn_reference.txt")


def fmt(t):
    return " ".join("%.9g" % v for v in t.detach().reshape(-1).tolist())


def shp(t):
    return " ".join([str(t.dim())] + [str(d) for d in t.shape])


def linear_case(blocks, label, i, o, bias, xshape):
    lin = torch.nn.Linear(i, o, bias=bias)
    x = torch.randn(xshape, requires_grad=True)
    y = lin(x)
    seed = torch.randn(y.shape)
    y.backward(seed)
    lines = ["linear " + label, "layer %d %d %d" % (i, o, int(bias)), "weight " + fmt(lin.weight)]
    if bias:
        lines.append("bias " + fmt(lin.bias))
    lines += ["input %s %s" % (shp(x), fmt(x)), "output %s %s" % (shp(y), fmt(y)),
              "seed " + fmt(seed), "grad_input " + fmt(x.grad), "grad_weight " + fmt(lin.weight.grad)]
    if bias:
        lines.append("grad_bias " + fmt(lin.bias.grad))
    lines.append("end")
    blocks.append("\n".join(lines))


def train_case(blocks, label, i, h, o, loss, kind, opts, n=6, steps=4):
    layers = [torch.nn.Linear(i, h), torch.nn.ReLU(), torch.nn.Linear(h, o)] if h else \
        [torch.nn.Linear(i, o)]
    model = torch.nn.Sequential(*layers)
    params = list(model.parameters())
    x = torch.randn(n, i)
    y = torch.randn(n, o) if loss == "mse" else torch.randint(0, o, (n,))
    topts = dict(opts)
    if "beta1" in topts:
        topts["betas"] = (topts.pop("beta1"), topts.pop("beta2"))
    cls = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[kind]
    opt = cls(params, **topts)
    lines = ["train " + label, "model %d %d %d" % (i, h, o), "loss " + loss,
             "opt " + kind + "".join(" %s=%r" % kv for kv in sorted(opts.items()))]
    for k, p in enumerate(params):
        lines.append("param %d %s" % (k, fmt(p)))
    lines.append("x %d %s" % (n, fmt(x)))
    lines.append("y " + (fmt(y) if loss == "mse" else " ".join(str(v) for v in y.tolist())))
    for s in range(1, steps + 1):
        opt.zero_grad()
        out = model(x)
        l = F.mse_loss(out, y) if loss == "mse" else F.cross_entropy(out, y)
        l.backward()
        opt.step()
        lines.append("step %d loss %.9g" % (s, l.item()))
        for k, p in enumerate(params):
            lines.append("after %d %d %s" % (s, k, fmt(p)))
    lines.append("end")
    blocks.append("\n".join(lines))


def main():
    torch.manual_seed(5)
    torch.set_num_threads(1)
    blocks = []
    for i, o, bias, xs in [(3, 2, True, (5, 3)), (3, 2, False, (5, 3)), (4, 3, True, (4,)),
                           (2, 5, True, (2, 3, 2)), (1, 1, True, (1, 1)), (6, 4, True, (0, 6)),
                           (7, 9, True, (13, 7))]:
        linear_case(blocks, "Linear(%d,%d,bias=%s) on %s" % (i, o, bias, xs), i, o, bias, xs)
    train_case(blocks, "the tutorial's step: Linear(3,2), MSELoss, SGD lr 0.01", 3, 0, 2, "mse",
               "sgd", {"lr": 0.01}, n=5, steps=3)
    train_case(blocks, "MLP 4-8-3, CrossEntropyLoss, SGD momentum nesterov", 4, 8, 3, "ce", "sgd",
               {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01})
    train_case(blocks, "MLP 5-6-4, CrossEntropyLoss, Adam", 5, 6, 4, "ce", "adam",
               {"lr": 0.01}, steps=5)
    train_case(blocks, "MLP 3-5-2, MSELoss, AdamW amsgrad", 3, 5, 2, "mse", "adamw",
               {"lr": 0.01, "weight_decay": 0.1, "amsgrad": True}, steps=5)
    text = "".join("# " + l + "\n" if l else "#\n" for l in __doc__.splitlines())
    text += "nn_reference 1 %d\n\n" % len(blocks) + "\n\n".join(blocks) + "\n"
    with open(OUT, "w") as f:
        f.write(text)
    print("%s: %d cases (torch %s)" % (OUT, len(blocks), torch.__version__))


if __name__ == "__main__":
    sys.exit(main())
