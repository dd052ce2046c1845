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


# ---- the loss notebook (examples/ex8_linear_mse.c, ex9_cross_entropy.c) ----
# The tutorial's x and y are random and unprinted, and its printed w and b are
# not the ones its gradients came from (cells ran out of order). So the
# examples use the printed w and b with fixed x and y; the data here must
# match the C programs.
LIN_W = [[0.3974, -0.1892, -0.2784], [0.3327, -0.3742, 0.5401]]
LIN_B = [-0.5308, -0.5098]
LIN_X = [[0.5410, -0.2934, -2.1788], [0.5684, -1.0845, -1.3986], [0.4033, 0.8380, -0.7193],
         [-0.4033, -0.5966, 0.1820], [-0.8567, 1.1006, -1.0712]]
LIN_Y = [[0.1227, -0.5663], [0.3731, -0.8920], [-1.5091, 0.3704], [1.4565, 0.9398],
         [0.7748, 0.1919]]


def ex8_linear_mse(out):
    x = Variable(torch.tensor(LIN_X))
    y = Variable(torch.tensor(LIN_Y))
    linear = torch.nn.Linear(3, 2)
    with torch.no_grad():
        linear.weight.copy_(torch.tensor(LIN_W))
        linear.bias.copy_(torch.tensor(LIN_B))
    print("Linear(3,2) on a (5,3) batch, MSELoss, one SGD step with lr 0.01", file=out)
    print("w:", linear.weight, file=out)
    print("b:", linear.bias, file=out)
    criterion = torch.nn.MSELoss()
    optimizer = torch.optim.SGD(linear.parameters(), lr=0.01)
    pred = linear(x)
    loss = criterion(pred, y)
    print("loss:", loss, file=out)
    loss.backward()
    print("dL/dw:", linear.weight.grad, file=out)
    print("dL/db:", linear.bias.grad, file=out)
    print("*** by hand", file=out)
    hw = linear.weight.sub(0.01 * linear.weight.grad)
    hb = linear.bias.sub(0.01 * linear.bias.grad)
    print(hw, file=out)
    print(hb, file=out)
    optimizer.step()
    print("*** by optimizer.step()", file=out)
    print(linear.weight, file=out)
    print(linear.bias, file=out)
    same = torch.allclose(hw, linear.weight, rtol=1e-6, atol=1e-7) and \
        torch.allclose(hb, linear.bias, rtol=1e-6, atol=1e-7)
    print("by hand == by optimizer.step():", same, file=out)
    assert same


CE_X = [[1.2, -0.3, 0.5, 2.1, -1.0], [0.1, 0.8, -0.7, 0.0, 1.5], [-1.1, 0.4, 0.9, -0.2, 0.3]]
CE_T = [1, 0, 4]
CE_W = [1.0, 2.0, 0.5, 1.0, 1.0]
CE_XK = [[[0.5, -1.0, 2.0, 0.1], [1.5, 0.2, -0.3, 0.0], [-0.5, 0.7, 1.0, -1.2]],
         [[0.0, 0.3, -0.8, 1.1], [-1.4, 0.9, 0.4, 0.6], [0.2, -0.1, 1.3, -0.4]]]
CE_TK = [[0, 2, 1, 1], [2, 1, 0, 2]]


def ex9_cross_entropy(out):
    F = torch.nn.functional
    x = torch.tensor(CE_X, requires_grad=True)
    t = torch.tensor(CE_T)
    w = torch.tensor(CE_W)
    print("CrossEntropyLoss on (3,5) logits, targets [1, 0, 4]", file=out)
    loss = torch.nn.CrossEntropyLoss()(x, t)
    print("loss:", loss, file=out)
    # the tutorial's formula, per sample, in double
    lse = [math.log(sum(math.exp(v) for v in row)) for row in CE_X]
    by_formula = [-CE_X[i][CE_T[i]] + lse[i] for i in range(3)]
    print("loss(x, class) = -x[class] + log(sum_j exp(x[j])), mean:", file=out)
    print(torch.tensor(sum(by_formula) / 3), file=out)
    wl = torch.nn.CrossEntropyLoss(weight=w)(x, t)
    print("with weight", w, file=out)
    print("loss:", wl, file=out)
    num = sum(CE_W[CE_T[i]] * by_formula[i] for i in range(3))
    den = sum(CE_W[CE_T[i]] for i in range(3))
    print("sum_i weight[class_i] loss_i / sum_i weight[class_i]:", file=out)
    print(torch.tensor(num / den), file=out)
    print("per sample (reduction='none'):", file=out)
    print(torch.nn.CrossEntropyLoss(weight=w, reduction="none")(x, t), file=out)
    wl.backward()
    print("dL/dx:", x.grad, file=out)
    print("K-dimensional case: (N,C,d1) = (2,3,4) logits, (2,4) targets", file=out)
    xk = torch.tensor(CE_XK, requires_grad=True)
    tk = torch.tensor(CE_TK)
    print("per position:", torch.nn.CrossEntropyLoss(reduction="none")(xk, tk), file=out)
    lk = torch.nn.CrossEntropyLoss()(xk, tk)
    print("loss:", lk, file=out)
    lk.backward()
    print("dL/dx[0]:", xk.grad[0], file=out)
    for a, b in ((loss.item(), sum(by_formula) / 3), (wl.item(), num / den)):
        assert abs(a - b) <= 1e-6 * abs(b), (a, b)


NN_EXAMPLES = [ex8_linear_mse, ex9_cross_entropy]


def main():
    assert torch.__version__.startswith("1.13"), torch.__version__
    for fn in NN_EXAMPLES:
        out = io.StringIO()
        fn(out)
        path = os.path.join(OUT, fn.__name__ + ".txt")
        with open(path, "w", newline="\n") as f:
            f.write(out.getvalue())
        print("wrote", path)
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
