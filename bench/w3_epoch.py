#!/usr/bin/python3
"""W3 (Fashion-MNIST MLP 784-256-128-10, Adam 3e-3, batch 64): one training epoch in PyTorch,
then one in kiln, in the same run; prints both epoch times and the ratio kiln / PyTorch.

    /usr/bin/python3 bench/w3_epoch.py [--kiln build/tools/kiln] [--repeats 1] [--kiln-threads N]
                                       [--openblas-dir DIR] [--openblas-coretype NAME]
                                       [--device cpu|cuda] [--data-dir DIR]

With --device cuda both run on the GPU: PyTorch with the data set resident on the device, the
loss summed on the device (no per-step host sync), after one untimed warm-up epoch, in three
settings — eager with the default Adam, eager with Adam(fused=True), and torch.compile(mode=
"reduce-overhead") (CUDA graphs) with the fused Adam — and the best is the peer; kiln runs
`kiln train --device cuda` (its CUDA graphs, inputs copied while the previous step computes).

PyTorch runs in its fastest setting on this 2-core machine (see ../shared/BASELINES.md):
torch.set_num_threads(1) and OPENBLAS_NUM_THREADS=1 (set below, before numpy/torch load
OpenBLAS). Its data pipeline is the recipe's: the real Fashion-MNIST IDX files read with
gzip + numpy, x / 255, Normalize(0.5, 0.5), shuffled batches of 64 (the last one 32), Adam(3e-3),
log_softmax + nll_loss. The data set is decoded and normalized once, before the clock starts,
as kiln does; each step gathers its shuffled batch, runs forward, backward and the Adam step.

PyTorch's GEMMs are only as fast as the BLAS it loads. Debian's python3-torch links libblas.so.3,
which is OpenBLAS only if libopenblas0 is installed (else the ~30x slower reference BLAS), and
OpenBLAS 0.3.21 picks its kernels from the CPU model, falling back to "Prescott" (SSE3) on a
virtual CPU it does not recognise. The PyTorch epoch therefore runs in a child process whose
environment can point at an OpenBLAS (--openblas-dir, e.g. one extracted with `apt-get download
libopenblas0-pthread; dpkg-deb -x`) and force its kernels (--openblas-coretype Haswell|Zen|
SkylakeX); the script prints which BLAS and core PyTorch actually used.

kiln runs `kiln train examples/fashion_mlp.kiln --epochs 1 --metrics-out FILE`; its "seconds"
field is training time only (evaluation is reported separately), the same span timed for PyTorch.
"""

import os

os.environ["OPENBLAS_NUM_THREADS"] = "1"  # Must precede the numpy / torch imports.

import argparse
import gzip
import json
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
import torch.nn.functional as F

DATA_DIR = os.environ.get("KILN_BENCH_DATA_DIR", "/usr/share/datasets/fashion-mnist")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def read_idx(name, header):
    """An IDX file, gzipped (Debian's) or raw (the GPU bundle's, which kiln reads too)."""
    path = os.path.join(DATA_DIR, name)
    with (gzip.open(path, "rb") if os.path.exists(path) else open(path[:-3], "rb")) as f:
        return np.frombuffer(f.read()[header:], dtype=np.uint8)


def load_train():
    pixels = read_idx("train-images-idx3-ubyte.gz", 16).reshape(-1, 784)
    labels = read_idx("train-labels-idx1-ubyte.gz", 8).astype(np.int64)
    x = (pixels.astype(np.float32) / 255.0 - 0.5) / 0.5
    return torch.from_numpy(x), torch.from_numpy(labels)


def loaded_blas():
    """The BLAS / LAPACK shared objects mapped into this process."""
    with open("/proc/self/maps") as maps:
        paths = {line.split()[-1] for line in maps if "blas" in line or "lapack" in line}
    return sorted(p for p in paths if p.startswith("/"))


def pytorch_epoch(x, y, seed):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(),
                                torch.nn.Linear(256, 128), torch.nn.ReLU(),
                                torch.nn.Linear(128, 10), torch.nn.LogSoftmax(dim=1))
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3, betas=(0.9, 0.999), eps=1e-8)
    model.train()
    start = time.perf_counter()
    order = torch.randperm(x.shape[0])
    total, count = 0.0, 0
    for first in range(0, x.shape[0], 64):
        idx = order[first:first + 64]
        xb, yb = x[idx], y[idx]
        optimizer.zero_grad(set_to_none=True)
        loss = F.nll_loss(model(xb), yb)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(idx)
        count += len(idx)
    return time.perf_counter() - start, total / count


def pytorch_cuda_epochs(x, y, variant, repeats):
    """Epoch times on the GPU: one untimed warm-up epoch, then `repeats` timed ones."""
    torch.manual_seed(0)
    device = torch.device("cuda")
    x, y = x.to(device), y.to(device)
    model = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(),
                                torch.nn.Linear(256, 128), torch.nn.ReLU(),
                                torch.nn.Linear(128, 10), torch.nn.LogSoftmax(dim=1)).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3, betas=(0.9, 0.999), eps=1e-8,
                                 fused=variant != "eager")
    forward = torch.compile(model, mode="reduce-overhead") if variant == "compiled" else model
    model.train()
    results = []
    for epoch in range(repeats + 1):
        torch.cuda.synchronize()
        start = time.perf_counter()
        order = torch.randperm(x.shape[0], device=device)
        total = torch.zeros((), device=device)
        for first in range(0, x.shape[0], 64):
            idx = order[first:first + 64]
            xb, yb = x[idx], y[idx]
            optimizer.zero_grad(set_to_none=True)
            loss = F.nll_loss(forward(xb), yb)
            loss.backward()
            optimizer.step()
            total += loss.detach() * len(idx)
        mean_loss = (total / x.shape[0]).item()  # Synchronizes.
        if epoch > 0:
            results.append((time.perf_counter() - start, mean_loss))
    return results


def kiln_epoch(binary, threads, device="cpu", epochs=1):
    with tempfile.TemporaryDirectory() as tmp:
        metrics = os.path.join(tmp, "metrics.json")
        command = [binary, "train", os.path.join(ROOT, "examples/fashion_mlp.kiln"),
                   "--epochs", str(epochs), "--metrics-out", metrics, "--data-dir", DATA_DIR]
        if device != "cpu":
            command += ["--device", device]
        if threads:
            command += ["--threads", str(threads)]
        run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        if run.returncode != 0:
            sys.exit("kiln failed (exit %d):\n%s%s" % (run.returncode, run.stdout, run.stderr))
        with open(metrics) as f:
            epochs = json.load(f)["epochs"]
        # The fastest epoch: the first also loads modules and captures graphs.
        epoch = min(epochs, key=lambda e: e["seconds"])
        return epoch["seconds"], epoch["train_loss"], epochs[-1].get("test_accuracy"), run.stdout


def pytorch_child(repeats):
    """Runs in the child process: prints one JSON line with the epoch times."""
    torch.set_num_threads(1)
    x, y = load_train()
    results = [pytorch_epoch(x, y, seed=r) for r in range(repeats)]
    print(json.dumps({"epochs": results, "blas": loaded_blas(),
                      "coretype": os.environ.get("OPENBLAS_CORETYPE", "auto")}))


def run_pytorch(args):
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    if args.openblas_dir:
        env["LD_LIBRARY_PATH"] = args.openblas_dir + ":" + env.get("LD_LIBRARY_PATH", "")
    if args.openblas_coretype:
        env["OPENBLAS_CORETYPE"] = args.openblas_coretype
    env["OPENBLAS_VERBOSE"] = "2"  # OpenBLAS prints "Core: <name>" (the kernels it chose).
    run = subprocess.run([sys.executable, os.path.abspath(__file__), "--pytorch-child",
                          "--repeats", str(args.repeats)], env=env, capture_output=True, text=True)
    if run.returncode != 0:
        sys.exit("PyTorch child failed:\n" + run.stdout + run.stderr)
    lines = run.stdout.strip().splitlines()
    result = json.loads(lines[-1])
    cores = [l.split(":", 1)[1].strip() for l in (run.stdout + run.stderr).splitlines()
             if l.startswith("Core:") or " Core: " in l]
    result["core"] = cores[0] if cores else "n/a (not OpenBLAS)"
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kiln", default=os.path.join(ROOT, "build/tools/kiln"),
                        help="the kiln binary (default: build/tools/kiln)")
    parser.add_argument("--repeats", type=int, default=1,
                        help="epochs to time for each (the best is compared)")
    parser.add_argument("--kiln-threads", type=int, default=0,
                        help="kiln --threads (default: kiln's own, one per core)")
    parser.add_argument("--openblas-dir", default="",
                        help="directory with an OpenBLAS libblas.so.3 for PyTorch to load")
    parser.add_argument("--openblas-coretype", default="",
                        help="OPENBLAS_CORETYPE for PyTorch (e.g. Haswell, Zen, SkylakeX)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"],
                        help="where both run (cuda: PyTorch and kiln on the GPU)")
    parser.add_argument("--pytorch-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.pytorch_child:
        pytorch_child(args.repeats)
        return 0
    if args.device == "cuda":
        return main_cuda(args)
    if not os.path.exists(os.path.join(DATA_DIR, "train-images-idx3-ubyte.gz")):
        sys.exit("%s is missing (Debian package dataset-fashion-mnist)" % DATA_DIR)
    if not os.access(args.kiln, os.X_OK):
        sys.exit("%s is not built (ninja -C build kiln)" % args.kiln)

    print("1-minute load average %.2f on %d cores" % (os.getloadavg()[0], os.cpu_count()))
    torch_result = run_pytorch(args)
    blas = ", ".join(os.path.basename(p) for p in torch_result["blas"] if "lapack" not in p)
    for seconds, loss in torch_result["epochs"]:
        print("pytorch %s (1 thread, OPENBLAS_NUM_THREADS=1; BLAS %s, core %s): epoch %.3f s  "
              "train_loss %.4f" % (torch.__version__, blas, torch_result["core"], seconds, loss))
    if not any("openblas" in p for p in torch_result["blas"]):
        print("WARNING: PyTorch is not using OpenBLAS (%s); ../shared/BASELINES.md assumes "
              "OpenBLAS 0.3.21 — see --openblas-dir" % blas)
    elif torch_result["core"] in ("Prescott", "Core2", "Nehalem", "Atom"):
        print("WARNING: OpenBLAS chose the %s kernels (no AVX2); see --openblas-coretype" %
              torch_result["core"])
    kiln_times = []
    for r in range(args.repeats):
        seconds, loss, accuracy, _ = kiln_epoch(args.kiln, args.kiln_threads)
        kiln_times.append(seconds)
        print("kiln (%s threads): epoch %.3f s  train_loss %.4f  test_acc %s" %
              (args.kiln_threads or "default", seconds, loss,
               "%.4f" % accuracy if accuracy is not None else "n/a"))
    best_torch = min(seconds for seconds, _ in torch_result["epochs"])
    best_kiln = min(kiln_times)
    print("W3 epoch (training only): pytorch %.3f s, kiln %.3f s, kiln/pytorch %.2f "
          "(1-minute load average now %.2f)" %
          (best_torch, best_kiln, best_kiln / best_torch, os.getloadavg()[0]))
    return 0


def main_cuda(args):
    print("GPU: %s; PyTorch %s" % (torch.cuda.get_device_name(0), torch.__version__))
    x, y = load_train()
    best = {}
    for variant in ("eager", "fused", "compiled"):
        try:
            runs = pytorch_cuda_epochs(x, y, variant, args.repeats)
        except Exception as error:  # torch.compile may be unavailable; the others still count.
            print("pytorch %s: failed (%s)" % (variant, str(error).splitlines()[0][:200]))
            continue
        for seconds, loss in runs:
            print("pytorch cuda %-8s: epoch %.3f s  train_loss %.4f" % (variant, seconds, loss))
        best[variant] = min(seconds for seconds, _ in runs)
    seconds, loss, accuracy, out = kiln_epoch(args.kiln, 0, "cuda", epochs=args.repeats + 1)
    print(out.strip().splitlines()[0])
    print("kiln cuda: best epoch %.3f s  train_loss %.4f  test_acc %s" %
          (seconds, loss, "%.4f" % accuracy if accuracy is not None else "n/a"))
    peer, peer_seconds = min(best.items(), key=lambda item: item[1])
    print("W3 epoch on the GPU (training only): pytorch (%s, its best of %s) %.3f s, kiln %.3f s, "
          "kiln/pytorch %.2f" % (peer, "/".join(best), peer_seconds, seconds, seconds / peer_seconds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
