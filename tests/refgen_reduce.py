"""refgen_reduce.py - gen_reference.py's tokens and cases for the reduce op family.

Tokens (name:args, see gen_reference.py). DIMS is a comma-separated list of
dims (negative ones wrap), or empty for every dim; K is keepdim, 0 or 1.
  sum:DIMS:K        pops x; pushes torch.sum(x, DIMS, keepdim=K)
  mean:DIMS:K       torch.mean(x, DIMS, keepdim=K)
  amax:DIMS:K       torch.amax(x, DIMS, keepdim=K)
  amin:DIMS:K       torch.amin(x, DIMS, keepdim=K)
  logsumexp:DIMS:K  torch.logsumexp(x, DIMS, keepdim=K)
  var:DIMS:C:K      torch.var(x, DIMS, correction=C, keepdim=K)
  std:DIMS:C:K      torch.std(x, DIMS, correction=C, keepdim=K)
  max:D:K           torch.max(x, D, keepdim=K).values
  min:D:K           torch.min(x, D, keepdim=K).values
  max_all           torch.max(x)
  min_all           torch.min(x)
  softmax:D         torch.softmax(x, D)
  log_softmax:D     torch.log_softmax(x, D)
An empty DIMS is passed to PyTorch as every dim listed (for var and std on a
0-dim input: dim=None), which reduces the same elements as torch.sum(x).
"""

import math

import numpy as np
import torch


def _ints(s):
    return [int(v) for v in s.split(",")] if s else []


def _dims(x, s):
    d = _ints(s)
    return tuple(d) if d else tuple(range(x.dim()))


def _dims_reduce(fn):
    def op(stack, args):
        dims, k = args.split(":")
        x = stack.pop()
        stack.append(fn(x, _dims(x, dims), k == "1"))
    return op


def _var_like(fn):
    def op(stack, args):
        dims, c, k = args.split(":")
        x = stack.pop()
        d = _dims(x, dims) if (dims or x.dim() > 0) else None
        stack.append(fn(x, d, correction=int(c), keepdim=k == "1"))
    return op


def _extreme_dim(fn):
    def op(stack, args):
        d, k = args.split(":")
        stack.append(fn(stack.pop(), int(d), keepdim=k == "1").values)
    return op


def _softmax_like(fn):
    def op(stack, args):
        stack.append(fn(stack.pop(), int(args)))
    return op


def _all(fn):
    def op(stack, args):
        assert args == ""
        stack.append(fn(stack.pop()))
    return op


OPS = {
    "sum": _dims_reduce(lambda x, d, k: torch.sum(x, d, keepdim=k)),
    "mean": _dims_reduce(lambda x, d, k: torch.mean(x, d, keepdim=k)),
    "amax": _dims_reduce(lambda x, d, k: torch.amax(x, d, keepdim=k)),
    "amin": _dims_reduce(lambda x, d, k: torch.amin(x, d, keepdim=k)),
    "logsumexp": _dims_reduce(lambda x, d, k: torch.logsumexp(x, d, keepdim=k)),
    "var": _var_like(torch.var),
    "std": _var_like(torch.std),
    "max": _extreme_dim(torch.max),
    "min": _extreme_dim(torch.min),
    "max_all": _all(torch.max),
    "min_all": _all(torch.min),
    "softmax": _softmax_like(torch.softmax),
    "log_softmax": _softmax_like(torch.log_softmax),
}

INF, NAN = math.inf, math.nan

# (shape, dims lists) the dims-list ops run over; each list with keepdim 0 and 1
DIMS_CASES = [
    ((), ["", "0", "-1"]),
    ((5,), ["", "0", "-1"]),
    ((2, 3), ["", "0", "1", "-1", "0,1", "-1,0"]),
    ((2, 1, 3), ["1", "0,2", "-2"]),
    ((2, 3, 4), ["", "0", "1", "2", "-1", "0,2", "2,0", "1,2", "-3,-2"]),
    ((2, 3, 2, 2), ["0,2", "1,3", "-1,-3,0", "3"]),
    ((64, 16), ["0", "1"]),                 # outer and inner runs, long
    ((4, 8, 32), ["0,2", "1"]),
]


def _label(op, shape, args):
    return "%s %s %s" % (op, "(" + ",".join(str(d) for d in shape) + ")", args)


def _ties(shape):
    """Small integers, so maxima repeat."""
    return torch.randint(0, 3, shape).float().numpy()


def _distinct(shape):
    n = int(np.prod(shape)) if shape else 1
    return (torch.randperm(n).float().reshape(shape) * 0.25 - 0.1 * n).numpy()


def gen_dims_ops(w, uniform):
    for op in ["sum", "mean", "amax", "amin", "logsumexp"]:
        for shape, lists in DIMS_CASES:
            for dims in lists:
                for k in ("0", "1"):
                    src = _distinct(shape) if op in ("amax", "amin") else uniform(shape, -3, 3)
                    w.case(_label(op, shape, dims + ":" + k), "x %s:%s:%s" % (op, dims, k),
                           [("x", src)])
    for op in ["var", "std"]:
        for shape, lists in DIMS_CASES:
            for dims in lists:
                for k in ("0", "1"):
                    for c in ("0", "1"):
                        if shape == () and c == "1":
                            # N - c = 0 over every dim (dim=None) makes PyTorch
                            # 1.13's VarBackward0 return a gradient of the wrong
                            # shape (an error); the C side gives what the dims
                            # form gives, checked in gen_var_edges
                            continue
                        w.case(_label(op, shape, "%s:%s:%s" % (dims, c, k)),
                               "x %s:%s:%s:%s" % (op, dims, c, k),
                               [("x", uniform(shape, -3, 3))])
    # empty tensors: empty sums are 0, empty means and variances NaN,
    # empty logsumexps -inf; reducing a non-empty dim of an empty tensor
    for shape, dims in [((3, 0), "1"), ((3, 0), "0"), ((0, 3), "0"), ((0,), ""), ((2, 0, 3), "1,2")]:
        for op in ["sum", "mean", "logsumexp"]:
            w.case(_label(op, shape, dims + ":0"), "x %s:%s:0" % (op, dims),
                   [("x", np.zeros(shape, np.float32))])
        w.case(_label("var", shape, dims + ":1:0"), "x var:%s:1:0" % dims,
               [("x", np.zeros(shape, np.float32))])
    for shape, dims in [((3, 0), "0"), ((0, 3), "1")]:
        for op in ["amax", "amin"]:
            w.case(_label(op, shape, dims + ":1"), "x %s:%s:1" % (op, dims),
                   [("x", np.zeros(shape, np.float32))])


def gen_extreme(w, uniform):
    for op in ["max", "min"]:
        for shape, dims in [((), [0, -1]), ((5,), [0, -1]), ((2, 3), [0, 1, -1, -2]),
                            ((2, 3, 4), [0, 1, 2, -1]), ((3, 1, 2), [1]), ((64, 16), [0, 1])]:
            for d in dims:
                for k in ("0", "1"):
                    w.case(_label(op, shape, "%d:%s" % (d, k)), "x %s:%d:%s" % (op, d, k),
                           [("x", _distinct(shape))])
        # ties: the gradient goes to the index PyTorch returns (the first)
        for shape, d in [((4, 6), 1), ((4, 6), 0), ((3, 5, 4), 1), ((3, 5, 4), -1), ((30, 33), 0)]:
            w.case(_label(op, shape, "%d ties" % d), "x %s:%d:0" % (op, d), [("x", _ties(shape))])
        w.case("%s NaN first wins" % op, "x %s:1:0" % op,
               [("x", [[1.0, NAN, 3.0, NAN], [5.0, 5.0, 5.0, 0.0], [-INF, -INF, -INF, -INF],
                       [INF, 2.0, INF, NAN]])])
        w.case("%s NaN along dim 0" % op, "x %s:0:1" % op,
               [("x", [[1.0, NAN, 3.0], [NAN, 2.0, 7.0], [NAN, NAN, -1.0]])])
        w.case("%s empty output (0,3) dim 1" % op, "x %s:1:0" % op,
               [("x", np.zeros((0, 3), np.float32))])
    for op in ["max_all", "min_all"]:
        for shape in [(), (1,), (5,), (2, 3), (2, 3, 4)]:
            w.case(_label(op, shape, "distinct"), "x " + op, [("x", _distinct(shape))])
        # ties share the gradient evenly
        for shape in [(6,), (3, 4), (2, 3, 4)]:
            w.case(_label(op, shape, "ties"), "x " + op, [("x", _ties(shape))])
        w.case(op + " all equal", "x " + op, [("x", np.full((2, 3), 1.5, np.float32))])
        w.case(op + " NaN shares among NaNs", "x " + op, [("x", [1.0, NAN, 7.0, NAN, -2.0])])
        w.case(op + " infinities", "x " + op, [("x", [INF, -INF, 1.0, INF, -INF])])
    # amax/amin: ties share evenly, NaN results give NaN gradients to the slice
    for op in ["amax", "amin"]:
        for shape, dims in [((4, 6), "1"), ((4, 6), "0"), ((3, 4, 5), "0,2"), ((3, 4, 5), ""),
                            ((40, 25), "0")]:
            w.case(_label(op, shape, dims + " ties"), "x %s:%s:0" % (op, dims),
                   [("x", _ties(shape))])
        w.case(op + " NaN", "x %s:1:0" % op,
               [("x", [[1.0, NAN, 3.0], [2.0, 2.0, 0.0], [-INF, -INF, -INF], [INF, 1.0, INF]])])


def gen_var_edges(w, uniform):
    x3 = [1.0, 2.0, 4.0]
    for op in ["var", "std"]:
        # N - correction <= 0: inf (NaN for 0/0) and what PyTorch's backward gives
        for c in (2, 3, 4, 5, -1, -3):
            w.case("%s N=3 correction %d" % (op, c), "x %s:0:%d:0" % (op, c), [("x", x3)])
        w.case("%s (2,3) dim 1 correction 3" % op, "x %s:1:3:1" % op, [("x", uniform((2, 3), -2, 2))])
        w.case("%s (3,2) dims 0,1 correction 6" % op, "x %s:0,1:6:0" % op,
               [("x", uniform((3, 2), -2, 2))])
        # single elements: 0/0 = NaN with correction 1, 0 with correction 0
        w.case("%s single element correction 1" % op, "x %s:0:1:0" % op, [("x", [2.0])])
        w.case("%s single element correction 0" % op, "x %s:0:0:0" % op, [("x", [2.0])])
        w.case("%s 0-dim correction 0" % op, "x %s::0:0" % op, [("x", np.float32(1.5))])
        w.case("%s 0-dim dim 0 keepdim correction 0" % op, "x %s:0:0:1" % op,
               [("x", np.float32(1.5))])
        # a constant slice: var 0, std 0 with a zero gradient (PyTorch's mask)
        w.case("%s constant rows" % op, "x %s:1:1:0" % op,
               [("x", [[2.0, 2.0, 2.0], [1.0, 2.0, 3.0]])])
        w.case("%s non-finite" % op, "x %s:1:1:0" % op,
               [("x", [[1.0, INF, 2.0], [NAN, 1.0, 2.0], [1e20, -1e20, 0.0]])])
        w.case("%s large offset" % op, "x %s:0:1:0" % op,
               [("x", (uniform((50,), -1, 1) + 1000.0).astype(np.float32))])


def gen_softmax(w, uniform):
    for op in ["softmax", "log_softmax"]:
        for shape, dims in [((), [0, -1]), ((1,), [0]), ((5,), [0, -1]), ((2, 3), [0, 1, -1, -2]),
                            ((2, 3, 4), [0, 1, 2, -2]), ((2, 1, 3), [1]), ((4, 64), [1, 0]),
                            ((3, 2, 2, 2), [2])]:
            for d in dims:
                w.case(_label(op, shape, str(d)), "x %s:%d" % (op, d),
                       [("x", uniform(shape, -4, 4))])
        # +-1000: finite where PyTorch is; -inf entries, all -inf rows, +inf and NaN
        w.case(op + " +-1000", "x %s:1" % op,
               [("x", [[1000.0, -1000.0, 1000.0], [-1000.0, -1000.0, -999.0], [1000.0, 999.0, 0.0]])])
        w.case(op + " +-1000 dim 0", "x %s:0" % op,
               [("x", [[1000.0, -1000.0], [-1000.0, -1000.0], [999.0, 0.0]])])
        w.case(op + " infinities and NaN", "x %s:1" % op,
               [("x", [[-INF, -INF, -INF], [-INF, 0.0, 1.0], [INF, 1.0, 2.0], [INF, INF, 1.0],
                       [NAN, 1.0, 2.0]])])
        w.case(op + " empty dim", "x %s:1" % op, [("x", np.zeros((3, 0), np.float32))])
    w.case("logsumexp +-1000", "x logsumexp:1:0",
           [("x", [[1000.0, -1000.0, 1000.0], [-1000.0, -1000.0, -999.0], [1000.0, 999.0, 0.0]])])
    w.case("logsumexp +-1000 all dims keepdim", "x logsumexp::1",
           [("x", [[1000.0, -1000.0], [-1000.0, 999.0]])])
    w.case("logsumexp infinities and NaN", "x logsumexp:1:0",
           [("x", [[-INF, -INF, -INF], [-INF, 0.0, 1.0], [INF, 1.0, 2.0], [INF, INF, 1.0],
                   [NAN, 1.0, 2.0]])])
    w.case("logsumexp infinities dim 0 keepdim", "x logsumexp:0:1",
           [("x", [[-INF, INF, 1.0], [-INF, -INF, 2.0]])])
    w.case("sum/mean non-finite", "x sum:1:0 x mean:1:0 add",
           [("x", [[INF, -INF, 1.0], [NAN, 1.0, 2.0], [INF, 1.0, 2.0]])])


def gen_composites(w, uniform):
    x = uniform((3, 5), -3, 3)
    w.case("x - logsumexp(x, 1, keepdim)", "x x logsumexp:1:1 sub", [("x", x)])
    w.case("log_softmax(x, 1), same x", "x log_softmax:1", [("x", x)])
    w.case("x - logsumexp(x, 0, keepdim) +-1000", "x x logsumexp:0:1 sub",
           [("x", [[1000.0, -1000.0], [-1000.0, 999.0], [0.0, 1.0]])])
    w.case("sum(softmax(x) * x)", "x softmax:1 x mul sum::0", [("x", uniform((3, 4), -3, 3))])
    w.case("sum(softmax(x, 0) * x) (2,3,2)", "x softmax:0 x mul sum::0",
           [("x", uniform((2, 3, 2), -3, 3))])
    w.case("var(x) keepdim * x", "x var:1:1:1 x mul", [("x", uniform((3, 4), -2, 2))])
    w.case("(x - mean(x))^2 summed vs var", "x x mean:-1:1 sub dup mul sum:-1:0 x var:-1:0:0 sub",
           [("x", uniform((2, 5), -2, 2))])
    w.case("std(x) / mean(x) via pow", "x std:0:1:0 x mean:0:0 pow:-1 mul",
           [("x", uniform((4, 3), 0.5, 3))])
    w.case("mean(sum(x, 1) * amax(x, 1))", "x sum:1:0 x amax:1:0 mul mean::0",
           [("x", _distinct((3, 4)))])
    w.case("max(x, 1) - min(x, 1) keepdim, times x", "x max:1:1 x min:1:1 sub x mul",
           [("x", _distinct((3, 4)))])
    w.case("max_all(x) * sum(x) with ties", "x max_all x sum::0 mul", [("x", _ties((3, 4)))])
    w.case("softmax then log_softmax", "x softmax:1 log_softmax:0 sum::0",
           [("x", uniform((3, 4), -2, 2))])
    w.case("logsumexp of sums", "x sum:0:0 logsumexp::0 x logsumexp:0,1:0 add",
           [("x", uniform((3, 4), -2, 2))])
    w.case("mean of a 0-dim result", "x mean::0 mean::0 sum:0:1", [("x", uniform((2, 3), -2, 2))])


def gen_errors(w, uniform):
    x23 = uniform((2, 3), -1, 1)
    x0 = np.float32(1.0)
    for op in ["sum", "mean", "amax", "amin", "logsumexp"]:
        w.error_case("%s dim out of range" % op, "x %s:2:0" % op, [("x", x23)])
        w.error_case("%s negative dim out of range" % op, "x %s:-3:1" % op, [("x", x23)])
        w.error_case("%s 0-dim dim 1" % op, "x %s:1:0" % op, [("x", x0)])
        w.error_case("%s repeated dim" % op, "x %s:1,1:0" % op, [("x", x23)])
        w.error_case("%s repeated dim via negative" % op, "x %s:0,-1,1:0" % op, [("x", x23)])
        w.error_case("%s 0-dim repeated dim" % op, "x %s:0,-1:0" % op, [("x", x0)])
    for op in ["var", "std"]:
        w.error_case("%s dim out of range" % op, "x %s:2:1:0" % op, [("x", x23)])
        w.error_case("%s repeated dim" % op, "x %s:-1,1:1:0" % op, [("x", x23)])
    for op in ["max", "min"]:
        w.error_case("%s dim out of range" % op, "x %s:2:0" % op, [("x", x23)])
        w.error_case("%s dim -3" % op, "x %s:-3:0" % op, [("x", x23)])
        w.error_case("%s 0-dim dim 1" % op, "x %s:1:0" % op, [("x", x0)])
        w.error_case("%s empty reduction" % op, "x %s:1:0" % op, [("x", np.zeros((3, 0), np.float32))])
        w.error_case("%s empty reduction (0,0)" % op, "x %s:0:1" % op,
                     [("x", np.zeros((0, 0), np.float32))])
    for op in ["max_all", "min_all"]:
        w.error_case("%s empty" % op, "x " + op, [("x", np.zeros((0,), np.float32))])
        w.error_case("%s empty (2,0)" % op, "x " + op, [("x", np.zeros((2, 0), np.float32))])
    for op in ["amax", "amin"]:
        w.error_case("%s empty reduction" % op, "x %s:1:0" % op, [("x", np.zeros((3, 0), np.float32))])
        w.error_case("%s all dims of empty" % op, "x %s::0" % op, [("x", np.zeros((3, 0), np.float32))])
    for op in ["softmax", "log_softmax"]:
        w.error_case("%s dim out of range" % op, "x %s:2" % op, [("x", x23)])
        w.error_case("%s dim -3" % op, "x %s:-3" % op, [("x", x23)])
        w.error_case("%s 0-dim dim 1" % op, "x %s:1" % op, [("x", x0)])


def gen(w, uniform):
    """Adds this family's cases to the writer w."""
    gen_dims_ops(w, uniform)
    gen_extreme(w, uniform)
    gen_var_edges(w, uniform)
    gen_softmax(w, uniform)
    gen_composites(w, uniform)
    gen_errors(w, uniform)
