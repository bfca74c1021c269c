"""One bench/peers workload in PyTorch 2, eager or torch.compile, at a given thread count.

    python torch_peer.py WORKLOAD --mode eager|compile --threads N

Run by run.py with the peers' virtual environment; prints one `PEER_RESULT {json}` line. The
models are the kiln examples' (see each builder); PyTorch's default initialization is the scheme
kiln's linear/conv2d initializers reproduce. torch.compile wraps the whole step (forward,
backward and optimizer; Dynamo splits it where backward() runs), or the model for inference.
"""

import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
# torchvision's ResNet-18 as examples/resnet18.kiln builds it (1 channel, padded to 32x32).
sys.path.insert(0, os.path.join(HERE, "..", "..", "scripts"))
import peer_common  # noqa: E402
from resnet18_torch import ResNet18  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402


def fashion_mlp():
    return nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(),
                         nn.Linear(128, 10), nn.LogSoftmax(dim=1))


def fashion_cnn():
    return nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(3136, 128), nn.ReLU(), nn.Linear(128, 10))


class RnnRegression(nn.Module):
    """examples/rnn_regression.kiln: RNN(10, 50, tanh, batch_first) over 5 steps, Linear(50, 1)."""

    def __init__(self):
        super().__init__()
        self.rnn = nn.RNN(10, 50, batch_first=True)
        self.fc = nn.Linear(50, 1)

    def forward(self, x):
        out, _ = self.rnn(x.view(-1, 5, 10))
        return self.fc(out[:, -1, :])


def build(workload):
    """(model, loss(output, target), optimizer factory, gradient clip norm or None)."""
    if workload in ("w3_epoch", "w3_inference"):
        return fashion_mlp(), F.nll_loss, lambda p: torch.optim.Adam(p, lr=3e-3), None
    if workload == "cnn_step":
        return fashion_cnn(), F.cross_entropy, lambda p: torch.optim.Adam(p, lr=1e-3), None
    if workload == "resnet18_step":
        return ResNet18(num_classes=10), F.cross_entropy, lambda p: torch.optim.Adam(p, lr=1e-3), None
    if workload == "binary_steps":
        model = nn.Sequential(nn.Linear(10, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(),
                              nn.Linear(16, 1), nn.Sigmoid())
        return (model, F.binary_cross_entropy,
                lambda p: torch.optim.RMSprop(p, lr=0.01, alpha=0.99, eps=1e-8), None)
    if workload == "rnn_steps":
        return (RnnRegression(), lambda pred, y: F.mse_loss(pred, y / 100),
                lambda p: torch.optim.Adam(p, lr=1e-3), 1.0)
    if workload == "wide_mlp_step":
        model = nn.Sequential(nn.Linear(784, 4096), nn.ReLU(), nn.Linear(4096, 4096), nn.ReLU(),
                              nn.Linear(4096, 10))
        return model, F.cross_entropy, lambda p: torch.optim.SGD(p, lr=0.01), None
    raise SystemExit("unknown workload " + workload)


def make_step(model, loss_fn, optimizer, clip):
    def step(x, y):
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        if clip is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
        return loss
    return step


def vector_isa(mode):
    """The vector ISA this run's kernels use: ATen's dispatch level (ATEN_CPU_CAPABILITY caps it),
    and for torch.compile the one Inductor generates C++ for."""
    isa = "ATen " + torch.backends.cpu.get_cpu_capability()
    if mode == "compile":
        try:
            from torch._inductor import cpu_vec_isa
            isa += ", Inductor " + str(cpu_vec_isa.pick_vec_isa())
        except (ImportError, AttributeError) as error:
            isa += ", Inductor unknown (%s)" % error
    return isa


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("workload", choices=sorted(peer_common.WORKLOADS))
    parser.add_argument("--mode", choices=["eager", "compile"], default="eager")
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--budget-s", type=float, default=2.0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model, loss_fn, make_optimizer, clip = build(args.workload)
    result = {"peer": "torch." + args.mode, "version": torch.__version__,
              "threads": torch.get_num_threads(), "isa": vector_isa(args.mode)}

    if args.workload == "w3_inference":
        model.eval()
        forward = torch.compile(model) if args.mode == "compile" else model
        x, _ = peer_common.random_batch(args.workload)
        x = torch.from_numpy(x)

        def infer():
            with torch.no_grad():
                forward(x)
        result.update(peer_common.time_calls(infer, budget_s=args.budget_s))
        peer_common.report(result)
        return

    model.train()
    step = make_step(model, loss_fn, make_optimizer(model.parameters()), clip)
    if args.mode == "compile":
        step = torch.compile(step)

    if args.workload == "w3_epoch":
        x, y = (torch.from_numpy(a) for a in peer_common.load_fashion_train())
        start = time.perf_counter()
        for i in range(3):  # Warm-up (and compile): not part of the epoch.
            step(x[i * 64:(i + 1) * 64], y[i * 64:(i + 1) * 64])
        result["first_call_s"] = time.perf_counter() - start
        start = time.perf_counter()
        order = torch.randperm(x.shape[0])
        for i in range(peer_common.W3_STEPS):
            index = order[i * 64:(i + 1) * 64]
            loss = step(x[index], y[index])
        loss.item()
        result["epoch_s"] = time.perf_counter() - start
        peer_common.report(result)
        return

    x, y = (torch.from_numpy(a) for a in peer_common.random_batch(args.workload))
    result.update(peer_common.time_calls(lambda: step(x, y).item(), budget_s=args.budget_s))
    peer_common.report(result)


if __name__ == "__main__":
    main()
