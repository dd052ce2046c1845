#!/usr/bin/python3
"""bench/run.py - builds libautograd's benchmarks (Release) and runs them beside
PyTorch, interleaved, printing one machine-readable line per workload and
thread count:

    case=NAME threads=T ours=X torch=Y ratio=R unit=U [more key=value fields]

ratio is always our speed-up: torch/ours for times, ours/torch for rates
(GFLOP/s), so > 1 means we are faster. Values are medians over the repeats
(each repeat is one process, itself reporting the median of its timed batches).

    usage: /usr/bin/python3 bench/run.py [--quick] [--repeats N] [--cases a,b]
                                          [--native] [--no-build] [--json FILE]

Threads: at "threads=2" ours runs with ag_set_num_threads(2) (ag_bench
--threads 2; ours_threads=2 says so). PyTorch at 1 thread: torch.set_num_threads(1)
and OPENBLAS_NUM_THREADS=1 (Debian's torch does matmuls in OpenBLAS, which
ignores set_num_threads). At 2 threads both of PyTorch's good settings are run
and the better one is reported (torch_cfg=): "t1b2" = 1 torch thread with 2
OpenBLAS threads; "t2b2p" = 2 and 2 with OMP_WAIT_POLICY=PASSIVE.
Order per repeat: ours, torch@1, [OpenBLAS sgemm@1], ours, torch@t1b2, torch@t2b2p.
"""
import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, "build-bench")
DATA = os.path.join(ROOT, "build", "fashion-mnist")
PY = "/usr/bin/python3"
CASES = ["scalar_chain", "seed_step", "mlp_small", "mlp_large", "matmul", "elementwise",
         "fashion_mnist_epoch"]
# heavy cases get fewer repeats in a full run, to stay under ~10 minutes
REPEATS = {"matmul": 3, "fashion_mnist_epoch": 3}
RATE_UNITS = {"GFLOP/s"}

TORCH_CFGS = {
    "t1": (1, {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}),
    "t1b2": (1, {"OPENBLAS_NUM_THREADS": "2", "OMP_NUM_THREADS": "1"}),
    "t2b2p": (2, {"OPENBLAS_NUM_THREADS": "2", "OMP_NUM_THREADS": "2",
                  "OMP_WAIT_POLICY": "PASSIVE"}),
}

LINE = re.compile(r"^result case=(\S+) value=(\S+) unit=(\S+)(.*)$")


def note(msg):
    print("# " + msg, flush=True)


def build(native):
    flags = ["-DCMAKE_BUILD_TYPE=Release", "-DAG_BENCH=ON", "-DAG_TESTS=OFF"]
    flags.append("-DCMAKE_C_FLAGS=" + ("-march=native" if native else ""))
    subprocess.run(["cmake", "-S", ROOT, "-B", BUILD] + flags, check=True,
                   stdout=subprocess.DEVNULL)
    subprocess.run(["cmake", "--build", BUILD, "-j2"], check=True, stdout=subprocess.DEVNULL)


def compile_flags():
    try:
        cache = open(os.path.join(BUILD, "CMakeCache.txt")).read()
        rel = re.search(r"^CMAKE_C_FLAGS_RELEASE:STRING=(.*)$", cache, re.M).group(1)
        base = re.search(r"^CMAKE_C_FLAGS:STRING=(.*)$", cache, re.M).group(1)
        cc = re.search(r"^CMAKE_C_COMPILER:(?:FILEPATH|STRING)=(.*)$", cache, re.M).group(1)
        ver = subprocess.run([cc, "--version"], capture_output=True, text=True).stdout.split("\n")[0]
        return f"{ver}: {base} {rel}".replace("  ", " ").strip()
    except (OSError, AttributeError):
        return "unknown"


def unpack_data():
    """As scripts/fashion_mnist.sh: Debian's dataset-fashion-mnist, gunzipped
    into build/fashion-mnist. Returns False (with a note) if it is missing."""
    src = "/usr/share/datasets/fashion-mnist"
    names = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]
    os.makedirs(DATA, exist_ok=True)
    for f in names:
        dst = os.path.join(DATA, f)
        if os.path.exists(dst):
            continue
        if not os.path.exists(os.path.join(src, f + ".gz")):
            note("fashion_mnist_epoch skipped: no data (apt-get install dataset-fashion-mnist)")
            return False
        with open(dst, "wb") as out:
            subprocess.run(["gzip", "-dc", os.path.join(src, f + ".gz")], stdout=out, check=True)
    return True


def run(cmd, env_extra):
    env = dict(os.environ)
    env.update(env_extra)
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stderr}")
    out = {}
    for line in p.stdout.splitlines():
        m = LINE.match(line)
        if m:
            fields = dict(kv.split("=", 1) for kv in m.group(4).split())
            out[m.group(1)] = {"value": float(m.group(2)), "unit": m.group(3), **fields}
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="shorter timing, 3 repeats, n <= 1024")
    ap.add_argument("--repeats", type=int, default=0)
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--native", action="store_true", help="build with -march=native")
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--json", default=os.path.join(BUILD, "bench-results.json"))
    a = ap.parse_args()
    cases = a.cases.split(",")
    start = time.time()

    if not a.no_build:
        build(a.native)
    ours_bin = os.path.join(BUILD, "bench", "ag_bench")
    blas_bin = os.path.join(BUILD, "bench", "blas_sgemm")
    floor_bin = os.path.join(BUILD, "bench", "ew_floor")
    have_blas = os.path.exists(blas_bin)
    cpu = "unknown"
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        cpu = re.search(r"Model name:\s*(.*)", lscpu).group(1).strip()
    except (OSError, AttributeError):
        pass
    note(f"date {time.strftime('%Y-%m-%d %H:%M:%S %Z')}; machine {cpu}, {os.cpu_count()} CPUs; "
         f"{platform.platform()}")
    note(f"ours built Release: {compile_flags()}")
    note("ratio = our speed-up (torch time / our time; for GFLOP/s our rate / torch's): > 1 means we are faster")
    note("threads=2: ours runs with ag_set_num_threads(2) (ag_bench --threads 2, ours_threads=2)")
    if "elementwise" in cases:
        note("elementwise floor: bench/ew_floor.c, the same memory passes with no math (at threads=2, "
             "each of 2 threads on its half, unsynchronised); torch_over_floor is the largest ratio "
             "an eager implementation could reach")
    note("peak memory: VmHWM (peak RSS) of each benchmark process from /proc/self/status at the result line (torch's includes Python + libtorch)")
    if "matmul" in cases and not have_blas:
        note("matmul: OpenBLAS column skipped: blas_sgemm not built (apt-get install libopenblas-dev)")
    if "fashion_mnist_epoch" in cases and not unpack_data():
        cases.remove("fashion_mnist_epoch")

    quick = ["--quick"] if a.quick else []
    samples = {}   # (name, slot) -> list of result dicts; slot in ours1, ours2, t1, t1b2, t2b2p, blas, floor, floor2

    def add(slot, res):
        for name, r in res.items():
            samples.setdefault((name, slot), []).append(r)

    for case in cases:
        reps = a.repeats or (3 if a.quick else REPEATS.get(case, 5))
        for _ in range(reps):
            def torch(cfg):
                th, env = TORCH_CFGS[cfg]
                return run([PY, "bench/torch_bench.py", case, "--threads", str(th),
                            "--data", DATA] + quick, env)
            add("ours1", run([ours_bin, case, "--data", DATA] + quick, {}))
            add("t1", torch("t1"))
            if case == "matmul" and have_blas:
                add("blas", run([blas_bin] + quick, {"OPENBLAS_NUM_THREADS": "1"}))
            if case == "elementwise" and os.path.exists(floor_bin):
                add("floor", run([floor_bin] + quick, {}))
            add("ours2", run([ours_bin, case, "--data", DATA, "--threads", "2"] + quick, {}))
            if case == "elementwise" and os.path.exists(floor_bin):
                add("floor2", run([floor_bin, "--threads", "2"] + quick, {}))
            add("t1b2", torch("t1b2"))
            add("t2b2p", torch("t2b2p"))
        names = sorted({n for (n, s) in samples if s == "ours1"},
                       key=lambda n: (len(n), n))
        for name in names:
            if not name.startswith(case):
                continue
            emit(name, samples)
        sys.stdout.flush()

    note(f"total {time.time() - start:.0f} s")
    os.makedirs(os.path.dirname(a.json), exist_ok=True)
    with open(a.json, "w") as f:
        json.dump({f"{n}|{s}": v for (n, s), v in samples.items()}, f, indent=1)
    note(f"raw samples in {os.path.relpath(a.json, ROOT)}")


def med(samples, name, slot, key="value"):
    v = samples.get((name, slot))
    if not v:
        return None
    return statistics.median(float(r[key]) for r in v)


def emit(name, samples):
    unit = samples[(name, "ours1")][0]["unit"]
    rate = unit in RATE_UNITS

    def better(x, y):
        return x > y if rate else x < y

    def ratio(ours, torch):
        return ours / torch if rate else torch / ours

    blas = med(samples, name, "blas")
    for threads in (1, 2):
        ours = med(samples, name, "ours1" if threads == 1 else "ours2")
        if threads == 1:
            cfg, torch = "t1", med(samples, name, "t1")
        else:
            a, b = med(samples, name, "t1b2"), med(samples, name, "t2b2p")
            cfg, torch = ("t1b2", a) if better(a, b) else ("t2b2p", b)
        slot = "ours1" if threads == 1 else "ours2"
        line = (f"case={name} threads={threads} ours={ours:.4g} torch={torch:.4g} "
                f"ratio={ratio(ours, torch):.3g} unit={unit}")
        if threads == 2:
            line += f" ours_threads=2 torch_cfg={cfg}"
        if blas is not None and threads == 1:
            line += f" blas1={blas:.4g} ours_vs_blas={ours / blas:.3f}"
        floor = med(samples, name, "floor" if threads == 1 else "floor2")
        if floor is not None:
            # bench/ew_floor.c: the memory passes alone; torch / floor bounds any eager ratio
            line += f" floor={floor:.4g} torch_over_floor={torch / floor:.3g}"
        if "allocs_per_iter" in samples[(name, slot)][0]:
            line += f" ours_allocs_per_iter={med(samples, name, slot, 'allocs_per_iter'):.3g}"
        line += (f" ours_maxrss_kb={max(int(r['maxrss_kb']) for r in samples[(name, slot)])}"
                 f" torch_maxrss_kb={max(int(r['maxrss_kb']) for r in samples[(name, cfg)])}")
        line += f" n={len(samples[(name, slot)])}"
        print(line, flush=True)


if __name__ == "__main__":
    main()
