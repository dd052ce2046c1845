"""refgen_dtype.py - gen_reference.py's tokens and cases for dtypes: the
conversions and PyTorch's promotion of int64 and bool inputs.

Tokens (name:args, see gen_reference.py):
  to:<dtype>   pops a; pushes a.to(dtype) (ag_to_dtype), dtype one of
               float32, int64, bool.
Promotion cases use the existing tokens (mul_scalar, add, div, exp, ...) on
int64 and bool inputs: PyTorch computes those in float32.
"""

import math

import torch

DTYPES = {"float32": torch.float32, "int64": torch.int64, "bool": torch.bool}


def _to(stack, args):
    stack.append(stack.pop().to(DTYPES[args]))


OPS = {"to": _to}

I64_MIN, I64_MAX = -(2 ** 63), 2 ** 63 - 1


def gen(w, uniform):
    # float32 -> int64: truncation toward zero; NaN, inf and out-of-range
    # values are INT64_MIN on x86 (C leaves them undefined: the library
    # defines them so)
    w.case("to int64 from float32", "x to:int64",
           [("x", [0.0, -0.0, 0.5, -0.5, 1.9999, -1.9999, 2.5, -2.5, 1e6, -1e6, 16777216.0,
                   9.2e18, -9.2e18])])
    w.case("to int64 from float32 non-finite and out of range", "x to:int64",
           [("x", [math.nan, math.inf, -math.inf, 1e19, -1e19, 3e38])])
    w.case("to int64 from float32 (2,3)", "x to:int64", [("x", uniform((2, 3), -50, 50))])
    w.case("to bool from float32", "x to:bool",
           [("x", [0.0, -0.0, 1e-30, -2.0, math.nan, math.inf, -math.inf, 1e-45])])
    w.case("to float32 from int64", "x to:float32",
           [("x", [0, 1, -1, 16777217, -16777217, 2 ** 53 + 1, I64_MAX, I64_MIN], torch.int64)])
    w.case("to float32 from bool", "x to:float32",
           [("x", [[True, False, True], [False, False, True]], torch.bool)])
    w.case("to bool from int64", "x to:bool", [("x", [0, 1, -1, I64_MIN, I64_MAX], torch.int64)])
    w.case("to int64 from bool", "x to:int64", [("x", [True, False, False, True], torch.bool)])
    w.case("to int64 from int64 (the same tensor)", "x to:int64", [("x", [3, -4], torch.int64)])
    w.case("to float32 0-dim int64", "x to:float32", [("x", 7, torch.int64)])
    w.case("to int64 empty (2,0)", "x to:int64", [("x", torch.zeros(2, 0).numpy())])
    # a conversion inside a differentiable expression: the float input's
    # gradient flows around it, not through it
    w.case("x * to_float(x > 0-ish via to bool)", "x x to:bool to:float32 mul",
           [("x", [0.0, 2.0, -3.0, 0.5])])

    # promotion: int64 (and bool) operands of float ops compute in float32
    ints = ("k", [[3, -2, 0], [7, 1, -5]], torch.int64)
    w.case("int64 * 0.5", "k mul_scalar:0.5", [ints])
    w.case("int64 + 1.5", "k add_scalar:1.5", [ints])
    w.case("int64 - 2.25", "k sub_scalar:2.25", [ints])
    w.case("2 - int64 (rsub)", "k rsub_scalar:2", [ints])
    w.case("int64 + float32 (broadcast)", "k x add", [ints, ("x", uniform((3,), -2, 2))])
    w.case("float32 * int64", "x k mul", [("x", uniform((2, 3), -2, 2)), ints])
    w.case("float32 + bool", "x m add",
           [("x", uniform((2, 3), -2, 2)), ("m", [[True, False, True], [False, True, True]],
                                          torch.bool)])
    w.case("bool * 2.5", "m mul_scalar:2.5", [("m", [True, False, True], torch.bool)])
    # PyTorch refuses subtraction with a bool tensor
    w.error_case("float32 - bool", "x m sub",
                 [("x", uniform((2,), -2, 2)), ("m", [True, False], torch.bool)])
    w.error_case("bool - 1", "m sub_scalar:1", [("m", [True, False], torch.bool)])
    w.case("int64 / int64 (true division)", "k j div",
           [ints, ("j", [[2, 4, 3], [-2, 3, 1]], torch.int64)])
    w.case("int64 / float32", "k x div", [ints, ("x", uniform((2, 3), 0.5, 2))])
    w.case("exp of int64", "k exp", [ints])
    w.case("sqrt of int64", "k sqrt", [("k", [0, 1, 4, 9, -1], torch.int64)])
    w.case("sin of bool", "m sin", [("m", [True, False], torch.bool)])
