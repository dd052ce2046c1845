"""refgen_linalg.py - gen_reference.py's tokens and cases for the linalg op family.

Tokens (name:args, see gen_reference.py):
  matmul   pops b, then a; pushes torch.matmul(a, b) (ag_matmul): the dot
           product for 1-D @ 1-D, matrix-vector and vector-matrix products,
           matrix products and batched products with broadcast batch dims.
"""

import torch


def _matmul(stack, args):
    assert args == "", args
    b = stack.pop()
    a = stack.pop()
    stack.append(torch.matmul(a, b))


OPS = {"matmul": _matmul}


def _s(shape):
    return "(" + ",".join(str(d) for d in shape) + ")"


# (shape of a, shape of b): every case of torch.matmul
PAIRS = [
    # 1-D @ 1-D: dot, 0-dim result
    ((1,), (1,)), ((5,), (5,)), ((17,), (17,)),
    # 2-D @ 2-D, k = 1 (outer product), sizes around the 6 x 16 register tile
    ((2, 3), (3, 4)), ((1, 1), (1, 1)), ((4, 1), (1, 5)), ((1, 7), (7, 1)),
    ((7, 5), (5, 17)), ((13, 9), (9, 33)), ((6, 16), (16, 16)),
    # 1-D @ 2-D and 2-D @ 1-D
    ((3,), (3, 4)), ((1,), (1, 6)), ((4, 3), (3,)), ((6, 1), (1,)), ((9,), (9, 20)),
    # batched, equal batches
    ((2, 3, 4), (2, 4, 5)), ((3, 2, 1), (3, 1, 2)), ((2, 2, 3, 4), (2, 2, 4, 2)),
    # batch broadcasting both ways
    ((2, 1, 3, 4), (3, 4, 5)), ((3, 4, 5), (2, 1, 5, 3)), ((2, 1, 2, 3), (1, 3, 3, 2)),
    ((1, 2, 3), (4, 3, 2)), ((4, 2, 3), (1, 3, 2)),
    # N-D against 2-D and 1-D, both orders
    ((2, 3, 4), (4, 5)), ((4, 5), (2, 5, 3)), ((2, 3, 4), (4,)), ((4,), (2, 4, 3)),
    ((2, 1, 3, 4), (4,)), ((3,), (2, 2, 3, 2)), ((2, 2, 3, 4), (4, 1)),
    # zero-size dimensions: k = 0 gives zeros; empty results
    ((2, 0), (0, 3)), ((0,), (0,)), ((0, 3), (3, 2)), ((2, 3), (3, 0)), ((0, 2, 3), (3, 4)),
    ((2, 0, 3), (2, 3, 4)), ((3, 0), (0,)),
]

ERRORS = [
    ((), (3,)), ((3,), ()), ((), ()), ((2, 3), ()),            # 0-dim operand
    ((2, 3), (4, 5)), ((3,), (4,)), ((3,), (4, 5)), ((2, 3), (4,)),   # inner mismatch
    ((2, 3, 4), (5, 4, 2)), ((2, 2, 3), (3, 3, 2)),            # batches that do not broadcast
    ((2, 1, 3, 4), (3, 1, 4, 2)), ((2, 3, 4), (2, 5, 2)),      # ... or inner mismatch in batches
]


def gen(w, uniform):
    """Adds this family's cases to the writer w."""
    for sa, sb in PAIRS:
        w.case("matmul %s @ %s" % (_s(sa), _s(sb)), "a b matmul",
               [("a", uniform(sa, -2, 2)), ("b", uniform(sb, -2, 2))])
    # a tensor used twice: x @ x for square x, batched too; a product used again
    w.case("matmul x @ x (3,3)", "x x matmul", [("x", uniform((3, 3), -2, 2))])
    w.case("matmul x @ x (2,4,4)", "x x matmul", [("x", uniform((2, 4, 4), -2, 2))])
    w.case("matmul x @ x (5,) dot", "x x matmul", [("x", uniform((5,), -2, 2))])
    w.case("matmul (x @ x) @ x (4,4)", "x x matmul x matmul", [("x", uniform((4, 4), -2, 2))])
    w.case("matmul (a @ b) @ c + a @ b", "a b matmul dup c matmul add",
           [("a", uniform((2, 3), -2, 2)), ("b", uniform((3, 4), -2, 2)),
            ("c", uniform((4, 4), -2, 2))])
    # a linear layer: x @ w + b, then a nonlinearity and a second layer
    w.case("matmul linear layer x @ w + b", "x w matmul b add sin v matmul",
           [("x", uniform((5, 3), -2, 2)), ("w", uniform((3, 4), -1, 1)),
            ("b", uniform((4,), -1, 1)), ("v", uniform((4,), -1, 1))])
    w.case("matmul a * (a @ b) broadcast", "a a b matmul mul",
           [("a", uniform((3, 3), -2, 2)), ("b", uniform((3, 3), -2, 2))])
    # non-finite values: inf * 0 = nan, inf + (-inf) = nan
    w.case("matmul non-finite", "a b matmul",
           [("a", [[float("inf"), 1.0], [0.0, 2.0], [float("nan"), 0.0]]),
            ("b", [[1.0, 0.0, -1.0], [2.0, float("-inf"), 1.0]])])
    # a larger product through the blocked kernel (k past the 128 block)
    w.case("matmul (7,130) @ (130,7)", "a b matmul",
           [("a", uniform((7, 130), -1, 1)), ("b", uniform((130, 7), -1, 1))])
    w.case("matmul (7,20) @ (20,40)", "a b matmul",
           [("a", uniform((7, 20), -1, 1)), ("b", uniform((20, 40), -1, 1))])
    for sa, sb in ERRORS:
        w.error_case("matmul %s @ %s" % (_s(sa), _s(sb)), "a b matmul",
                     [("a", uniform(sa, -2, 2)), ("b", uniform(sb, -2, 2))])
