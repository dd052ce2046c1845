#!/usr/bin/python3
"""torch_bench.py - PyTorch's side of the benchmark suite: the same work as
bench/ag_bench.c, case by case, with the same timing rule.

    usage: /usr/bin/python3 bench/torch_bench.py CASE [--quick] [--data DIR] [--threads N]

--threads N calls torch.set_num_threads(N) (default 1). OpenBLAS, which does
Debian's torch matmuls, does not obey it: bench/run.py sets
OPENBLAS_NUM_THREADS (and OMP_WAIT_POLICY) in the environment.

Prints lines in ag_bench's format:
    result case=NAME value=V unit=U maxrss_kb=K
(maxrss_kb is the whole process: Python and libtorch included).
"""
import argparse
import math
import os
import resource
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

QUICK = False


def maxrss_kb():
    """Peak RSS of this process image (VmHWM), as ag_bench.c; ru_maxrss if
    /proc is missing (Linux carries ru_maxrss across exec)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def report(name, value, unit, extra=""):
    print(f"result case={name} value={value:.6g} unit={unit} maxrss_kb={maxrss_kb()}"
          + (" " + extra if extra else ""), flush=True)


def measure(fn, budget):
    """ag_bench.c's measure(): one warm-up call, one timed call to size the
    batches (>= 20 ms each), then 3..15 batches (7 with --quick); the median
    seconds per call."""
    min_batch = 0.02
    fn()
    t0 = time.perf_counter()
    fn()
    one = max(time.perf_counter() - t0, 1e-9)
    inner = max(1, math.ceil(min_batch / one))
    batches = int(budget / (one * inner))
    batches = min(max(batches, 3), 7 if QUICK else 15)
    per = []
    for _ in range(batches):
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        per.append((time.perf_counter() - t0) / inner)
    return statistics.median(per)


CHAIN_OPS = 10000


def bench_scalar_chain():
    x = torch.tensor(0.3, requires_grad=True)
    w = torch.tensor(0.5, requires_grad=True)

    def it():
        # ag_zero_grad: keep the grads' memory, zero them
        if x.grad is not None:
            x.grad.zero_()
            w.grad.zero_()
        y = x
        for i in range(CHAIN_OPS):
            k = i % 6
            if k == 0:
                y = torch.sin(y)
            elif k == 1:
                y = y * w
            elif k == 2:
                y = y + x
            elif k == 3:
                y = y ** 2.0
            elif k == 4:
                y = torch.exp(y)
            else:
                y = torch.sqrt(y)
        y.backward()

    s = measure(it, 0.3 if QUICK else 0.5)
    report("scalar_chain", s / CHAIN_OPS * 1e9, "ns/op")


def make_train(sizes, batch, ce, seed):
    torch.manual_seed(seed)
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(torch.nn.Linear(sizes[i], sizes[i + 1]))
        if i + 2 < len(sizes):
            layers.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*layers)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x = torch.rand(batch, sizes[0]) * 2 - 1
    if ce:
        y = torch.randint(0, sizes[-1], (batch,))
        lossf = F.cross_entropy
    else:
        y = torch.rand(batch, sizes[-1]) * 2 - 1
        lossf = F.mse_loss

    def it():
        opt.zero_grad()      # set_to_none=False in 1.13, as ag_optim_zero_grad
        loss = lossf(model(x), y)
        loss.backward()
        opt.step()
    return it


def bench_seed_step():
    it = make_train([3, 2], 5, False, 1)
    report("seed_step", measure(it, 0.3 if QUICK else 0.5) * 1e6, "us/step")


def mlp_flops(sizes, batch):
    return sum(2.0 * batch * sizes[i] * sizes[i + 1] * (2 if i == 0 else 3)
               for i in range(len(sizes) - 1))


def bench_mlp(name, sizes, batch, gflops):
    it = make_train(sizes, batch, True, 2)
    s = measure(it, 0.5 if QUICK else 0.8)
    report(name, s * 1e3, "ms/step")
    if gflops:
        report(name + "_gflops", mlp_flops(sizes, batch) / s * 1e-9, "GFLOP/s")


def bench_matmul():
    torch.manual_seed(3)
    for n in (64, 128, 256, 512, 1024, 2048):
        if QUICK and n > 1024:
            break
        a = torch.rand(n, n) * 2 - 1
        b = torch.rand(n, n) * 2 - 1
        s = measure(lambda: torch.matmul(a, b), 0.3 if QUICK else (1.2 if n >= 2048 else 0.4))
        report(f"matmul_{n}", 2.0 * n ** 3 / s * 1e-9, "GFLOP/s")
        del a, b


def bench_elementwise():
    torch.manual_seed(4)
    for n, name in ((1 << 20, "elementwise_1M"), (1 << 24, "elementwise_16M")):
        x = (torch.rand(n) * 4 - 2).requires_grad_()
        seed = torch.ones(n)

        def it():
            if x.grad is not None:
                x.grad.zero_()
            y = torch.exp(x) * torch.sin(x) + torch.sqrt(torch.abs(x))
            y.backward(seed)

        s = measure(it, 0.3 if QUICK else 0.5)
        report(name, s / n * 1e9, "ns/elem")
        del x, seed


def read_idx(path, offset):
    with open(path, "rb") as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=offset)


def bench_fashion(data):
    img = read_idx(os.path.join(data, "train-images-idx3-ubyte"), 16)
    lab = read_idx(os.path.join(data, "train-labels-idx1-ubyte"), 8)
    n = lab.shape[0]
    # as ag_bench.c: scaled to [0, 1], standardised with the training set's
    # mean and std (sums in float64, in chunks, so no float64 copy of the set)
    x = img.reshape(n, 784).astype(np.float32)
    x /= 255.0
    tot = sq = 0.0
    for i in range(0, n, 5000):
        c = x[i:i + 5000].astype(np.float64)
        tot += c.sum()
        sq += (c * c).sum()
    cnt = float(n * 784)
    mean = tot / cnt
    sd = math.sqrt((sq - cnt * mean * mean) / (cnt - 1))
    x -= np.float32(mean)
    x /= np.float32(sd)
    xs = torch.from_numpy(x)
    ys = torch.from_numpy(lab.astype(np.int64))
    torch.manual_seed(1)
    model = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    batch = 128
    steps = n // batch
    g = torch.Generator().manual_seed(1)
    for pass_ in range(2):     # 5 warm-up steps, then one timed epoch
        nsteps = 5 if pass_ == 0 else steps
        t0 = time.perf_counter()
        order = torch.randperm(n, generator=g)
        loss_sum = 0.0
        correct = 0
        for s in range(nsteps):
            idx = order[s * batch:(s + 1) * batch]
            xb = xs[idx]
            yb = ys[idx]
            for grp in opt.param_groups:
                grp["lr"] = 1e-3 * 0.5 * (1.0 + math.cos(math.pi * s / steps))
            logits = model(xb)
            loss = F.cross_entropy(logits, yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            loss_sum += loss.item()
            correct += int((logits.argmax(1) == yb).sum())
        if pass_ == 1:
            secs = time.perf_counter() - t0
            report("fashion_mnist_epoch", secs, "s",
                   f"loss={loss_sum / steps:.4f} train_acc={correct / (steps * batch):.4f}")


def main():
    global QUICK
    ap = argparse.ArgumentParser()
    ap.add_argument("case")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--data", default="build/fashion-mnist")
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    QUICK = a.quick
    torch.set_num_threads(a.threads)
    cases = {
        "scalar_chain": bench_scalar_chain,
        "seed_step": bench_seed_step,
        "mlp_small": lambda: bench_mlp("mlp_small", [784, 256, 10], 128, False),
        "mlp_large": lambda: bench_mlp("mlp_large", [784, 1024, 1024, 10], 256, True),
        "matmul": bench_matmul,
        "elementwise": bench_elementwise,
        "fashion_mnist_epoch": lambda: bench_fashion(a.data),
    }
    if a.case not in cases:
        sys.exit(f"torch_bench: unknown case {a.case}")
    cases[a.case]()


if __name__ == "__main__":
    main()
