"""What the peer scripts share: the workloads' sizes, the data, and one way of timing a step.

Imported by torch_peer.py and jax_peer.py (run with the peers' virtual environment's Python) and
by run.py (run with any Python 3); it needs numpy only inside the functions that load data.
"""

import gzip
import json
import os
import statistics
import sys
import time

DATA_DIR = os.environ.get("KILN_BENCH_DATA_DIR", "/usr/share/datasets/fashion-mnist")

# Each workload names the kiln model it mirrors; the peers build the same layers, initialization
# scheme (PyTorch's defaults: uniform +-1/sqrt(fan_in) for weights and biases), loss, optimizer
# and batch.
WORKLOADS = {
    "w3_epoch": {"model": "examples/fashion_mlp.kiln", "batch": 64,
                 "what": "W3 epoch, 937 batches of 64 (fashion_mlp), s"},
    "cnn_step": {"model": "examples/fashion_cnn.kiln", "batch": 64,
                 "what": "LeNet-style CNN step, batch 64 (fashion_cnn), ms"},
    "resnet18_step": {"model": "examples/resnet18.kiln", "batch": 64,
                      "what": "ResNet-18 step, batch 64, 32x32 (resnet18), ms"},
    "binary_steps": {"model": "examples/binary_classifier.kiln", "batch": 100,
                     "what": "W2 10-16-16-1 steps/s, batch 100 (binary_classifier)"},
    "rnn_steps": {"model": "examples/rnn_regression.kiln", "batch": 32,
                  "what": "W5 RNN(10->50) steps/s, batch 32 (rnn_regression)"},
    "wide_mlp_step": {"model": "bench/peers/models/wide_mlp.kiln", "batch": 512,
                      "what": "784-4096-4096-10 step, batch 512 (wide_mlp), ms"},
    "w3_inference": {"model": "examples/fashion_mlp.kiln", "batch": 1000,
                     "what": "W3 inference, batch 1000 (fashion_mlp), images/s"},
}

W3_TRAIN_SAMPLES = 60000  # Fashion-MNIST's training set.
# Full batches only: the peers' compiled steps would recompile for a partial last batch.
W3_STEPS = W3_TRAIN_SAMPLES // 64


def load_fashion_train():
    """The real Fashion-MNIST training set, x/255 normalized with (0.5, 0.5): float32 [N, 784]."""
    import numpy as np

    def read(name, header):
        with gzip.open(os.path.join(DATA_DIR, name), "rb") as f:
            return np.frombuffer(f.read()[header:], dtype=np.uint8)

    pixels = read("train-images-idx3-ubyte.gz", 16).reshape(-1, 784)
    labels = read("train-labels-idx1-ubyte.gz", 8).astype(np.int64)
    return (pixels.astype(np.float32) / 255.0 - 0.5) / 0.5, labels


def random_batch(workload, seed=0):
    """Inputs and targets with the workload's shapes (the values do not change the time)."""
    import numpy as np
    rng = np.random.default_rng(seed)
    batch = WORKLOADS[workload]["batch"]
    if workload in ("cnn_step", "resnet18_step"):
        return (rng.standard_normal((batch, 1, 28, 28), dtype=np.float32),
                rng.integers(0, 10, batch).astype(np.int64))
    if workload == "binary_steps":
        return (rng.standard_normal((batch, 10), dtype=np.float32),
                rng.integers(0, 2, (batch, 1)).astype(np.float32))
    if workload == "rnn_steps":
        return (rng.standard_normal((batch, 50), dtype=np.float32),
                (100 * rng.standard_normal((batch, 1))).astype(np.float32))
    return (rng.standard_normal((batch, 784), dtype=np.float32),
            rng.integers(0, 10, batch).astype(np.int64))


def time_calls(call, budget_s=2.0, min_runs=5, max_runs=500, warmup=3):
    """Runs `call` (which must return only when its work is done) `warmup` times untimed, then
    until `budget_s` is spent (min_runs..max_runs); returns the first call's seconds (compile
    included, for compiling peers) and the p10/p50/p90 of the timed calls in ms."""
    start = time.perf_counter()
    call()
    first_s = time.perf_counter() - start
    for _ in range(warmup - 1):
        call()
    times = []
    deadline = time.perf_counter() + budget_s
    while len(times) < max_runs and (len(times) < min_runs or time.perf_counter() < deadline):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1e3)
    times.sort()
    pick = lambda q: times[min(len(times) - 1, int(q * len(times)))]
    return {"first_call_s": first_s, "p10_ms": pick(0.1), "p50_ms": statistics.median(times),
            "p90_ms": pick(0.9), "runs": len(times)}


def report(result):
    """The one line of JSON that run.py reads from a peer's stdout."""
    print("PEER_RESULT " + json.dumps(result), flush=True)
    sys.stdout.flush()
