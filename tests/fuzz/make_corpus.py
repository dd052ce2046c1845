#!/usr/bin/env python3
"""make_corpus.py - writes the seed corpus of fuzz_api.c into tests/fuzz/corpus/.

Each seed is a small program in fuzz_api's byte layout (see the readers in
fuzz_api.c: every value is one byte): the allocator mode, six leaves, then
steps. The seeds only give the fuzzer a start (a training step, losses, shape
ops, a tiled backward, allocation failures); libFuzzer mutates from there.
Run: python3 tests/fuzz/make_corpus.py"""
import os

OPS = dict(add=0, sub=1, mul=2, matmul=7, exp=11, sin=12, sqrt=13, abs=17, tanh=18, relu=20,
           detach=21, pow=31, sum=33, mean=34, logsumexp=37, reshape=40, permute=46, cat=48,
           stack=49, narrow=50, index_select=52, gather=53, var=55, softmax=59, log_softmax=60,
           mse=62, ce_prob=63, ce=64, linear=65, backward=67, backward_seed=69, reset=70,
           optim=73, optim_op=74, zero_grad=75, retain=76, fill=78, snprint=79, gradcheck=80)
LEAF, GRAD, NULL, LATEST = 0, 56, 64, 248      # pick bytes: watched k is LEAF + k

def f(v): return int(v * 16) + 104             # fval: v in [-6.5, 6.4], steps of 1/16
def i(v): return v + 10                        # ival: -10..10
def l(v): return 237 if v == -100 else v + 8   # lval: -8..8, and -100

def leaf(shape, rg=True, vals=(1, 2, -1, 0.5, 3, -2, 0.25, 4)):
    kind = 3 if not shape else 5                # ag_scalar or ag_tensor_new(data)
    return [len(shape)] + list(shape) + [kind << 1 | rg] + [f(v) for v in vals]

def big_leaf():                                 # (2, 2100): backward's tiled runs
    return [252, 1, 1, 52, 5 << 1 | 1] + [f(v) for v in (0.5, -1, 2, 0.25, 1.5, -0.5, 3, 1)]

def step(op, a=LEAF, b=LEAF + 1, tape=0, flags=0, sizes=(), dims=(), idx=(), nd=0, d0=0,
         d1=0, s=1.0, s2=1.0, extra=(), sgd=False):
    tb = (3 if tape else 0) | flags             # flags: 16, 32 (keepdim), 64 (dims 0..3)
    out = [0, OPS[op] + (86 if sgd else 0), tb, a, b]    # 73 + 86: SGD
    for k in range(8):
        out.append((sizes[k] + (k == 1)) if k < len(sizes) else 0)
        if not (k < 4 and tb & 64):
            out.append(i(dims[k]) if k < len(dims) else i(0))
        out.append(l(idx[k]) if k < len(idx) else l(0))
    return out + [nd + 2, i(d0), i(d1), f(s), f(s2)] + list(extra)

def program(leaves, steps, mode=0, nth=0):
    leaves = leaves + [leaf(())] * (6 - len(leaves))
    return bytes([mode, nth] + sum(leaves, []) + sum(steps, []))

# the tutorial: y = w*x + b, backward, then SGD on w and b (op 73 | 128: SGD)
seeds = {
    'tutorial': program([leaf(()), leaf(()), leaf(())], [
        step('mul', LEAF, LEAF + 1), step('add', LATEST, LEAF + 2), step('backward', LATEST),
        step('optim', flags=32, s=0.5, extra=[0, 2, 0, 0, 3], sgd=True),
        step('optim_op', flags=1)]),
    'linear_mse_adam': program([leaf((5, 3), False), leaf((5, 2), False)], [
        step('linear', flags=32, d0=3, d1=2), step('linear', a=LEAF), step('mse', LATEST, LEAF + 1),
        step('backward', LATEST), step('optim', extra=[6, 7, 0, 0, 3]), step('optim_op')]),
    'cross_entropy': program([leaf((3, 5)), leaf((5,), False)], [
        step('ce', idx=(-100, 0, 4), s=0.25), step('backward', LATEST),
        step('log_softmax', d0=1), step('ce', LEAF, LEAF + 1, flags=16, idx=(-100, -100, 1), s=0),
        step('ce_prob', LEAF, LEAF, s=0),
        step('backward', LATEST)]),
    'shapes': program([leaf((2, 3)), leaf((3, 2)), leaf((2,), False)], [
        step('matmul'), step('retain', LATEST), step('reshape', LATEST, nd=1, sizes=(4,)),
        step('permute', LEAF, nd=2, dims=(1, 0)), step('cat', LEAF, LEAF, d0=1,
        extra=[LEAF, LEAF, 3]), step('narrow', LATEST, d0=1, idx=(1, 3)),
        step('index_select', LEAF, nd=3, idx=(1, 0, 1)),
        step('gather', LEAF, d0=1, sizes=(2, 2), idx=(0, 2, 1, 1)),
        step('var', LEAF, flags=64 | 32, nd=1, idx=(1,)), step('softmax', LEAF, d0=-1),
        step('backward_seed', LATEST, flags=16), step('snprint', GRAD + 4, extra=[40])]),
    'tiled': program([big_leaf()], [
        step('exp', LEAF), step('sin', LEAF), step('mul', LATEST, LEAF), step('abs', LEAF),
        step('sqrt', LATEST), step('add', LATEST, LEAF), step('tanh', LATEST),
        step('backward_seed', LATEST, flags=16), step('relu', LEAF), step('pow', LATEST, s=2),
        step('backward_seed', LATEST, flags=16)]),
    'errors': program([leaf((2, 3)), leaf((4, 5))], [
        step('add', LEAF, LEAF + 1), step('exp', NULL), step('reset'), step('exp', LEAF, tape=1),
        step('add', LEAF, LEAF, tape=0), step('backward', NULL), step('reset'),
        step('sum', LEAF, nd=2, dims=(0, 0)), step('gradcheck', LEAF, LEAF, d0=1)]),
}
seeds['tutorial_oom'] = bytes([1, 9]) + seeds['tutorial'][2:]         # 10th allocation fails
seeds['linear_oom'] = bytes([3, 6]) + seeds['linear_mse_adam'][2:]    # the 7th and after
seeds['shapes_budget'] = bytes([2, 4]) + seeds['shapes'][2:]          # 80 KB in all

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'corpus')
os.makedirs(out, exist_ok=True)
for name, data in seeds.items():
    with open(os.path.join(out, name), 'wb') as fh:
        fh.write(data)
