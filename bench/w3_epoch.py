#!/usr/bin/python3
"""W3 (Fashion-MNIST MLP 784-256-128-10, Adam 3e-3, batch 64): one training epoch in PyTorch,
then one in kiln, in the same run; prints both epoch times and the ratio kiln / PyTorch.

    /usr/bin/python3 bench/w3_epoch.py [--kiln build/tools/kiln] [--repeats 1] [--kiln-threads N]

PyTorch runs in its fastest setting on this 2-core machine (see /work/shared/BASELINES.md):
torch.set_num_threads(1) and OPENBLAS_NUM_THREADS=1 (set below, before numpy/torch load
OpenBLAS). Its data pipeline is the recipe's: the real Fashion-MNIST IDX files read with
gzip + numpy, x / 255, Normalize(0.5, 0.5), shuffled batches of 64 (the last one 32), Adam(3e-3),
log_softmax + nll_loss. The data set is decoded and normalized once, before the clock starts,
as kiln does; each step gathers its shuffled batch, runs forward, backward and the Adam step.

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

DATA_DIR = "/usr/share/datasets/fashion-mnist"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def read_idx(name, header):
    with gzip.open(os.path.join(DATA_DIR, name), "rb") as f:
        return np.frombuffer(f.read()[header:], dtype=np.uint8)


def load_train():
    pixels = read_idx("train-images-idx3-ubyte.gz", 16).reshape(-1, 784)
    labels = read_idx("train-labels-idx1-ubyte.gz", 8).astype(np.int64)
    x = (pixels.astype(np.float32) / 255.0 - 0.5) / 0.5
    return torch.from_numpy(x), torch.from_numpy(labels)


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


def kiln_epoch(binary, threads):
    with tempfile.TemporaryDirectory() as tmp:
        metrics = os.path.join(tmp, "metrics.json")
        command = [binary, "train", os.path.join(ROOT, "examples/fashion_mlp.kiln"),
                   "--epochs", "1", "--metrics-out", metrics]
        if threads:
            command += ["--threads", str(threads)]
        run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        if run.returncode != 0:
            sys.exit("kiln failed (exit %d):\n%s%s" % (run.returncode, run.stdout, run.stderr))
        with open(metrics) as f:
            epoch = json.load(f)["epochs"][0]
        return epoch["seconds"], epoch["train_loss"], epoch.get("test_accuracy"), run.stdout


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kiln", default=os.path.join(ROOT, "build/tools/kiln"),
                        help="the kiln binary (default: build/tools/kiln)")
    parser.add_argument("--repeats", type=int, default=1,
                        help="epochs to time for each (the best is compared)")
    parser.add_argument("--kiln-threads", type=int, default=0,
                        help="kiln --threads (default: kiln's own, one per core)")
    args = parser.parse_args()
    if not os.path.exists(os.path.join(DATA_DIR, "train-images-idx3-ubyte.gz")):
        sys.exit("%s is missing (Debian package dataset-fashion-mnist)" % DATA_DIR)
    if not os.access(args.kiln, os.X_OK):
        sys.exit("%s is not built (ninja -C build kiln)" % args.kiln)

    torch.set_num_threads(1)
    print("load: %s (1-minute load average %.2f on %d cores)" %
          (DATA_DIR, os.getloadavg()[0], os.cpu_count()))
    x, y = load_train()

    torch_times = []
    for r in range(args.repeats):
        seconds, loss = pytorch_epoch(x, y, seed=r)
        torch_times.append(seconds)
        print("pytorch %s (1 thread, OPENBLAS_NUM_THREADS=1): epoch %.3f s  train_loss %.4f" %
              (torch.__version__, seconds, loss))
    kiln_times = []
    for r in range(args.repeats):
        seconds, loss, accuracy, _ = kiln_epoch(args.kiln, args.kiln_threads)
        kiln_times.append(seconds)
        print("kiln (%s threads): epoch %.3f s  train_loss %.4f  test_acc %s" %
              (args.kiln_threads or "default", seconds, loss,
               "%.4f" % accuracy if accuracy is not None else "n/a"))
    best_torch, best_kiln = min(torch_times), min(kiln_times)
    print("W3 epoch (training only): pytorch %.3f s, kiln %.3f s, kiln/pytorch %.2f "
          "(1-minute load average now %.2f)" %
          (best_torch, best_kiln, best_kiln / best_torch, os.getloadavg()[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
