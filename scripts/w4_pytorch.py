#!/usr/bin/python3
"""W4's MNIST dropout MLP in PyTorch, the reference for examples/mnist_dropout_mlp.kiln.

    /usr/bin/python3 scripts/w4_pytorch.py [--epochs 10] [--data ../shared/data/mnist-10k]

784 -> 512 ReLU Dropout(0.2) -> 512 ReLU Dropout(0.2) -> 10, CrossEntropyLoss, SGD(lr=0.05),
batch 16 shuffled, pixels / 255 (transforms.ToTensor()). Prints the test loss and accuracy after
each epoch and W4's per-class report at the end.
"""

import argparse
import gzip
import os

import numpy as np
import torch
import torch.nn.functional as F


def read_idx(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    dims = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(raw[4 + 4 * dims:], dtype=np.uint8).reshape(shape)


def load(data, split):
    images = read_idx(os.path.join(data, "%s-images-idx3-ubyte.gz" % split))
    labels = read_idx(os.path.join(data, "%s-labels-idx1-ubyte.gz" % split))
    x = torch.tensor(images.reshape(len(images), -1), dtype=torch.float32) / 255.0
    return x, torch.tensor(labels, dtype=torch.int64)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--data", default="../shared/data/mnist-10k")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(1)
    xs, ys = load(args.data, "train")
    xt, yt = load(args.data, "test")
    model = torch.nn.Sequential(
        torch.nn.Linear(784, 512), torch.nn.ReLU(), torch.nn.Dropout(0.2),
        torch.nn.Linear(512, 512), torch.nn.ReLU(), torch.nn.Dropout(0.2),
        torch.nn.Linear(512, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    for epoch in range(1, args.epochs + 1):
        model.train()
        for batch in torch.randperm(len(xs)).split(16):
            opt.zero_grad()
            F.cross_entropy(model(xs[batch]), ys[batch]).backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            logits = model(xt)
            loss = F.cross_entropy(logits, yt).item()
            predicted = logits.argmax(1)
        print("epoch %d  test_loss %.4f  test_acc %.4f" %
              (epoch, loss, (predicted == yt).float().mean().item()), flush=True)
    print("\nTest Loss: %.6f\n" % loss)
    for c in range(10):
        mask = yt == c
        right, total = int((predicted[mask] == c).sum()), int(mask.sum())
        print("Test Accuracy of %d: %d%% (%d/%d)" % (c, 100 * right // total, right, total))
    right = int((predicted == yt).sum())
    print("\nTest Accuracy (Overall): %d%% (%d/%d)" % (100 * right // len(yt), right, len(yt)))


if __name__ == "__main__":
    main()
