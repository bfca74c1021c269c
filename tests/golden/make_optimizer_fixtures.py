#!/usr/bin/python3
"""Writes optimizers.kgf for optimizer_parity_test.cc: every torch.optim rule kiln implements,
with its options, gradient clipping and frozen parameters, 10 steps on a small MLP.

Run with Debian's python3 (it has torch 1.13): /usr/bin/python3 tests/golden/make_optimizer_fixtures.py

The net is linear(20 -> 16), relu, linear(16 -> 3), cross_entropy, batch 8, from fixed float32
weights and batches. The reference runs in float64 (weights and data are the float32 values,
widened), with foreach=False optimizers: PyTorch's single-tensor formulas. The fixture holds the
float32 inputs, the loss of every step and the parameters after the last step, in kiln's layout
(linear weights are [in, out], the transpose of torch's).

Each case is a line "meta case NAME | OPTIMIZER | TRAIN-LINES", where OPTIMIZER is kiln DSL (the
C++ test puts it in a train section, so the frontend's parsing and defaults are tested too) and
TRAIN-LINES are extra train keys separated by ';'.
"""
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures import Writer  # noqa: E402  (the shared .kgf writer)

HERE = os.path.dirname(os.path.abspath(__file__))
BATCH, STEPS = 8, 10
LAYERS = [("fc1", 20, 16), ("fc2", 16, 3)]

O = torch.optim
# name, kiln optimizer, extra train lines, torch optimizer factory, clip value, clip norm, frozen
CASES = [
    ("sgd", "sgd(lr=0.1)", "", lambda p: O.SGD(p, lr=0.1)),
    ("sgd_momentum", "sgd(lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.01)", "",
     lambda p: O.SGD(p, lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.01)),
    ("sgd_nesterov", "sgd(lr=0.1, momentum=0.9, nesterov=true, weight_decay=0.01)", "",
     lambda p: O.SGD(p, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
    ("rmsprop", "rmsprop", "", lambda p: O.RMSprop(p)),
    ("rmsprop_momentum", "rmsprop(lr=0.005, alpha=0.9, momentum=0.9, weight_decay=0.01)", "",
     lambda p: O.RMSprop(p, lr=0.005, alpha=0.9, momentum=0.9, weight_decay=0.01)),
    ("rmsprop_centered", "rmsprop(lr=0.005, momentum=0.5, centered=true, eps=1e-6)", "",
     lambda p: O.RMSprop(p, lr=0.005, momentum=0.5, centered=True, eps=1e-6)),
    ("adam", "adam", "", lambda p: O.Adam(p)),
    ("adam_amsgrad", "adam(lr=0.01, betas=(0.8, 0.99), weight_decay=0.01, amsgrad=true)", "",
     lambda p: O.Adam(p, lr=0.01, betas=(0.8, 0.99), weight_decay=0.01, amsgrad=True)),
    ("adamw", "adamw", "", lambda p: O.AdamW(p)),
    ("adamw_amsgrad", "adamw(lr=0.01, weight_decay=0.1, amsgrad=true)", "",
     lambda p: O.AdamW(p, lr=0.01, weight_decay=0.1, amsgrad=True)),
    ("adagrad", "adagrad", "", lambda p: O.Adagrad(p)),
    ("adagrad_options",
     "adagrad(lr=0.05, lr_decay=0.1, weight_decay=0.01, initial_accumulator_value=0.1, eps=1e-8)",
     "", lambda p: O.Adagrad(p, lr=0.05, lr_decay=0.1, weight_decay=0.01,
                             initial_accumulator_value=0.1, eps=1e-8)),
    ("adadelta", "adadelta", "", lambda p: O.Adadelta(p)),
    ("adadelta_options", "adadelta(lr=0.5, rho=0.8, eps=1e-5, weight_decay=0.01)", "",
     lambda p: O.Adadelta(p, lr=0.5, rho=0.8, eps=1e-5, weight_decay=0.01)),
    ("clip_norm", "sgd(lr=0.1, momentum=0.9)", "clip_grad_norm = 0.5",
     lambda p: O.SGD(p, lr=0.1, momentum=0.9)),
    ("clip_value", "adam(lr=0.01)", "clip_grad_value = 0.02", lambda p: O.Adam(p, lr=0.01)),
    ("clip_both", "sgd(lr=0.1)", "clip_grad_value = 0.05; clip_grad_norm = 0.1",
     lambda p: O.SGD(p, lr=0.1)),
    ("freeze", "adam(lr=0.01)", "freeze = [fc1.weight, \"fc2.b*\"]",
     lambda p: O.Adam(p, lr=0.01)),
]


def train_keys(lines):
    keys = {}
    for line in filter(None, (s.strip() for s in lines.split(";"))):
        key, value = (s.strip() for s in line.split("=", 1))
        keys[key] = value
    return keys


def run_case(factory, keys, init, xs, ys):
    params = {k: v.double().clone().requires_grad_(True) for k, v in init.items()}
    frozen = {"fc1.weight", "fc2.bias"} if "freeze" in keys else set()
    trainable = [params[k] for k in params if k not in frozen]
    for k in frozen:
        params[k].requires_grad_(False)
    optimizer = factory(trainable)
    for group in optimizer.param_groups:
        group["foreach"] = False
    losses = []
    for x, y in zip(xs, ys):
        h = torch.relu(x.double() @ params["fc1.weight"] + params["fc1.bias"])
        loss = F.cross_entropy(h @ params["fc2.weight"] + params["fc2.bias"], y)
        optimizer.zero_grad()
        loss.backward()
        if "clip_grad_value" in keys:
            torch.nn.utils.clip_grad_value_(trainable, float(keys["clip_grad_value"]))
        if "clip_grad_norm" in keys:
            torch.nn.utils.clip_grad_norm_(trainable, float(keys["clip_grad_norm"]))
        optimizer.step()
        losses.append(loss.item())
    return losses, {k: v.detach() for k, v in params.items()}


def main():
    torch.manual_seed(1234)
    # Weights in kiln's layout ([in, out]); the forward pass above uses the same layout.
    init = {}
    for name, fan_in, fan_out in LAYERS:
        bound = fan_in ** -0.5
        init[name + ".weight"] = (torch.rand(fan_in, fan_out) * 2 - 1) * bound
        init[name + ".bias"] = (torch.rand(fan_out) * 2 - 1) * bound
    xs = torch.randn(STEPS, BATCH, LAYERS[0][1])
    ys = torch.randint(0, LAYERS[-1][2], (STEPS, BATCH))

    w = Writer(os.path.join(HERE, "optimizers.kgf"))
    w.meta("torch", torch.__version__)
    w.meta("batch", BATCH)
    w.meta("steps", STEPS)
    for name, tensor in init.items():
        w.tensor("init." + name, tensor.numpy(), "f32")
    w.tensor("x", xs.numpy(), "f32")
    w.tensor("y", ys.numpy(), "i64")
    for name, kiln, lines, factory in CASES:
        w.meta("case", "%s | %s | %s" % (name, kiln, lines or "-"))
        losses, final = run_case(factory, train_keys(lines), init, xs, ys)
        w.tensor(name + ".losses", torch.tensor(losses).numpy(), "f32")
        for param, value in final.items():
            w.tensor("%s.final.%s" % (name, param), value.numpy(), "f32")
    print("wrote %d bytes (torch %s)" % (w.close(), torch.__version__))
    return 0


if __name__ == "__main__":
    sys.exit(main())
