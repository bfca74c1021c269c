#!/usr/bin/python3
"""W5 in PyTorch, for comparison with kiln's examples/{he_xavier,batchnorm,dropout}_mlp.kiln:
Fashion-MNIST 784-256-128-10, Kaiming normal (ReLU gain) on the hidden layers and Xavier normal
on the output layer, zero biases, cross-entropy, Adam(1e-3), batch 64, optionally BatchNorm1d
after each hidden linear layer or Dropout(0.5) after each hidden ReLU. Prints the test accuracy
after every epoch (model.eval(): running statistics, no dropout).

    /usr/bin/python3 bench/w5_pytorch.py [--recipe he_xavier|batchnorm|dropout] [--epochs 5]
                                         [--seed 0] [--json FILE]

The data pipeline is kiln's fashion_mnist(scale=1/255, normalize=(0.5, 0.5)): the IDX files read
with gzip + numpy, (x / 255 - 0.5) / 0.5, a fresh shuffle every epoch, the last batch short.
One thread (torch.set_num_threads(1)), as on the machine kiln is compared on.
"""

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # Must precede the numpy / torch imports.

import argparse
import gzip
import json
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

DATA_DIR = "/usr/share/datasets/fashion-mnist"


def read_idx(name, header):
    with gzip.open(os.path.join(DATA_DIR, name), "rb") as f:
        return np.frombuffer(f.read()[header:], dtype=np.uint8)


def load(split):
    prefix = "train" if split == "train" else "t10k"
    pixels = read_idx("%s-images-idx3-ubyte.gz" % prefix, 16).reshape(-1, 784)
    labels = read_idx("%s-labels-idx1-ubyte.gz" % prefix, 8).astype(np.int64)
    x = ((pixels.astype(np.float32) / 255.0) - 0.5) / 0.5
    return torch.from_numpy(x), torch.from_numpy(labels)


def build(recipe):
    layers = []
    for fan_in, fan_out in ((784, 256), (256, 128)):
        linear = nn.Linear(fan_in, fan_out)
        nn.init.kaiming_normal_(linear.weight, nonlinearity="relu")
        nn.init.zeros_(linear.bias)
        layers.append(linear)
        if recipe == "batchnorm":
            layers.append(nn.BatchNorm1d(fan_out))
        layers.append(nn.ReLU())
        if recipe == "dropout":
            layers.append(nn.Dropout(0.5))
    out = nn.Linear(128, 10)
    nn.init.xavier_normal_(out.weight)
    nn.init.zeros_(out.bias)
    layers.append(out)
    return nn.Sequential(*layers)


def evaluate(model, x, y):
    model.eval()
    with torch.no_grad():
        logits = model(x)
        loss = F.cross_entropy(logits, y).item()
        accuracy = (logits.argmax(1) == y).double().mean().item()
    model.train()
    return loss, accuracy


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--recipe", choices=["he_xavier", "batchnorm", "dropout"],
                        default="he_xavier")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    x_train, y_train = load("train")
    x_test, y_test = load("test")
    model = build(args.recipe)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    history = []
    for epoch in range(1, args.epochs + 1):
        start = time.time()
        order = torch.randperm(len(y_train))
        total, count = 0.0, 0
        for i in range(0, len(order), 64):
            batch = order[i:i + 64]
            optimizer.zero_grad()
            loss = F.cross_entropy(model(x_train[batch]), y_train[batch])
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
            count += len(batch)
        seconds = time.time() - start
        test_loss, test_accuracy = evaluate(model, x_test, y_test)
        history.append({"epoch": epoch, "train_loss": total / count, "test_loss": test_loss,
                        "test_accuracy": test_accuracy, "seconds": seconds})
        print("%s epoch %d/%d  train_loss %.4f  test_loss %.4f  test_acc %.4f  %.1fs" %
              (args.recipe, epoch, args.epochs, total / count, test_loss, test_accuracy, seconds),
              flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"recipe": args.recipe, "seed": args.seed, "epochs": history}, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
