"""refgen_index.py - gen_reference.py's tokens and cases for the ops taking an
int64 index tensor (src/ops/index.c, ag_cross_entropy_tensor).

Tokens (name:args, see gen_reference.py):
  index_select_t:D   pops index, then x; pushes x.index_select(D, index)
  gather_t:D         pops index, then x; pushes torch.gather(x, D, index)
  ce_t               pops target, then input; pushes F.cross_entropy(input, target)
Index and target inputs are int64 leaves ("input:int64").
"""

import torch
import torch.nn.functional as F


def binary(fn):
    def op(stack, args):
        i = stack.pop()
        x = stack.pop()
        stack.append(fn(x, i, args))
    return op


OPS = {
    "index_select_t": binary(lambda x, i, a: x.index_select(int(a), i)),
    "gather_t": binary(lambda x, i, a: torch.gather(x, int(a), i)),
    "ce_t": binary(lambda x, i, a: F.cross_entropy(x, i)),
}

I64 = torch.int64


def gen(w, uniform):
    u = lambda s: uniform(s, -2, 2)  # noqa: E731
    w.case("index_select_t (2,3) dim 1 repeated", "x i index_select_t:1",
           [("x", u((2, 3))), ("i", [0, 2, 2, 0], I64)])
    w.case("index_select_t (3,2) dim -2 0-dim index", "x i index_select_t:-2",
           [("x", u((3, 2))), ("i", 1, I64)])
    w.case("index_select_t (2,2,3) dim 2 empty index", "x i index_select_t:2",
           [("x", u((2, 2, 3))), ("i", torch.zeros(0, dtype=I64).numpy(), I64)])
    w.case("index_select_t int64 x", "x i index_select_t:0",
           [("x", [5, -7, 9], I64), ("i", [2, 0, 2], I64)])
    w.case("gather_t (2,3) dim 1 repeated", "x i gather_t:1",
           [("x", u((2, 3))), ("i", [[0, 0, 2, 2], [1, 1, 1, 0]], I64)])
    w.case("gather_t (3,2,2) dim 0 smaller index", "x i gather_t:0",
           [("x", u((3, 2, 2))), ("i", [[[2, 2]], [[0, 1]]], I64)])
    w.case("gather_t 0-dim x, (2) index", "x i gather_t:0",
           [("x", u(())), ("i", [0, 0], I64)])
    w.case("gather_t (3) x, 0-dim index", "x i gather_t:-1",
           [("x", u((3,))), ("i", 2, I64)])
    w.case("ce_t (4,3)", "x y ce_t", [("x", u((4, 3))), ("y", [0, 2, 1, 2], I64)])
    w.case("ce_t (3) 0-dim target", "x y ce_t", [("x", u((3,))), ("y", 1, I64)])
    w.case("ce_t (2,3,4)", "x y ce_t",
           [("x", u((2, 3, 4))), ("y", [[0, 1, 2, 0], [2, 2, 1, 0]], I64)])
    for label, prog, inputs in [
        ("index_select_t negative", "x i index_select_t:1", [("i", [-1], I64)]),
        ("index_select_t out of range", "x i index_select_t:1", [("i", [3], I64)]),
        ("index_select_t 2-dim index", "x i index_select_t:1", [("i", [[0]], I64)]),
        ("index_select_t bool index", "x i index_select_t:1", [("i", [True], torch.bool)]),
        ("gather_t negative", "x i gather_t:1", [("i", [[-1], [0]], I64)]),
        ("gather_t out of range", "x i gather_t:1", [("i", [[3], [0]], I64)]),
        ("gather_t ndim", "x i gather_t:1", [("i", [0, 1], I64)]),
        ("gather_t too large apart from dim", "x i gather_t:1", [("i", [[0], [0], [0]], I64)]),
        ("gather_t bad dim", "x i gather_t:2", [("i", [[0]], I64)]),
    ]:
        w.error_case(label, prog, [("x", u((2, 3)))] + inputs)
    w.error_case("ce_t target (5) for input (4,3)", "x y ce_t",
                 [("x", u((4, 3))), ("y", [0, 1, 2, 0, 1], I64)])
    w.error_case("ce_t target (2,5) for input (2,3,4)", "x y ce_t",
                 [("x", u((2, 3, 4))), ("y", [[0] * 5] * 2, I64)])
    w.error_case("ce_t target (1) for input (3)", "x y ce_t",
                 [("x", u((3,))), ("y", [0], I64)])
    w.error_case("ce_t bool target", "x y ce_t",
                 [("x", u((4, 3))), ("y", [True, False, True, False], torch.bool)])
    w.error_case("ce_t out of range target", "x y ce_t",
                 [("x", u((4, 3))), ("y", [0, 3, 1, 1], I64)])
