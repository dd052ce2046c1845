"""refgen_ew.py - gen_reference.py's tokens and cases for the elementwise ops,
scans and tape constants of issue #12 point 4 (ops/math.c, ops/arith.c,
ops/act.c, ops/scan.c; the tape constants are in ops/math.c). Its cases come after every other
family's (FAMILIES' last entry), so the random draws of the older cases, and
their values, are unchanged.

Tokens (name:args, see gen_reference.py):
  reciprocal, rsqrt, square, log1p, expm1, erf, sign, floor, ceil, round,
  silu, mish
                    pop a; push torch.<name>(a) (F.silu, F.mish)
  rdiv_scalar:s     pop a; push s / a (Python's scalar / tensor)
  softplus:b:th     pop a; push F.softplus(a, beta=b, threshold=th)
  elu:al            pop a; push F.elu(a, alpha=al)
  hardtanh:lo:hi    pop a; push F.hardtanh(a, lo, hi)
  cumsum:d, cumprod:d
                    pop a; push torch.cumsum(a, d), torch.cumprod(a, d)
  triu:k, tril:k    pop a; push torch.triu(a, k), torch.tril(a, k)
  full:v:dims       push torch.full(dims, v) (dims "2,3"; "" for 0-dim), a
                    constant that does not require grad
  arange:s:e:st     push torch.arange(s, e, st, dtype=torch.float32)
  linspace:s:e:n    push torch.linspace(s, e, n, dtype=torch.float32)
s, b, th, al, lo, hi, v and the arange bounds are float32 values printed with
%.9g (inf, -inf, nan allowed); d, k, n and dims are integers.
"""
import math

import numpy as np
import torch
import torch.nn.functional as F


def _f32(v):
    return float(np.float32(float(v)))


def _unary(fn):
    def op(stack, args):
        assert args == ""
        stack.append(fn(stack.pop()))
    return op


def _rdiv(stack, args):
    stack.append(_f32(args) / stack.pop())


def _softplus(stack, args):
    b, th = args.split(":")
    stack.append(F.softplus(stack.pop(), beta=_f32(b), threshold=_f32(th)))


def _elu(stack, args):
    stack.append(F.elu(stack.pop(), alpha=_f32(args)))


def _hardtanh(stack, args):
    lo, hi = args.split(":")
    stack.append(F.hardtanh(stack.pop(), _f32(lo), _f32(hi)))


def _dim_op(fn):
    def op(stack, args):
        stack.append(fn(stack.pop(), int(args)))
    return op


def _dims(s):
    return [int(d) for d in s.split(",")] if s else []


def _full(stack, args):
    v, dims = args.split(":")
    stack.append(torch.full(_dims(dims), _f32(v), dtype=torch.float32))


def _arange(stack, args):
    s, e, st = args.split(":")
    stack.append(torch.arange(_f32(s), _f32(e), _f32(st), dtype=torch.float32))


def _linspace(stack, args):
    s, e, n = args.split(":")
    stack.append(torch.linspace(_f32(s), _f32(e), int(n), dtype=torch.float32))


OPS = {
    "reciprocal": _unary(torch.reciprocal),
    "rsqrt": _unary(torch.rsqrt),
    "square": _unary(torch.square),
    "log1p": _unary(torch.log1p),
    "expm1": _unary(torch.expm1),
    "erf": _unary(torch.erf),
    "sign": _unary(torch.sign),
    "floor": _unary(torch.floor),
    "ceil": _unary(torch.ceil),
    "round": _unary(torch.round),
    "rdiv_scalar": _rdiv,
    "tril": _dim_op(torch.tril),
    "triu": _dim_op(torch.triu),
    "cumprod": _dim_op(torch.cumprod),
    "cumsum": _dim_op(torch.cumsum),
    "hardtanh": _hardtanh,
    "elu": _elu,
    "softplus": _softplus,
    "mish": _unary(F.mish),
    "silu": _unary(F.silu),
}

# the next groups' tokens, added as their ops land
LATER = {
    "full": _full,
    "arange": _arange,
    "linspace": _linspace,
}

NAN, INF = math.nan, math.inf
SHAPES = [(), (1,), (5,), (2, 3), (2, 1, 3)]
EMPTY = [(0,), (2, 0)]
EDGES = [0.0, -0.0, 1.0, -1.0, 1e-6, -1e-6, 30.0, -30.0, 100.0, -100.0, INF, -INF, NAN]


def _vec(values):
    """values repeated to 64 elements: PyTorch's kernels take their vector loop
    for every element (its scalar loop, for the tail and for tensors under 16
    or 32 elements, differs at NaN for elu and hardtanh, and for softplus
    above exp's 1e38)."""
    return (list(values) * (64 // len(values) + 1))[:64]


def _s(shape):
    return "(" + ",".join(str(d) for d in shape) + ")"


def gen(w, uniform):
    """Adds this family's cases to the writer w (append new groups at the end)."""
    gen_math(w, uniform)
    gen_act(w, uniform)
    gen_scan(w, uniform)


def gen_math(w, uniform):
    ranges = {"reciprocal": (0.2, 3), "rsqrt": (0.05, 4), "square": (-3, 3),
              "log1p": (-0.9, 4), "expm1": (-3, 3), "erf": (-3, 3), "sign": (-3, 3),
              "floor": (-4, 4), "ceil": (-4, 4), "round": (-4, 4)}
    for op, (lo, hi) in ranges.items():
        for s in SHAPES:
            w.case("%s %s" % (op, _s(s)), "x " + op, [("x", uniform(s, lo, hi))])
        for s in EMPTY:
            w.case("%s empty %s" % (op, _s(s)), "x " + op, [("x", np.zeros(s, np.float32))])
        w.case("%s edges" % op, "x " + op, [("x", EDGES)])
        w.case("%s 0-dim NaN" % op, "x " + op, [("x", np.float32(NAN))])
    w.case("reciprocal negatives and zeros", "x reciprocal",
           [("x", [-2.0, -0.5, 0.0, -0.0, 1e-30, -1e-30, 1e30, 3e38])])
    w.case("rsqrt at 0 and below", "x rsqrt", [("x", [0.0, -0.0, -1.0, 1e-30, 1e30, 4.0])])
    w.case("log1p at -1 and below", "x log1p",
           [("x", [-1.0, -2.0, -0.999999, 1e-8, -1e-8, 1e-30, 3e38])])
    w.case("expm1 near 0 and overflow", "x expm1",
           [("x", [1e-8, -1e-8, 1e-30, 88.0, 89.0, -88.0, -104.0])])
    w.case("erf tails", "x erf", [("x", [-4.0, 4.0, -10.0, 10.0, 0.5, -0.5, 1e-20])])
    # round half to even; floor/ceil of halves, of -0 and large values
    halves = [0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 3.5, -3.5, 0.49999997, 1e7 + 1, 8388609.0,
              -0.0, 0.0, 2.0, -2.0]
    for op in ["round", "floor", "ceil", "sign"]:
        w.case("%s ties and halves" % op, "x " + op, [("x", halves)])
    w.case("sign 0-dim zero", "x sign", [("x", np.float32(0.0))])
    # s / x
    for s_ in [2.0, -0.5, 0.0, 7.0]:
        for s in [(), (5,), (2, 3)]:
            w.case("rdiv_scalar %g %s" % (s_, _s(s)), "x rdiv_scalar:%.9g" % _f32(s_),
                   [("x", uniform(s, 0.3, 3))])
    w.case("rdiv_scalar negatives", "x rdiv_scalar:3", [("x", uniform((2, 3), -3, -0.3))])
    w.case("rdiv_scalar edges", "x rdiv_scalar:2", [("x", EDGES)])
    w.case("rdiv_scalar of inf and nan", "x rdiv_scalar:inf", [("x", [1.0, -1.0, 0.0, INF])])
    w.case("rdiv_scalar nan", "x rdiv_scalar:nan", [("x", [1.0, 0.0])])
    w.case("rdiv_scalar empty", "x rdiv_scalar:2", [("x", np.zeros((2, 0), np.float32))])
    # in expressions
    w.case("square(x) + rsqrt(y) * x", "x square y rsqrt x mul add",
           [("x", uniform((2, 3), -2, 2)), ("y", uniform((3,), 0.5, 2))])
    w.case("log1p(expm1(x)) * erf(x)", "x expm1 log1p x erf mul", [("x", uniform((5,), -2, 2))])
    w.case("floor(x) * x + round(x) * sign(x)", "x floor x mul x round x sign mul add",
           [("x", uniform((2, 3), -3, 3))])
    w.case("1 / x + reciprocal(x)", "x rdiv_scalar:1 x reciprocal add", [("x", uniform((4,), 0.5, 2))])


def gen_act(w, uniform):
    for op, (lo, hi) in {"silu": (-6, 6), "mish": (-6, 6)}.items():
        for s in SHAPES:
            w.case("%s %s" % (op, _s(s)), "x " + op, [("x", uniform(s, lo, hi))])
        w.case("%s empty" % op, "x " + op, [("x", np.zeros((2, 0), np.float32))])
        w.case("%s edges" % op, "x " + op, [("x", _vec(EDGES))])
        w.case("%s tails" % op, "x " + op,
               [("x", _vec([-20.0, 20.0, -88.0, -89.0, 88.0, 89.0, -104.0, 1e30, -1e30]))])
    for beta, th in [(1.0, 20.0), (2.0, 10.0), (0.5, 5.0), (1.0, 1.0), (-1.0, 20.0), (3.0, -1.0)]:
        tok = "x softplus:%.9g:%.9g" % (_f32(beta), _f32(th))
        for s in [(), (5,), (2, 3)]:
            w.case("softplus %g %g %s" % (beta, th, _s(s)), tok, [("x", uniform(s, -6, 6))])
        # exactly at, just below and above the threshold; large logits
        at = th / beta
        w.case("softplus %g %g at the threshold" % (beta, th), tok,
               [("x", _vec([at, _f32(at) - 1e-3, _f32(at) + 1e-3, 25.0, 100.0, -100.0, 0.0, INF,
                            -INF, NAN]))])
    w.case("softplus large logits", "x softplus:1:20",
           [("x", _vec([19.0, 20.0, 20.5, 21.0, 30.0, 88.0, 1e4, -20.0, -88.0, -104.0]))])
    w.case("softplus threshold above exp's range", "x softplus:1:100",
           [("x", _vec([80.0, 87.0, 88.0, 89.0, 95.0, 101.0]))])
    w.case("softplus empty", "x softplus:1:20", [("x", np.zeros((0,), np.float32))])
    for alpha in [1.0, 0.5, 2.0, 0.0]:
        tok = "x elu:%.9g" % _f32(alpha)
        for s in [(), (5,), (2, 3)]:
            w.case("elu %g %s" % (alpha, _s(s)), tok, [("x", uniform(s, -4, 4))])
        w.case("elu %g edges" % alpha, tok, [("x", _vec(EDGES + [-1e-7, -1e-3, -20.0, -90.0]))])
    w.case("elu empty", "x elu:1", [("x", np.zeros((2, 0), np.float32))])
    for lo, hi in [(-1.0, 1.0), (-0.5, 2.0), (0.0, 6.0), (1.0, -1.0)]:
        tok = "x hardtanh:%.9g:%.9g" % (_f32(lo), _f32(hi))
        for s in [(), (5,), (2, 3)]:
            w.case("hardtanh %g %g %s" % (lo, hi, _s(s)), tok, [("x", uniform(s, -3, 3))])
        # the gradient is 0 exactly at the bounds, g at NaN
        w.case("hardtanh %g %g at the bounds" % (lo, hi), tok,
               [("x", _vec([lo, hi, _f32(lo) - 1e-6, _f32(lo) + 1e-6, _f32(hi) - 1e-6,
                            _f32(hi) + 1e-6, 0.5 * (lo + hi), INF, -INF, NAN]))])
    w.case("hardtanh empty", "x hardtanh:-1:1", [("x", np.zeros((0,), np.float32))])
    w.case("silu(x) * mish(y) + softplus(x)", "x silu y mish mul x softplus:1:20 add",
           [("x", uniform((2, 3), -3, 3)), ("y", uniform((3,), -3, 3))])
    w.case("elu(hardtanh(x)) * x", "x hardtanh:-1:1 elu:1 x mul", [("x", uniform((6,), -2, 2))])


def gen_scan(w, uniform):
    for op, (lo, hi) in {"cumsum": (-3, 3), "cumprod": (-1.5, 1.5)}.items():
        for s in [(), (1,), (5,), (2, 3), (2, 1, 3), (3, 4)]:
            nd = max(len(s), 1)
            for d in range(-nd, nd):
                w.case("%s %s dim %d" % (op, _s(s), d), "x %s:%d" % (op, d),
                       [("x", uniform(s, lo, hi))])
        w.case("%s empty" % op, "x %s:1" % op, [("x", np.zeros((2, 0), np.float32))])
        w.case("%s empty along dim" % op, "x %s:0" % op, [("x", np.zeros((0, 3), np.float32))])
        w.case("%s edges" % op, "x %s:0" % op, [("x", [1.0, INF, 2.0, -INF, NAN, 3.0])])
        w.error_case("%s dim out of range" % op, "x %s:2" % op, [("x", uniform((2, 3), -1, 1))])
        w.error_case("%s dim out of range 0-dim" % op, "x %s:1" % op, [("x", np.float32(1.0))])
    # cumprod with zeros: one, two in a row, two apart, at the start, at the end, all
    for label, v in [("one zero", [2.0, 0.0, 3.0, 0.5, 4.0]),
                     ("two zeros in a row", [2.0, 0.0, 0.0, 3.0, 0.5]),
                     ("two zeros apart", [1.5, 0.0, 3.0, 0.0, 2.0, -1.0]),
                     ("zero first", [0.0, 2.0, 3.0, -0.5]),
                     ("zero last", [2.0, 3.0, -0.5, 0.0]),
                     ("all zeros", [0.0, 0.0, 0.0]),
                     ("-0", [2.0, -0.0, 3.0])]:
        w.case("cumprod %s" % label, "x cumprod:0", [("x", v)])
    w.case("cumprod zeros in some rows (3,4) dim 1", "x cumprod:1",
           [("x", [[1.0, 2.0, 0.0, 3.0], [0.5, 1.5, 2.0, -1.0], [0.0, 0.0, 2.0, 1.0]])])
    w.case("cumprod zeros (3,4) dim 0", "x cumprod:0",
           [("x", [[1.0, 0.0, 2.0, 3.0], [0.0, 1.5, 2.0, -1.0], [2.0, 0.5, 0.0, 1.0]])])
    w.case("cumprod zero with nan", "x cumprod:0", [("x", [2.0, 0.0, NAN, 3.0])])
    for op in ["triu", "tril"]:
        for s in [(1, 1), (3, 4), (4, 3), (2, 3, 3), (2, 1, 2, 3)]:
            for k in [-4, -1, 0, 1, 2, 5]:
                w.case("%s %s diagonal %d" % (op, _s(s), k), "x %s:%d" % (op, k),
                       [("x", uniform(s, -3, 3))])
        w.case("%s empty" % op, "x %s:0" % op, [("x", np.zeros((2, 0, 3), np.float32))])
        w.case("%s nan" % op, "x %s:0" % op, [("x", [[NAN, 1.0], [NAN, INF]])])
        w.error_case("%s 1-D" % op, "x %s:0" % op, [("x", uniform((3,), -1, 1))])
        w.error_case("%s 0-dim" % op, "x %s:0" % op, [("x", np.float32(1.0))])
    w.case("cumsum(triu(x)) * cumprod(x)", "x triu:0 cumsum:1 x cumprod:0 mul",
           [("x", uniform((3, 3), -1.5, 1.5))])
