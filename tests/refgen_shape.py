"""refgen_shape.py - gen_reference.py's tokens and cases for the shape op family.

Tokens (name:args, see gen_reference.py; a list is comma-separated ints and
may be empty, e.g. "reshape:" reshapes to a 0-dim tensor):
  reshape:SIZES         pops x; pushes x.reshape(SIZES)            (one -1 allowed)
  view:SIZES            pops x; pushes x.view(SIZES)
  flatten:S:E           pops x; pushes x.flatten(S, E)
  squeeze:D             pops x; pushes x.squeeze(D)
  squeeze_all           pops x; pushes x.squeeze()
  unsqueeze:D           pops x; pushes x.unsqueeze(D)
  transpose:D0:D1       pops x; pushes x.transpose(D0, D1)
  t                     pops x; pushes x.t()
  permute:DIMS          pops x; pushes x.permute(DIMS)
  expand:SIZES          pops x; pushes x.expand(SIZES)
  cat:N:D               pops N tensors (the first pushed is first); pushes torch.cat(them, D)
  stack:N:D             pops N tensors likewise; pushes torch.stack(them, D)
  narrow:D:START:LEN    pops x; pushes x.narrow(D, START, LEN)
  select:D:I            pops x; pushes x.select(D, I)
  index_select:D:IDX    pops x; pushes x.index_select(D, tensor(IDX)) (IDX a list)
  gather:D:SHAPE:IDX    pops x; pushes torch.gather(x, D, tensor(IDX).reshape(SHAPE))
"""

import numpy as np
import torch


def ints(s):
    return [int(v) for v in s.split(",")] if s else []


def fields(args, n):
    f = args.split(":")
    assert len(f) == n, args
    return f


def unary(fn):
    def op(stack, args):
        stack.append(fn(stack.pop(), args))
    return op


def joined(fn):
    def op(stack, args):
        n, d = (int(v) for v in fields(args, 2))
        xs = stack[len(stack) - n:]
        del stack[len(stack) - n:]
        stack.append(fn(xs, d))
    return op


def gather(x, args):
    d, shape, idx = fields(args, 3)
    index = torch.tensor(ints(idx), dtype=torch.long).reshape(ints(shape))
    return torch.gather(x, int(d), index)


OPS = {
    "reshape": unary(lambda x, a: x.reshape(ints(a))),
    "view": unary(lambda x, a: x.view(ints(a))),
    "flatten": unary(lambda x, a: x.flatten(*(int(v) for v in fields(a, 2)))),
    "squeeze": unary(lambda x, a: x.squeeze(int(a))),
    "squeeze_all": unary(lambda x, a: x.squeeze()),
    "unsqueeze": unary(lambda x, a: x.unsqueeze(int(a))),
    "transpose": unary(lambda x, a: x.transpose(*(int(v) for v in fields(a, 2)))),
    "t": unary(lambda x, a: x.t()),
    "permute": unary(lambda x, a: x.permute(ints(a))),
    "expand": unary(lambda x, a: x.expand(ints(a))),
    "cat": joined(torch.cat),
    "stack": joined(torch.stack),
    "narrow": unary(lambda x, a: x.narrow(*(int(v) for v in fields(a, 3)))),
    "select": unary(lambda x, a: x.select(*(int(v) for v in fields(a, 2)))),
    "index_select": unary(lambda x, a: x.index_select(
        int(fields(a, 2)[0]), torch.tensor(ints(fields(a, 2)[1]), dtype=torch.long))),
    "gather": unary(gather),
}


def lst(v):
    return ",".join(str(i) for i in v)


def shp(s):
    return "(" + ",".join(str(d) for d in s) + ")"


def gen(w, uniform):
    """Adds this family's cases to the writer w."""
    u = lambda s: uniform(s, -3, 3)  # noqa: E731

    # ---- views ----
    for s, targets in [((2, 3), [(3, 2), (6,), (-1,), (1, 6, 1), (3, -1), (-1, 2, 1)]),
                       ((), [(), (1,), (-1,), (1, 1), (1, -1, 1)]),
                       ((1,), [(), (1, 1)]),
                       ((2, 3, 4), [(4, 6), (2, -1), (24,), (2, 2, 2, 3)]),
                       ((2, 0, 3), [(0,), (-1,), (3, 0), (6, -1)])]:
        for tgt in targets:
            for op in ["reshape", "view"]:
                w.case("%s %s -> %s" % (op, shp(s), shp(tgt)), "x %s:%s" % (op, lst(tgt)),
                       [("x", u(s))])
    for s, ranges in [((2, 3, 4), [(0, -1), (1, 2), (0, 1), (-2, -1), (1, 1), (-3, 0)]),
                      ((), [(0, -1), (-1, 0), (0, 0)]),
                      ((5,), [(0, 0), (-1, -1)]),
                      ((2, 1, 3, 2), [(1, 2), (0, 3), (2, -1)])]:
        for a, b in ranges:
            w.case("flatten %s %d %d" % (shp(s), a, b), "x flatten:%d:%d" % (a, b),
                   [("x", u(s))])
    for s, dims in [((2, 1, 3), [1, -2, 0, 2, -3]), ((), [0, -1]), ((1,), [0, -1]),
                    ((1, 1, 4, 1), [0, 3, -1, 2])]:
        for d in dims:
            w.case("squeeze %s %d" % (shp(s), d), "x squeeze:%d" % d, [("x", u(s))])
    for s in [(2, 1, 3), (), (1,), (1, 1, 4, 1), (3, 4)]:
        w.case("squeeze_all %s" % shp(s), "x squeeze_all", [("x", u(s))])
    for s, dims in [((2, 3), [0, 1, 2, -1, -3]), ((), [0, -1]), ((4,), [0, 1, -2])]:
        for d in dims:
            w.case("unsqueeze %s %d" % (shp(s), d), "x unsqueeze:%d" % d, [("x", u(s))])

    # ---- permutes and expand ----
    for s, pairs in [((2, 3), [(0, 1), (1, 0), (-1, 0), (1, 1)]),
                     ((2, 3, 4), [(0, 2), (-1, -2), (0, 1)]),
                     ((), [(0, 0), (0, -1)]),
                     ((2, 1, 3, 2), [(1, 3), (0, -1)])]:
        for a, b in pairs:
            w.case("transpose %s %d %d" % (shp(s), a, b), "x transpose:%d:%d" % (a, b),
                   [("x", u(s))])
    for s in [(), (4,), (2, 3), (3, 1), (1, 5)]:
        w.case("t %s" % shp(s), "x t", [("x", u(s))])
    for s, perms in [((2, 3, 4), [(2, 0, 1), (1, 0, 2), (0, 1, 2), (-1, 0, 1), (2, 1, 0)]),
                     ((), [()]), ((5,), [(0,), (-1,)]), ((2, 3), [(1, 0)]),
                     ((2, 1, 3, 2), [(3, 1, 0, 2), (0, 2, 1, 3)]),
                     ((2, 2, 1, 2, 3), [(4, 3, 2, 1, 0), (1, 0, 3, 2, 4)])]:
        for p in perms:
            w.case("permute %s %s" % (shp(s), shp(p)), "x permute:%s" % lst(p), [("x", u(s))])
    # large enough for several of the tiles a transpose is copied in
    w.case("t (34,5)", "x t", [("x", u((34, 5)))])
    w.case("permute (2,3,40) 2,0,1", "x permute:2,0,1", [("x", u((2, 3, 40)))])
    w.case("transpose (3,2,33) 0 2", "x transpose:0:2", [("x", u((3, 2, 33)))])
    for s, tgts in [((3, 1), [(3, 4), (-1, 4), (2, 3, 4), (2, -1, -1), (3, 1)]),
                    ((), [(), (3,), (2, 3)]),
                    ((1,), [(5,), (2, 1), (2, 3, 4)]),
                    ((1, 3, 1), [(2, 3, 2), (4, -1, 3, 1), (2, 1, 3, 5)]),
                    ((2, 3), [(2, 3), (4, 2, 3), (-1, -1)]),
                    ((1, 2), [(0, 2)])]:
        for tgt in tgts:
            w.case("expand %s -> %s" % (shp(s), shp(tgt)), "x expand:%s" % lst(tgt),
                   [("x", u(s))])

    # ---- cat and stack ----
    w.case("cat (2,3) (4,3) dim 0", "a b cat:2:0", [("a", u((2, 3))), ("b", u((4, 3)))])
    w.case("cat (2,3) (2,1) (2,2) dim 1", "a b c cat:3:1",
           [("a", u((2, 3))), ("b", u((2, 1))), ("c", u((2, 2)))])
    w.case("cat (2,3) (2,1) (2,2) dim -1", "a b c cat:3:-1",
           [("a", u((2, 3))), ("b", u((2, 1))), ("c", u((2, 2)))])
    w.case("cat one (5,)", "a cat:1:0", [("a", u((5,)))])
    w.case("cat four 1-D", "a b c d cat:4:0",
           [("a", u((2,))), ("b", u((1,))), ("c", u((3,))), ("d", u((2,)))])
    w.case("cat (2,1,3) (2,2,3) dim 1", "a b cat:2:1", [("a", u((2, 1, 3))), ("b", u((2, 2, 3)))])
    w.case("cat (2,3,1) (2,3,2) dim -1", "a b cat:2:-1", [("a", u((2, 3, 1))), ("b", u((2, 3, 2)))])
    w.case("cat with an empty input", "a b cat:2:1", [("a", u((2, 3))), ("b", u((2, 0)))])
    w.case("cat x with itself dim 0", "x x cat:2:0", [("x", u((2, 3)))])
    w.case("cat x with itself dim 1", "x x x cat:3:1", [("x", u((2, 3)))])
    w.case("cat (x, x*y, y)", "x x y mul y cat:3:0", [("x", u((3,))), ("y", u((3,)))])
    w.case("stack two (2,3) dim 0", "a b stack:2:0", [("a", u((2, 3))), ("b", u((2, 3)))])
    w.case("stack two (2,3) dim 1", "a b stack:2:1", [("a", u((2, 3))), ("b", u((2, 3)))])
    w.case("stack two (2,3) dim 2", "a b stack:2:2", [("a", u((2, 3))), ("b", u((2, 3)))])
    w.case("stack three (2,3) dim -1", "a b c stack:3:-1",
           [("a", u((2, 3))), ("b", u((2, 3))), ("c", u((2, 3)))])
    w.case("stack 0-dim", "a b c stack:3:0", [("a", u(())), ("b", u(())), ("c", u(()))])
    w.case("stack 0-dim dim -1", "a b stack:2:-1", [("a", u(())), ("b", u(()))])
    w.case("stack x with itself", "x x stack:2:1", [("x", u((3, 2)))])

    # ---- narrow and select ----
    for s, args in [((4, 5), [(0, 1, 2), (1, 0, 5), (1, -2, 2), (-1, 3, 0), (0, -4, 4), (1, 5, 0)]),
                    ((2, 3, 4), [(1, 1, 1), (2, 1, 3), (-3, 0, 1), (0, -1, 1)]),
                    ((6,), [(0, 2, 3), (-1, -6, 6)])]:
        for d, st, ln in args:
            w.case("narrow %s %d %d %d" % (shp(s), d, st, ln), "x narrow:%d:%d:%d" % (d, st, ln),
                   [("x", u(s))])
    for s, args in [((4, 5), [(0, 0), (0, 3), (1, -1), (-1, 2), (-2, -4)]),
                    ((2, 3, 4), [(1, 1), (2, 3), (0, -2)]),
                    ((6,), [(0, 2), (0, -6)])]:
        for d, i in args:
            w.case("select %s %d %d" % (shp(s), d, i), "x select:%d:%d" % (d, i), [("x", u(s))])

    # ---- index_select and gather ----
    for s, args in [((5, 3), [(0, [4, 0, 2]), (0, [1, 1, 1, 3]), (1, [2, 0]), (-1, [0, 0, 2, 1]),
                              (-2, [3]), (0, [])]),
                    ((2, 3, 4), [(1, [2, 2, 0]), (2, [3, 1, 3, 0, 1]), (0, [1, 0])]),
                    ((7,), [(0, [6, 6, 0, 3, 6])])]:
        for d, idx in args:
            w.case("index_select %s %d [%s]" % (shp(s), d, lst(idx)),
                   "x index_select:%d:%s" % (d, lst(idx)), [("x", u(s))])
    # an embedding lookup: rows of a table, repeated, then a product
    w.case("embedding rows * weights", "e index_select:0:2,0,2,1 w mul",
           [("e", u((4, 3))), ("w", u((4, 1)))])
    rng = np.random.RandomState(7)
    for s, d, ishape in [((3, 4), 1, (3, 2)), ((3, 4), 0, (5, 4)), ((3, 4), 1, (2, 6)),
                         ((3, 4), -1, (1, 1)), ((3, 4), 0, (2, 2)), ((2, 3, 4), 2, (2, 3, 3)),
                         ((2, 3, 4), 1, (1, 4, 2)), ((2, 3, 4), -3, (3, 2, 1)), ((6,), 0, (8,)),
                         ((3, 4), 1, (3, 0))]:
        size = s[d]
        idx = rng.randint(0, size, size=int(np.prod(ishape))).tolist()
        w.case("gather %s %d index %s" % (shp(s), d, shp(ishape)),
               "x gather:%d:%s:%s" % (d, lst(ishape), lst(idx)), [("x", u(s))])
    w.case("gather 0-dim", "x gather:0::0", [("x", u(()))])
    w.case("gather repeated index 0", "x gather:1:2,3:0,0,0,2,2,2", [("x", u((2, 3)))])

    # ---- composites ----
    w.case("reshape(x) * x.permute", "x reshape:4,3,2 x permute:2,1,0 mul", [("x", u((2, 3, 4)))])
    w.case("x.t() * x.t() + x.view", "x t dup mul x view:3,2 add", [("x", u((2, 3)))])
    w.case("squeeze(unsqueeze(x)) * x", "x unsqueeze:1 squeeze:1 x mul", [("x", u((2, 3)))])
    w.case("flatten(x) * narrow(flatten(x))", "x flatten:0:-1 dup narrow:0:0:6 mul",
           [("x", u((2, 3)))])
    w.case("expand then sum via mul", "x expand:3,2,4 y mul", [("x", u((2, 1))), ("y", u((3, 2, 4)))])
    w.case("cat(select(x,0), select(x,1))", "x select:0:0 x select:0:1 cat:2:0 x flatten:0:1 mul",
           [("x", u((2, 3)))])
    w.case("stack(x, sin(x)).transpose", "x x sin stack:2:0 transpose:0:2 exp", [("x", u((2, 3)))])
    w.case("gather(x) * index_select(x)", "x gather:1:2,2:0,2,1,1 x index_select:1:2,0 mul",
           [("x", u((2, 3)))])
    w.case("view of a view, used twice", "x view:6 view:3,2 dup t transpose:0:1 mul",
           [("x", u((2, 3)))])

    # ---- errors: every rejection ----
    x23 = [("x", u((2, 3)))]
    for prog in ["x reshape:4,2", "x reshape:-1,-1", "x reshape:-2,3", "x view:7", "x view:2,-1,4"]:
        w.error_case("reshape error " + prog, prog, x23)
    w.error_case("reshape 0 elements with -1", "x reshape:0,-1", [("x", u((2, 0, 3)))])
    for prog in ["x flatten:2:2", "x flatten:0:-3", "x flatten:1:0", "x flatten:-1:-2"]:
        w.error_case("flatten error " + prog, prog, x23)
    w.error_case("flatten 0-dim dim 1", "x flatten:1:1", [("x", u(()))])
    for prog in ["x squeeze:2", "x squeeze:-3", "x unsqueeze:3", "x unsqueeze:-4"]:
        w.error_case("dim error " + prog, prog, x23)
    w.error_case("squeeze 0-dim dim 1", "x squeeze:1", [("x", u(()))])
    w.error_case("unsqueeze 0-dim dim 1", "x unsqueeze:1", [("x", u(()))])
    for prog in ["x transpose:0:2", "x transpose:-3:0", "x permute:0", "x permute:0,0",
                 "x permute:0,2", "x permute:1,0,2"]:
        w.error_case("permute error " + prog, prog, x23)
    w.error_case("transpose 0-dim dim 1", "x transpose:0:1", [("x", u(()))])
    w.error_case("t of 3-D", "x t", [("x", u((2, 3, 4)))])
    for prog in ["x expand:3", "x expand:2,4", "x expand:-1,2,3", "x expand:-2,3", "x expand:2,3,-1",
                 "x expand:3,3"]:
        w.error_case("expand error " + prog, prog, x23)
    w.error_case("expand a new -1 dim", "x expand:-1,-1,3", [("x", u((2, 1)))])
    w.error_case("cat ndim mismatch", "a b cat:2:0", [("a", u((2, 3))), ("b", u((2,)))])
    w.error_case("cat size mismatch dim 1", "a b cat:2:1", [("a", u((2, 3))), ("b", u((3, 3)))])
    w.error_case("cat size mismatch dim 0", "a b cat:2:0", [("a", u((2, 3))), ("b", u((2, 2)))])
    w.error_case("cat 0-dim", "a b cat:2:0", [("a", u(())), ("b", u(()))])
    w.error_case("cat dim out of range", "a b cat:2:2", [("a", u((2, 3))), ("b", u((2, 3)))])
    w.error_case("cat dim out of range negative", "a b cat:2:-3", [("a", u((2, 3))), ("b", u((2, 3)))])
    w.error_case("stack shape mismatch", "a b stack:2:0", [("a", u((2, 3))), ("b", u((3, 2)))])
    w.error_case("stack dim out of range", "a b stack:2:3", [("a", u((2, 3))), ("b", u((2, 3)))])
    w.error_case("stack 0-dim dim 1", "a b stack:2:1", [("a", u(())), ("b", u(()))])
    for prog in ["x narrow:1:2:2", "x narrow:1:1:-1", "x narrow:1:4:0", "x narrow:1:-4:1",
                 "x narrow:2:0:1", "x narrow:0:0:3"]:
        w.error_case("narrow error " + prog, prog, x23)
    w.error_case("narrow 0-dim", "x narrow:0:0:1", [("x", u(()))])
    for prog in ["x select:1:3", "x select:1:-4", "x select:-3:0", "x select:0:2"]:
        w.error_case("select error " + prog, prog, x23)
    w.error_case("select 0-dim", "x select:0:0", [("x", u(()))])
    for prog in ["x index_select:1:3", "x index_select:1:0,-1", "x index_select:0:0,1,2",
                 "x index_select:2:0"]:
        w.error_case("index_select error " + prog, prog, x23)
    w.error_case("index_select 0-dim index 1", "x index_select:0:1", [("x", u(()))])
    for prog in ["x gather:1:1,1:3", "x gather:1:1,1:-1", "x gather:0:1,4:0,1,1,0",
                 "x gather:1:3,1:0,1,2", "x gather:2:1,1:0"]:
        w.error_case("gather error " + prog, prog, x23)
    w.error_case("gather 0-dim index 1", "x gather:0::1", [("x", u(()))])
