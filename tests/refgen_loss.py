"""refgen_loss.py - gen_reference.py's tokens and cases for the fused losses.

Tokens (name:args, see gen_reference.py):
  mse_loss:R                 pops target, input; F.mse_loss(input, target, reduction=R)
  cross_entropy:R:I:S:W:T    pops input; F.cross_entropy(input, T, weight=W,
                             ignore_index=I, reduction=R, label_smoothing=S), where
                             T is the class-index target as a comma list in
                             row-major order (reshaped to input's shape without
                             dim 1) and W a comma list of class weights or empty
  cross_entropy_prob:R:S:W   pops target, input; the same with a probability target
  affine                     pops b, w, x; F.linear(x, w, b)
  affine_nobias              pops w, x; F.linear(x, w)
R is mean, sum or none.
"""

import torch
import warnings

import torch.nn.functional as F

warnings.filterwarnings("ignore", message="Using a target size")  # broadcast mse cases are deliberate


def _weights(field):
    return torch.tensor([float(v) for v in field.split(",")]) if field else None


def _target_shape(x):
    return () if x.dim() == 1 else tuple(x.shape[:1]) + tuple(x.shape[2:])


def mse(stack, args):
    b = stack.pop()
    a = stack.pop()
    stack.append(F.mse_loss(a, b, reduction=args))


def ce(stack, args):
    red, ign, ls, w, tg = args.split(":")
    x = stack.pop()
    t = torch.tensor([int(v) for v in tg.split(",")], dtype=torch.long)
    t = t.reshape(_target_shape(x))
    stack.append(F.cross_entropy(x, t, weight=_weights(w), ignore_index=int(ign),
                                 reduction=red, label_smoothing=float(ls)))


def ce_prob(stack, args):
    red, ls, w = args.split(":")
    t = stack.pop()
    x = stack.pop()
    stack.append(F.cross_entropy(x, t, weight=_weights(w), reduction=red,
                                 label_smoothing=float(ls)))


def affine(stack, args):
    b = stack.pop()
    w = stack.pop()
    stack.append(F.linear(stack.pop(), w, b))


def affine_nobias(stack, args):
    w = stack.pop()
    stack.append(F.linear(stack.pop(), w))


OPS = {"mse_loss": mse, "cross_entropy": ce, "cross_entropy_prob": ce_prob,
       "affine": affine, "affine_nobias": affine_nobias}

REDUCTIONS = ["mean", "sum", "none"]


def gen(w, uniform):
    """Adds this family's cases to the writer w."""
    g = torch.Generator().manual_seed(4242)

    def targets(shape, c, ignore=None, ignore_every=0):
        n = 1
        for d in shape:
            n *= d
        t = torch.randint(0, c, (n,), generator=g).tolist()
        if ignore_every:
            t = [ignore if i % ignore_every == 1 else v for i, v in enumerate(t)]
        return ",".join(str(v) for v in t)

    # affine (F.linear): every rank of x, with and without bias, a weight used twice
    for xs, o in [((5, 3), 2), ((3,), 4), ((2, 4, 3), 2), ((2, 1, 3, 5), 3), ((0, 3), 2),
                  ((7, 33), 17), ((1, 1), 1)]:
        i = xs[-1]
        w.case("affine x%s out %d" % (xs, o), "x w b affine",
               [("x", uniform(xs, -2, 2)), ("w", uniform((o, i), -1, 1)),
                ("b", uniform((o,), -1, 1))])
        w.case("affine_nobias x%s out %d" % (xs, o), "x w affine_nobias",
               [("x", uniform(xs, -2, 2)), ("w", uniform((o, i), -1, 1))])
    w.case("affine of affine with one weight", "x w b affine w b affine",
           [("x", uniform((4, 3), -1, 1)), ("w", uniform((3, 3), -1, 1)),
            ("b", uniform((3,), -1, 1))])
    w.case("affine then mse with the input", "x w b affine x mse_loss:mean",
           [("x", uniform((5, 3), -1, 1)), ("w", uniform((3, 3), -1, 1)),
            ("b", uniform((3,), -1, 1))])
    w.error_case("affine in-size mismatch", "x w b affine",
                 [("x", uniform((5, 3), -1, 1)), ("w", uniform((2, 4), -1, 1)),
                  ("b", uniform((2,), -1, 1))])
    w.error_case("affine bias of the wrong size", "x w b affine",
                 [("x", uniform((5, 3), -1, 1)), ("w", uniform((2, 3), -1, 1)),
                  ("b", uniform((3,), -1, 1))])

    # mse_loss: every reduction, same and broadcast shapes, a 0-dim pair
    for red in REDUCTIONS:
        for sa, sb in [((5, 2), (5, 2)), ((), ()), ((3,), (3,)), ((2, 3), (3,)),
                       ((4, 1), (1, 3)), ((0, 2), (0, 2))]:
            w.case("mse_loss %s %s %s" % (red, sa, sb), "x y mse_loss:" + red,
                   [("x", uniform(sa, -2, 2)), ("y", uniform(sb, -2, 2))])
    w.case("mse_loss of x with itself", "x x mse_loss:mean", [("x", uniform((3,), -1, 1))])
    w.case("mse_loss(x*x, x)", "x x mul x mse_loss:sum", [("x", uniform((4,), -1, 1))])
    w.error_case("mse_loss shapes that cannot broadcast", "x y mse_loss:mean",
                 [("x", uniform((2, 3), -1, 1)), ("y", uniform((4,), -1, 1))])

    # cross_entropy with index targets
    shapes = [(5, 3), (3,), (2, 4, 3), (2, 3, 2, 2), (1, 1), (4, 2)]
    for red in REDUCTIONS:
        for s in shapes:
            c = s[0] if len(s) == 1 else s[1]
            ts = _target_shape(torch.empty(s))
            for wts in ["", ",".join(["0.5", "2", "1", "0.25"][:c])]:
                for ls in ["0", "0.1"]:
                    tg = targets(ts, c)
                    w.case("cross_entropy %s %s w=%s ls=%s" % (red, s, wts or "-", ls),
                           "x cross_entropy:%s:-100:%s:%s:%s" % (red, ls, wts, tg),
                           [("x", uniform(s, -3, 3))])
    # ignore_index, default and custom; all ignored
    for red in REDUCTIONS:
        for wts in ["", "1,2,0.5"]:
            for ls in ["0", "0.2"]:
                w.case("cross_entropy ignore_index -100 %s w=%s ls=%s" % (red, wts or "-", ls),
                       "x cross_entropy:%s:-100:%s:%s:%s" % (red, ls, wts,
                                                              targets((6,), 3, -100, 3)),
                       [("x", uniform((6, 3), -3, 3))])
        w.case("cross_entropy ignore_index 1 " + red,
               "x cross_entropy:%s:1:0:0.5,2,1:0,1,2,1,0" % red, [("x", uniform((5, 3), -3, 3))])
        w.case("cross_entropy ignore_index 2, K-dim " + red,
               "x cross_entropy:%s:2:0.1::0,2,1,2,2,0" % red, [("x", uniform((2, 3, 3), -3, 3))])
    w.case("cross_entropy all targets ignored, mean", "x cross_entropy:mean:-100:0::-100,-100",
           [("x", uniform((2, 3), -1, 1))])
    w.case("cross_entropy all targets ignored, sum", "x cross_entropy:sum:-100:0::-100,-100",
           [("x", uniform((2, 3), -1, 1))])
    # large logits stay finite
    x = uniform((3, 4), -1, 1)
    x[0, 0], x[1, 2], x[2, 1], x[2, 3] = 1000, -1000, 1000, -1000
    for red in REDUCTIONS:
        w.case("cross_entropy logits +/-1000 " + red,
               "x cross_entropy:%s:-100:0.1:1,2,0.5,1:0,0,3" % red, [("x", x)])
    w.case("cross_entropy label_smoothing 1", "x cross_entropy:mean:-100:1::0,2",
           [("x", uniform((2, 3), -2, 2))])
    w.case("cross_entropy of a composite", "x x mul x add cross_entropy:sum:-100:0::1,0,2",
           [("x", uniform((3, 3), -1, 1))])
    w.error_case("cross_entropy target out of range", "x cross_entropy:mean:-100:0::0,3",
                 [("x", uniform((2, 3), -1, 1))])
    w.error_case("cross_entropy negative target", "x cross_entropy:mean:-100:0::0,-1",
                 [("x", uniform((2, 3), -1, 1))])
    w.error_case("cross_entropy weight of the wrong length", "x cross_entropy:mean:-100:0:1,2:0,1",
                 [("x", uniform((2, 3), -1, 1))])
    w.error_case("cross_entropy label_smoothing > 1", "x cross_entropy:mean:-100:1.5::0,1",
                 [("x", uniform((2, 3), -1, 1))])

    # cross_entropy with probability targets
    for red in REDUCTIONS:
        for s in [(4, 3), (3,), (2, 3, 2)]:
            for wts in ["", "0.5,2,1"]:
                for ls in ["0", "0.15"]:
                    p = torch.softmax(torch.tensor(uniform(s, -2, 2)), dim=0 if len(s) == 1 else 1)
                    w.case("cross_entropy_prob %s %s w=%s ls=%s" % (red, s, wts or "-", ls),
                           "x p cross_entropy_prob:%s:%s:%s" % (red, ls, wts),
                           [("x", uniform(s, -3, 3)), ("p", p.numpy())])
    w.error_case("cross_entropy_prob target shape mismatch", "x p cross_entropy_prob:mean:0:",
                 [("x", uniform((2, 3), -1, 1)), ("p", uniform((2, 4), 0, 1))])
