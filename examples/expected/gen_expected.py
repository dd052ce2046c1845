#!/usr/bin/python3
"""Writes examples/expected/ex*.txt: what each example program must print,
computed by PyTorch 1.13 running the tutorial's own cells.

Each example prints a title line, then for every gradient a label line
"<d> (autograd):" with print(x.grad), and "<d> (formula <f>):" with the
formula's value (computed in double, stored as float32) printed as PyTorch
prints a tensor. The labels here must match the C programs in examples/.

Run from anywhere:  /usr/bin/python3 examples/expected/gen_expected.py
"""
import io
import math
import os

import numpy as np
import torch
from torch.autograd import Variable

OUT = os.path.dirname(os.path.abspath(__file__))


def report(out, name, grad, formula, value):
    """The four lines the C programs' report() prints for one gradient."""
    print(f"{name} (autograd):", file=out)
    print(grad, file=out)
    print(f"{name} (formula {formula}):", file=out)
    print(torch.tensor([value]), file=out)  # double -> float32, as in C
    assert abs(grad.item() - value) <= 1e-5 * abs(value), (name, grad, value)


def ex1_linear(out):
    x = Variable(torch.Tensor([1]), requires_grad=True)
    w = Variable(torch.Tensor([2]), requires_grad=True)
    b = Variable(torch.Tensor([2]), requires_grad=True)
    y = w * x + b
    y.backward()
    print("y = w*x + b at x = 1, w = 2, b = 2", file=out)
    report(out, "dy/dx", x.grad, "w", w.item())
    report(out, "dy/dw", w.grad, "x", x.item())
    report(out, "dy/db", b.grad, "1", 1.0)
    return [x.grad, w.grad, b.grad]


def ex2_square(out):
    x = Variable(torch.Tensor([2]), requires_grad=True)
    y = x ** 2
    y.backward()
    print("y = x**2 at x = 2", file=out)
    report(out, "dy/dx", x.grad, "2x", 2.0 * x.item())
    return [x.grad]


def ex3_exp(out):
    x = Variable(torch.Tensor([2]), requires_grad=True)
    y = torch.exp(x)
    y.backward()
    print("y = exp(x) at x = 2", file=out)
    report(out, "dy/dx", x.grad, "e^x", math.exp(x.item()))
    return [x.grad]


def ex4_sin(out):
    x = Variable(torch.Tensor([np.pi]), requires_grad=True)
    y = torch.sin(x)
    y.backward()
    print("y = sin(x) at x = pi", file=out)
    report(out, "dy/dx", x.grad, "cos(x)", math.cos(x.item()))
    return [x.grad]


def ex5_poly(out):
    x = Variable(torch.Tensor([0]), requires_grad=True)
    y = (x - 4) * (x ** 2 + 6)
    y.backward()
    xv = x.item()
    print("y = (x - 4) * (x**2 + 6) at x = 0", file=out)
    report(out, "dy/dx", x.grad, "3x^2 - 8x + 6", 3 * xv * xv - 8 * xv + 6)
    return [x.grad]


def ex6_sqrt(out):
    x = Variable(torch.Tensor([2]), requires_grad=True)
    y = (torch.sqrt(x) + 1) ** 3
    y.backward()
    s = math.sqrt(x.item())
    print("y = (sqrt(x) + 1)**3 at x = 2", file=out)
    report(out, "dy/dx", x.grad, "3(sqrt(x) + 1)^2 / (2 sqrt(x))",
           3 * (s + 1) ** 2 / (2 * s))
    return [x.grad]


def ex7_two_vars(out):
    x = Variable(torch.Tensor([1]), requires_grad=True)
    y = Variable(torch.Tensor([2]), requires_grad=True)
    z = (x + 2 * y) ** 2
    z.backward()
    u = x.item() + 2 * y.item()
    print("z = (x + 2*y)**2 at x = 1, y = 2", file=out)
    report(out, "dz/dx", x.grad, "2(x + 2y)", 2 * u)
    report(out, "dz/dy", y.grad, "4(x + 2y)", 4 * u)
    return [x.grad, y.grad]


# What the tutorial's comments and formulas say each print(x.grad) shows.
TUTORIAL = {
    ex1_linear: ["tensor([2.])", "tensor([1.])", "tensor([1.])"],
    ex2_square: ["tensor([4.])"],
    ex3_exp: ["tensor([7.3891])"],
    ex4_sin: ["tensor([-1.])"],
    ex5_poly: ["tensor([6.])"],
    ex6_sqrt: ["tensor([6.1820])"],
    ex7_two_vars: ["tensor([10.])", "tensor([20.])"],
}


def main():
    assert torch.__version__.startswith("1.13"), torch.__version__
    for fn, want in TUTORIAL.items():
        out = io.StringIO()
        grads = fn(out)
        assert [str(g) for g in grads] == want, (fn.__name__, grads, want)
        path = os.path.join(OUT, fn.__name__ + ".txt")
        with open(path, "w", newline="\n") as f:
            f.write(out.getvalue())
        print("wrote", path)


if __name__ == "__main__":
    main()
