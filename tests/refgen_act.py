"""refgen_act.py - gen_reference.py's tokens and cases for the elementwise math
and activation ops (ops/math.c, ops/act.c, and div in ops/arith.c).

Tokens (name:args, see gen_reference.py):
  div, pow_tensor, maximum, minimum
      pop b, then a; push a / b, torch.pow(a, b), torch.maximum(a, b),
      torch.minimum(a, b) (broadcasting)
  log, cos, tan, abs, tanh, sigmoid, relu
      pop a; push torch.<name>(a)
  div_scalar:s      pop a; push a / s
  leaky_relu:s      pop a; push F.leaky_relu(a, negative_slope=s)
  gelu:none, gelu:tanh
                    pop a; push F.gelu(a, approximate='none' / 'tanh')
  clamp:lo:hi       pop a; push torch.clamp(a, lo, hi); lo may be -inf and hi
                    inf (no bound; torch.clamp(a, min=None) is the same)
s, lo and hi are float32 values printed with %.9g (inf, -inf, nan allowed).
"""
import math

import numpy as np
import torch
import torch.nn.functional as F


def _f32(v):
    return float(np.float32(float(v)))


def _binary(fn):
    def op(stack, args):
        assert args == ""
        b = stack.pop()
        a = stack.pop()
        stack.append(fn(a, b))
    return op


def _unary(fn):
    def op(stack, args):
        assert args == ""
        stack.append(fn(stack.pop()))
    return op


def _div_scalar(stack, args):
    stack.append(stack.pop() / _f32(args))


def _leaky_relu(stack, args):
    stack.append(F.leaky_relu(stack.pop(), negative_slope=_f32(args)))


def _gelu(stack, args):
    assert args in ("none", "tanh"), args
    stack.append(F.gelu(stack.pop(), approximate=args))


def _clamp(stack, args):
    lo, hi = args.split(":")
    stack.append(torch.clamp(stack.pop(), _f32(lo), _f32(hi)))


OPS = {
    "div": _binary(torch.div),
    "pow_tensor": _binary(torch.pow),
    "maximum": _binary(torch.maximum),
    "minimum": _binary(torch.minimum),
    "log": _unary(torch.log),
    "cos": _unary(torch.cos),
    "tan": _unary(torch.tan),
    "abs": _unary(torch.abs),
    "tanh": _unary(torch.tanh),
    "sigmoid": _unary(torch.sigmoid),
    "relu": _unary(torch.relu),
    "div_scalar": _div_scalar,
    "leaky_relu": _leaky_relu,
    "gelu": _gelu,
    "clamp": _clamp,
}

NAN, INF = math.nan, math.inf

SHAPES = [(), (1,), (5,), (2, 3), (2, 1, 3)]
EMPTY = [(0,), (2, 0)]
PAIRS = [
    ((5,), (5,)), ((2, 3), (2, 3)), ((), (2, 3)), ((2, 3), ()), ((), ()),
    ((3, 1), (1, 4)), ((2, 3, 4), (4,)), ((4,), (2, 1, 4)), ((2, 3), (2, 1)),
    ((1, 1), (2, 3, 2)),
]
BAD_PAIRS = [((2, 3), (4,)), ((3,), (2,)), ((2, 3), (3, 2)), ((2, 2, 3), (4, 1))]

# the values every unary op meets: zeros of both signs, +-1, infinities, NaN
EDGES = [0.0, -0.0, 1.0, -1.0, 1e-6, -1e-6, 30.0, -30.0, 100.0, -100.0, INF, -INF, NAN]


def _s(shape):
    return "(" + ",".join(str(d) for d in shape) + ")"


def gen(w, uniform):
    """Adds this family's cases to the writer w."""
    gen_unary(w, uniform)
    gen_param(w, uniform)
    gen_clamp(w, uniform)
    gen_binary(w, uniform)
    gen_composite(w, uniform)


def gen_unary(w, uniform):
    ranges = {"log": (0.05, 5), "cos": (-7, 7), "tan": (-1.4, 1.4), "abs": (-3, 3),
              "tanh": (-4, 4), "sigmoid": (-8, 8), "relu": (-3, 3)}
    for op, (lo, hi) in ranges.items():
        for s in SHAPES:
            w.case("%s %s" % (op, _s(s)), "x " + op, [("x", uniform(s, lo, hi))])
        for s in EMPTY:
            w.case("%s empty %s" % (op, _s(s)), "x " + op, [("x", np.zeros(s, np.float32))])
        w.case("%s edges" % op, "x " + op, [("x", EDGES)])
        w.case("%s 0-dim NaN" % op, "x " + op, [("x", np.float32(NAN))])
    # log: -inf at 0 with an infinite gradient, NaN below 0 with a finite one
    w.case("log at 0 and below", "x log",
           [("x", [0.0, -0.0, -1.0, -1e-30, 1e-30, 1e30, 3e38, 1.0, INF, -INF, NAN])])
    w.case("log 0-dim zero", "x log", [("x", np.float32(0.0))])
    w.case("log 0-dim negative", "x log", [("x", np.float32(-2.0))])
    # relu and abs at their kink: gradient 0 at 0 and -0
    w.case("relu kink", "x relu", [("x", [0.0, -0.0, 1e-30, -1e-30, 2.0, -2.0])])
    w.case("abs kink", "x abs", [("x", [0.0, -0.0, 1e-30, -1e-30, 2.0, -2.0])])
    w.case("relu 0-dim zero", "x relu", [("x", np.float32(0.0))])
    w.case("abs 0-dim zero", "x abs", [("x", np.float32(0.0))])
    # tan near its poles, cos and tan of large arguments
    w.case("tan near pi/2", "x tan",
           [("x", [_f32(math.pi / 2), -_f32(math.pi / 2), 1.5, -1.5, 1.57, 4.0, 10.0, 1e4])])
    w.case("cos of large arguments", "x cos", [("x", [_f32(math.pi), 10.0, -25.5, 1e3, 1e5])])
    # sigmoid and tanh saturate: gradients underflow to 0
    w.case("sigmoid saturation", "x sigmoid",
           [("x", [-88.0, -87.0, -20.0, -16.0, 16.0, 17.0, 20.0, 88.0, 89.0, 104.0, -104.0])])
    w.case("tanh saturation", "x tanh", [("x", [-10.0, -9.0, -5.0, 5.0, 9.0, 10.0, 20.0])])


def gen_param(w, uniform):
    for s_ in [3.0, -0.5, 0.1, 7.0, 1e-3]:
        for s in [(), (5,), (2, 3)]:
            w.case("div_scalar %g %s" % (s_, _s(s)), "x div_scalar:%.9g" % _f32(s_),
                   [("x", uniform(s, -3, 3))])
    # by zero, by infinities, of edge values
    w.case("div_scalar by 0", "x div_scalar:0", [("x", [1.0, -1.0, 0.0, -0.0, INF, NAN])])
    w.case("div_scalar by -0", "x div_scalar:-0", [("x", [1.0, -1.0, 0.0, INF])])
    w.case("div_scalar by inf", "x div_scalar:inf", [("x", [1.0, -1.0, 0.0, INF, NAN])])
    w.case("div_scalar by nan", "x div_scalar:nan", [("x", [1.0, 0.0])])
    w.case("div_scalar edges", "x div_scalar:2", [("x", EDGES)])
    w.case("div_scalar empty", "x div_scalar:2", [("x", np.zeros((0,), np.float32))])

    for slope in [0.01, 0.2, -0.5, 0.0, 1.0, 2.0]:
        for s in [(), (5,), (2, 3)]:
            w.case("leaky_relu %g %s" % (slope, _s(s)), "x leaky_relu:%.9g" % _f32(slope),
                   [("x", uniform(s, -3, 3))])
        # at 0 (and -0, NaN) the gradient is the slope
        w.case("leaky_relu %g kink" % slope, "x leaky_relu:%.9g" % _f32(slope),
               [("x", [0.0, -0.0, 1e-30, -1e-30, INF, -INF, NAN])])
    w.case("leaky_relu 0-dim zero", "x leaky_relu:0.01", [("x", np.float32(0.0))])
    w.case("leaky_relu empty", "x leaky_relu:0.01", [("x", np.zeros((2, 0), np.float32))])

    for mode in ["none", "tanh"]:
        tok = "x gelu:" + mode
        for s in SHAPES:
            w.case("gelu %s %s" % (mode, _s(s)), tok, [("x", uniform(s, -4, 4))])
        w.case("gelu %s edges" % mode, tok, [("x", EDGES)])
        # far tails: the erf form underflows, the tanh form's x**3 overflows
        w.case("gelu %s tails" % mode, tok,
               [("x", [-5.0, 5.0, -8.0, 8.0, -10.0, 10.0, -14.0, 14.0, -20.0, 1e13, -1e13,
                       1e19, 1e20, -1e20, 3e38])])
        w.case("gelu %s empty" % mode, tok, [("x", np.zeros((0,), np.float32))])
        w.case("gelu %s 0-dim" % mode, tok, [("x", np.float32(0.7))])


def gen_clamp(w, uniform):
    for lo, hi in [(-1.0, 1.0), (-0.5, 2.0), (0.25, 0.75)]:
        tok = "x clamp:%.9g:%.9g" % (_f32(lo), _f32(hi))
        for s in SHAPES:
            w.case("clamp %g %g %s" % (lo, hi, _s(s)), tok, [("x", uniform(s, -3, 3))])
        # exactly at the bounds the gradient passes; NaN gives NaN and 0
        w.case("clamp %g %g at the bounds" % (lo, hi), tok,
               [("x", [lo, hi, _f32(lo) - 1e-6, _f32(hi) + 1e-6, 0.5 * (lo + hi), INF, -INF,
                       NAN])])
    # one bound (the other None), none
    w.case("clamp min only", "x clamp:-1:inf", [("x", [-2.0, -1.0, 0.0, 5.0, INF, -INF, NAN])])
    w.case("clamp max only", "x clamp:-inf:1", [("x", [-2.0, 1.0, 0.0, 5.0, INF, -INF, NAN])])
    w.case("clamp no bounds", "x clamp:-inf:inf", [("x", [-2.0, 0.0, INF, -INF, NAN])])
    w.case("clamp min only (2,3)", "x clamp:0.5:inf", [("x", uniform((2, 3), -2, 2))])
    w.case("clamp max only (2,3)", "x clamp:-inf:0.5", [("x", uniform((2, 3), -2, 2))])
    # min > max: max everywhere, gradient 0; min == max
    w.case("clamp min > max", "x clamp:1:-1", [("x", [-2.0, -1.0, 0.0, 1.0, 2.0, NAN])])
    w.case("clamp min == max", "x clamp:0.5:0.5", [("x", [-2.0, 0.5, 2.0])])
    # a NaN bound makes every element NaN
    w.case("clamp NaN min", "x clamp:nan:1", [("x", [-2.0, 0.0, 2.0])])
    w.case("clamp NaN max", "x clamp:-1:nan", [("x", [-2.0, 0.0, 2.0])])
    w.case("clamp 0-dim at a bound", "x clamp:0:1", [("x", np.float32(1.0))])
    w.case("clamp empty", "x clamp:0:1", [("x", np.zeros((2, 0), np.float32))])


def gen_binary(w, uniform):
    ranges = {
        "div": ((-3, 3), (0.5, 3)),
        "pow_tensor": ((0.25, 3), (-2.5, 2.5)),
        "maximum": ((-3, 3), (-3, 3)),
        "minimum": ((-3, 3), (-3, 3)),
    }
    for op, ((la, ha), (lb, hb)) in ranges.items():
        for sa, sb in PAIRS:
            w.case("%s %s & %s" % (op, _s(sa), _s(sb)), "a b " + op,
                   [("a", uniform(sa, la, ha)), ("b", uniform(sb, lb, hb))])
        w.case("%s x with itself" % op, "x x " + op, [("x", uniform((2, 3), la, ha))])
        w.case("%s empty" % op, "a b " + op,
               [("a", np.zeros((2, 0), np.float32)), ("b", np.ones((1, 0), np.float32))])
        w.case("%s empty with 0-dim" % op, "a b " + op,
               [("a", np.float32(1.5)), ("b", np.ones((0, 3), np.float32))])
        for sa, sb in BAD_PAIRS:
            w.error_case("%s %s & %s" % (op, _s(sa), _s(sb)), "a b " + op,
                         [("a", uniform(sa, la, ha)), ("b", uniform(sb, lb, hb))])
    # div: negative denominators, zeros, infinities, NaN
    w.case("div negative denominators", "a b div",
           [("a", uniform((2, 3), -3, 3)), ("b", uniform((2, 3), -3, -0.5))])
    w.case("div edges", "a b div",
           [("a", [1.0, -1.0, 0.0, 0.0, -0.0, INF, INF, 1.0, NAN, 2.0, 1e30, 1e-30]),
            ("b", [0.0, 0.0, 0.0, -0.0, 1.0, 2.0, INF, -INF, 1.0, NAN, 1e-30, 1e30])])
    w.case("div 0-dim by zero", "a b div", [("a", np.float32(3.0)), ("b", np.float32(0.0))])
    # pow: the special cases of pow_backward_self / pow_backward_exponent
    w.case("pow_tensor edges", "a b pow_tensor",
           [("a", [0.0, 0.0, 0.0, -0.0, 0.0, 2.0, -2.0, -2.0, 0.0, 1.0, -1.0, INF, 2.0, NAN,
                   -8.0, 0.5, 3.0, 0.0]),
            ("b", [0.0, 1.0, -1.0, -1.0, 0.5, 0.0, 0.5, 2.0, 2.5, NAN, 3.0, 2.0, INF, 0.0,
                   _f32(1.0 / 3.0), -INF, -0.0, -0.5])])
    w.case("pow_tensor negative bases, integer exponents", "a b pow_tensor",
           [("a", uniform((2, 3), -3, -0.25)), ("b", [[2.0, 3.0, -1.0], [-2.0, 4.0, 1.0]])])
    w.case("pow_tensor 0-dim base", "a b pow_tensor",
           [("a", np.float32(1.7)), ("b", uniform((4,), -2, 2))])
    w.case("pow_tensor 0-dim exponent 0", "a b pow_tensor",
           [("a", uniform((4,), -2, 2)), ("b", np.float32(0.0))])
    w.case("pow_tensor zero base, broadcast", "a b pow_tensor",
           [("a", [[0.0], [2.0]]), ("b", [-1.0, 0.0, 0.5, 2.0])])
    # maximum / minimum: ties split the gradient, also when broadcast; NaN wins
    for op in ["maximum", "minimum"]:
        w.case("%s ties" % op, "a b " + op,
               [("a", [1.0, 2.0, -1.0, 0.0, -0.0, INF, -INF, 3.0]),
                ("b", [1.0, 1.0, 2.0, -0.0, 0.0, INF, -INF, 3.0])])
        w.case("%s NaN" % op, "a b " + op,
               [("a", [NAN, 1.0, NAN, INF, -INF]), ("b", [1.0, NAN, NAN, NAN, NAN])])
        w.case("%s broadcast ties" % op, "a b " + op,
               [("a", np.float32(1.0)), ("b", [[1.0, 0.0, 1.0], [2.0, 1.0, 1.0]])])
        w.case("%s grid ties (3,1) & (1,4)" % op, "a b " + op,
               [("a", [[0.0], [0.5], [1.0]]), ("b", [[0.0, 0.5, 1.0, 1.5]])])
        w.case("%s 0-dim tie" % op, "a b " + op, [("a", np.float32(2.0)), ("b", np.float32(2.0))])


def gen_composite(w, uniform):
    for s in [(), (5,), (2, 3)]:
        # x used three times
        w.case("sigmoid(x)*tanh(x)+x %s" % _s(s), "x sigmoid x tanh mul x add",
               [("x", uniform(s, -3, 3))])
        w.case("log(abs(x)+1)*cos(x) %s" % _s(s), "x abs add_scalar:1 log x cos mul",
               [("x", uniform(s, -3, 3))])
        w.case("relu(x)-leaky_relu(x)+gelu(x) %s" % _s(s),
               "x relu x leaky_relu:0.1 sub x gelu:none add x gelu:tanh mul",
               [("x", uniform(s, -3, 3))])
    w.case("clamp(x)*x/(1+x*x)", "x clamp:-0.5:0.5 x mul x x mul add_scalar:1 div",
           [("x", uniform((2, 3), -2, 2))])
    w.case("maximum(x, y) - minimum(x, y) = |x - y|", "x y maximum x y minimum sub",
           [("x", uniform((2, 3), -2, 2)), ("y", uniform((3,), -2, 2))])
    w.case("maximum(x, y) with ties, reused", "x y maximum dup mul x add",
           [("x", [1.0, 2.0, 3.0]), ("y", [1.0, 3.0, 2.0])])
    w.case("x ** y * log(x) / y", "x y pow_tensor x log mul y div",
           [("x", uniform((3, 1), 0.5, 2)), ("y", uniform((1, 4), 0.5, 2))])
    w.case("softplus-like log(1+exp(x))", "x exp add_scalar:1 log", [("x", uniform((5,), -4, 4))])
    w.case("tanh(tan(x)) / 3 + sigmoid(-x)", "x tan tanh div_scalar:3 x neg sigmoid add",
           [("x", uniform((4,), -1.2, 1.2))])
    w.case("u = tanh(x); u*u + relu(u)", "x tanh dup dup mul swap relu add",
           [("x", uniform((2, 3), -2, 2))])
