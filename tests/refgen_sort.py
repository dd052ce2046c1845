"""refgen_sort.py - gen_reference.py's tokens and cases for the index op family
(argmax/argmin, max/min with indices, sort, argsort, topk).

Tokens (name:args, see gen_reference.py). D is a dim (negative ones wrap), or
empty for every element (argmax, argmin: dim=None); K keepdim, DESC, STABLE,
LARGEST and SORTED are 0 or 1; W is v (push the values) or i (the indices).
  long                pops x; pushes x.long()  (int64 inputs for the ops below)
  bool                pops x; pushes x.bool()
  argmax:D:K          torch.argmax(x, D, keepdim=K)
  argmin:D:K          torch.argmin(x, D, keepdim=K)
  max_with_indices:D:K:W   torch.max(x, D, keepdim=K), its values or indices
  min_with_indices:D:K:W   torch.min(x, D, keepdim=K)
  sort:D:DESC:STABLE:W     torch.sort(x, D, descending=DESC, stable=STABLE)
  argsort:D:DESC:STABLE    torch.argsort(x, D, descending=DESC, stable=STABLE)
  topk:N:D:LARGEST:SORTED:W  torch.topk(x, N, D, largest=LARGEST, sorted=SORTED)
Where PyTorch's order is unspecified the generator fixes it to the C
library's (ties by the lower index first, see autograd.h): topk with
SORTED 0 is PyTorch's result reordered by value (descending for LARGEST),
ties by index, with gather (the gradient still reaches the same elements).
Cases avoid ties where PyTorch's own order among them is unspecified (sort
with STABLE 0 over slices of more than 16 elements, topk).
"""

import math

import numpy as np
import torch


def _flag(s):
    assert s in ("0", "1"), s
    return s == "1"


def _dim(s):
    return None if s == "" else int(s)


def _pick(r, w):
    assert w in ("v", "i"), w
    return r.values if w == "v" else r.indices


def _arg(fn):
    def op(stack, args):
        d, k = args.split(":")
        x = stack.pop()
        stack.append(fn(x, _dim(d), keepdim=_flag(k)))
    return op


def _extreme(fn):
    def op(stack, args):
        d, k, w = args.split(":")
        stack.append(_pick(fn(stack.pop(), int(d), keepdim=_flag(k)), w))
    return op


def _sort(stack, args):
    d, desc, st, w = args.split(":")
    r = torch.sort(stack.pop(), dim=int(d), descending=_flag(desc), stable=_flag(st))
    stack.append(_pick(r, w))


def _argsort(stack, args):
    d, desc, st = args.split(":")
    stack.append(torch.argsort(stack.pop(), dim=int(d), descending=_flag(desc),
                               stable=_flag(st)))


def _topk(stack, args):
    n, d, largest, srt, w = args.split(":")
    x = stack.pop()
    d, largest = int(d), _flag(largest)
    v, i = torch.topk(x, int(n), dim=d, largest=largest, sorted=_flag(srt))
    if not _flag(srt) and x.dim() > 0:
        # the C library's order: by index, then (stably) by value
        p = torch.argsort(i, dim=d)
        v, i = v.gather(d, p), i.gather(d, p)
        p = torch.sort(v.detach(), dim=d, descending=largest, stable=True).indices
        v, i = v.gather(d, p), i.gather(d, p)
    stack.append(v if w == "v" else i)


OPS = {
    "long": lambda stack, args: stack.append(stack.pop().long()),
    "bool": lambda stack, args: stack.append(stack.pop().bool()),
    "argmax": _arg(torch.argmax),
    "argmin": _arg(torch.argmin),
    "max_with_indices": _extreme(torch.max),
    "min_with_indices": _extreme(torch.min),
    "sort": _sort,
    "argsort": _argsort,
    "topk": _topk,
}

INF, NAN = math.inf, math.nan


def _s(shape):
    return "(" + ",".join(str(d) for d in shape) + ")"


def _ties(shape):
    """Small integers, so values repeat."""
    return torch.randint(0, 3, shape).float().numpy()


def _distinct(shape):
    n = int(np.prod(shape)) if shape else 1
    return (torch.randperm(n).float().reshape(shape) * 0.25 - 0.1 * n).numpy()


def _perm(shape):
    """Distinct integers (exact after .long())."""
    n = int(np.prod(shape)) if shape else 1
    return (torch.randperm(n).float().reshape(shape) - n // 2).numpy()


def _dims(shape):
    return [str(d) for d in range(-len(shape), len(shape))] if shape else ["0", "-1"]


SHAPES = [(), (5,), (2, 3), (3, 1, 4), (2, 3, 4), (64, 16)]
EDGES = [0.0, -0.0, NAN, 1.0, NAN, INF, -INF, 0.0, -1.0, INF]


def gen_arg(w, uniform):
    for op in ("argmax", "argmin"):
        for shape in SHAPES:
            for d in [""] + _dims(shape):
                for k in ("0", "1"):
                    for kind, src in (("ties", _ties), ("distinct", _distinct)):
                        w.case("%s %s %s:%s %s" % (op, _s(shape), d, k, kind),
                               "x %s:%s:%s" % (op, d, k), [("x", src(shape))])
        # NaN wins (the first one), infinities, -0 ties with 0 (the first wins)
        w.case("%s edges" % op, "x %s::0" % op, [("x", EDGES)])
        w.case("%s edges (2,5) dim 1" % op, "x %s:1:0" % op,
               [("x", np.array(EDGES, dtype=np.float32).reshape(2, 5))])
        w.case("%s edges (5,2) dim 0" % op, "x %s:0:1" % op,
               [("x", np.array(EDGES, dtype=np.float32).reshape(5, 2))])
        w.case("%s -0 and 0" % op, "x %s::0" % op, [("x", [-0.0, 0.0, -0.0])])
        w.case("%s all NaN" % op, "x %s:0:0" % op, [("x", [NAN, NAN, NAN])])
        # int64 inputs
        for shape, d in (((7,), ""), ((3, 4), "1"), ((3, 4), "0"), ((), "0")):
            w.case("%s int64 %s %s" % (op, _s(shape), d), "x long %s:%s:0" % (op, d),
                   [("x", uniform(shape, -4, 4))])
        w.case("%s int64 extremes" % op, "x long %s:0:0" % op,
               [("x", [3.0, -9.2e18, 9.2e18, 0.0, 9.2e18, -9.2e18])])
        # empty inputs: an empty result, or an error
        w.case("%s (0,3) dim 1" % op, "x %s:1:0" % op, [("x", np.zeros((0, 3), np.float32))])
        w.case("%s (0,3) dim 1 keepdim" % op, "x %s:1:1" % op,
               [("x", np.zeros((0, 3), np.float32))])
        w.error_case("%s (0,3) dim 0" % op, "x %s:0:0" % op, [("x", np.zeros((0, 3), np.float32))])
        w.error_case("%s (0,3) every element" % op, "x %s::0" % op,
                     [("x", np.zeros((0, 3), np.float32))])
        w.error_case("%s (2,3) dim 2" % op, "x %s:2:0" % op, [("x", uniform((2, 3), -1, 1))])
        w.error_case("%s 0-dim dim 1" % op, "x %s:1:0" % op, [("x", uniform((), -1, 1))])
        w.error_case("%s bool" % op, "x bool %s:0:0" % op, [("x", [0.0, 1.0, 2.0])])


def gen_extreme(w, uniform):
    for op in ("max_with_indices", "min_with_indices"):
        for shape in SHAPES:
            for d in _dims(shape):
                for k in ("0", "1"):
                    for wh in ("v", "i"):
                        # values with a gradient at distinct points; ties for the indices
                        src = _distinct(shape) if wh == "v" else _ties(shape)
                        w.case("%s %s %s:%s %s" % (op, _s(shape), d, k, wh),
                               "x %s:%s:%s:%s" % (op, d, k, wh), [("x", src)])
        for wh in ("v", "i"):
            w.case("%s edges %s" % (op, wh), "x %s:1:0:%s" % (op, wh),
                   [("x", np.array(EDGES, dtype=np.float32).reshape(2, 5))])
            w.case("%s int64 %s" % (op, wh), "x long %s:1:1:%s" % (op, wh),
                   [("x", uniform((3, 4), -4, 4))])
            w.case("%s bool %s" % (op, wh), "x bool %s:0:0:%s" % (op, wh),
                   [("x", _ties((4, 3)))])
        # the values times x: x's gradient from both
        w.case("%s values * x" % op, "x %s:1:1:v x mul" % op, [("x", _distinct((3, 4)))])
        w.error_case("%s (2,0) dim 1" % op, "x %s:1:0:v" % op,
                     [("x", np.zeros((2, 0), np.float32))])


SORT_SHAPES = [(), (1,), (5,), (2, 3), (3, 4, 5), (2, 1, 3)]


def gen_sort(w, uniform):
    for shape in SORT_SHAPES:
        for d in _dims(shape):
            for desc in ("0", "1"):
                for st in ("0", "1"):
                    for wh in ("v", "i"):
                        src = _distinct(shape) if wh == "v" else _ties(shape)
                        w.case("sort %s %s:%s:%s %s" % (_s(shape), d, desc, st, wh),
                               "x sort:%s:%s:%s:%s" % (d, desc, st, wh), [("x", src)])
    for desc in ("0", "1"):
        for st in ("0", "1"):
            a = "%s:%s" % (desc, st)
            # ties in slices of at most 16 (PyTorch's unstable sort is then stable too)
            w.case("argsort ties (4,16) 1:%s" % a, "x argsort:1:%s" % a, [("x", _ties((4, 16)))])
            w.case("argsort ties (16,3) 0:%s" % a, "x argsort:0:%s" % a, [("x", _ties((16, 3)))])
            w.case("argsort distinct (3,40) 1:%s" % a, "x argsort:1:%s" % a,
                   [("x", _distinct((3, 40)))])
            w.case("argsort distinct 0-dim:%s" % a, "x argsort:0:%s" % a, [("x", uniform((), -1, 1))])
            for wh in ("v", "i"):
                w.case("sort edges %s %s" % (a, wh), "x sort:0:%s:%s" % (a, wh), [("x", EDGES)])
                w.case("sort edges (5,2) dim 0 %s %s" % (a, wh), "x sort:0:%s:%s" % (a, wh),
                       [("x", np.array(EDGES, dtype=np.float32).reshape(5, 2))])
                w.case("sort int64 %s %s" % (a, wh), "x long sort:1:%s:%s" % (a, wh),
                       [("x", uniform((3, 6), -50, 50))])
                w.case("sort bool %s %s" % (a, wh), "x bool sort:0:%s:%s" % (a, wh),
                       [("x", _ties((12,)))])
        # stable: ties in long slices (the radix sort's passes), both dims
        for wh in ("v", "i"):
            w.case("sort stable ties (200) %s %s" % (desc, wh), "x sort:0:%s:1:%s" % (desc, wh),
                   [("x", _ties((200,)))])
            w.case("sort stable ties (3,100) 1 %s %s" % (desc, wh),
                   "x sort:1:%s:1:%s" % (desc, wh), [("x", _ties((3, 100)))])
            w.case("sort stable ties (50,4) 0 %s %s" % (desc, wh),
                   "x sort:0:%s:1:%s" % (desc, wh), [("x", _ties((50, 4)))])
            w.case("sort stable edges x 10 %s %s" % (desc, wh), "x sort:0:%s:1:%s" % (desc, wh),
                   [("x", EDGES * 10)])
            w.case("sort distinct (2,300) %s %s" % (desc, wh), "x sort:1:%s:0:%s" % (desc, wh),
                   [("x", _distinct((2, 300)))])
            w.case("sort int64 stable ties (100) %s %s" % (desc, wh),
                   "x long sort:0:%s:1:%s" % (desc, wh), [("x", _ties((100,)))])
            w.case("sort int64 extremes %s %s" % (desc, wh), "x long sort:0:%s:1:%s" % (desc, wh),
                   [("x", [3.0, -9.2e18, 9.2e18, 0.0, 9.2e18, -9.2e18, -1.0, 1.0])])
        w.case("sort values * x %s" % desc, "x sort:1:%s:1:v x mul" % desc,
               [("x", _distinct((3, 4)))])
        w.case("sort twice %s" % desc, "x sort:0:%s:0:v sort:0:0:0:v" % desc,
               [("x", _distinct((6,)))])
    w.case("sort empty (0,3) dim 0", "x sort:0:0:0:v", [("x", np.zeros((0, 3), np.float32))])
    w.case("sort empty (2,0) dim 1 indices", "x sort:1:0:0:i", [("x", np.zeros((2, 0), np.float32))])
    w.error_case("sort (2,3) dim 2", "x sort:2:0:0:v", [("x", uniform((2, 3), -1, 1))])
    w.error_case("sort 0-dim dim 1", "x sort:1:0:0:v", [("x", uniform((), -1, 1))])
    w.error_case("argsort (2,3) dim -3", "x argsort:-3:0:0", [("x", uniform((2, 3), -1, 1))])


def gen_topk(w, uniform):
    for shape in [(1,), (5,), (2, 3), (3, 4, 5), (2, 1, 3)]:
        for d in _dims(shape):
            size = shape[int(d)]
            for n in sorted({0, 1, min(2, size), size}):
                for largest in ("0", "1"):
                    for srt in ("1", "0"):
                        for wh in ("v", "i"):
                            a = "%d:%s:%s:%s:%s" % (n, d, largest, srt, wh)
                            w.case("topk %s %s" % (_s(shape), a), "x topk:" + a,
                                   [("x", _distinct(shape))])
    for largest in ("0", "1"):
        for wh in ("v", "i"):
            # PyTorch's partial_sort (k * 64 <= n) and nth_element paths
            w.case("topk (200) 3 %s %s" % (largest, wh), "x topk:3:0:%s:1:%s" % (largest, wh),
                   [("x", _distinct((200,)))])
            w.case("topk (3,130) 2 unsorted %s %s" % (largest, wh),
                   "x topk:2:1:%s:0:%s" % (largest, wh), [("x", _distinct((3, 130)))])
            w.case("topk (40,3) 7 dim 0 %s %s" % (largest, wh),
                   "x topk:7:0:%s:1:%s" % (largest, wh), [("x", _distinct((40, 3)))])
            # NaN counts as the largest; infinities
            w.case("topk edges-nan %s %s" % (largest, wh), "x topk:4:0:%s:1:%s" % (largest, wh),
                   [("x", [1.0, NAN, -INF, 3.0, INF, -2.0, 0.5])])
            w.case("topk int64 %s %s" % (largest, wh), "x long topk:2:1:%s:1:%s" % (largest, wh),
                   [("x", _perm((3, 6)))])
            for n in ("0", "1"):
                w.case("topk 0-dim %s %s %s" % (n, largest, wh),
                       "x topk:%s:0:%s:1:%s" % (n, largest, wh), [("x", uniform((), -1, 1))])
        w.case("topk values * x %s" % largest, "x topk:2:1:%s:1:v x sum:1:1 mul" % largest,
               [("x", _distinct((3, 4)))])
    w.case("topk (0,3) 2 dim 1", "x topk:2:1:1:1:v", [("x", np.zeros((0, 3), np.float32))])
    w.error_case("topk k > size", "x topk:4:1:1:1:v", [("x", uniform((2, 3), -1, 1))])
    w.error_case("topk k < 0", "x topk:-1:1:1:1:v", [("x", uniform((2, 3), -1, 1))])
    w.error_case("topk 0-dim k 2", "x topk:2:0:1:1:v", [("x", uniform((), -1, 1))])
    w.error_case("topk dim 2", "x topk:1:2:1:1:v", [("x", uniform((2, 3), -1, 1))])
    w.error_case("topk bool", "x bool topk:1:0:1:1:v", [("x", [0.0, 1.0, 2.0])])


def gen(w, uniform):
    gen_arg(w, uniform)
    gen_extreme(w, uniform)
    gen_sort(w, uniform)
    gen_topk(w, uniform)
