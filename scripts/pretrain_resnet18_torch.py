#!/usr/bin/python3
"""Trains the ResNet-18 of resnet18_torch.py in PyTorch on half of Fashion-MNIST (classes 0-4:
T-shirt, trouser, pullover, dress, coat) and writes its weights for kiln, so that kiln can
transfer a model "trained elsewhere" to all ten classes (examples/resnet18_features.kiln):

    /usr/bin/python3 scripts/pretrain_resnet18_torch.py --steps 300 --out resnet18_fm5.kckpt
    build/tools/kiln train examples/resnet18_features.kiln --init-weights resnet18_fm5.kckpt

or as ONNX (torch.onnx.export, opset 17, batch dim dynamic), the way W6 takes it in through
`kiln import` (scripts/w6_onnx.sh):

    /usr/bin/python3 scripts/pretrain_resnet18_torch.py --out '' --onnx resnet18_fm5.onnx

Adam lr 1e-3, batch 64, inputs scaled to [-1, 1] as kiln's fashion_mnist(scale=1/255,
normalize=(0.5, 0.5)) does. The 5-way fc is exported too (the transfer model ignores it).
"""

import argparse
import gzip
import inspect
import os
import sys
import time
import warnings

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from export_pytorch_weights import encode_kiln_weights, kiln_layout  # noqa: E402
from resnet18_torch import ResNet18  # noqa: E402

DATA_DIR = "/usr/share/datasets/fashion-mnist"


def read_idx(name):
    with gzip.open(os.path.join(DATA_DIR, name)) as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * dims).reshape(shape)


def export_onnx(model, path):
    """The evaluation graph with batch norm kept as BatchNormalization nodes under the module's
    names (TrainingMode.PRESERVE of a model in eval mode): the default EVAL mode folds each
    batch norm into the convolution before it, which leaves nothing to fine-tune by name."""
    kwargs = dict(input_names=["x"], output_names=["logits"], opset_version=17,
                  dynamic_axes={"x": {0: "N"}, "logits": {0: "N"}},
                  training=torch.onnx.TrainingMode.PRESERVE)
    if "dynamo" in inspect.signature(torch.onnx.export).parameters:
        kwargs["dynamo"] = False  # The TorchScript exporter, as in scripts/onnx_roundtrip.py.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # The exporter's notes on constant folding and mutation.
        torch.onnx.export(model, (torch.zeros(2, 1, 28, 28),), path, **kwargs)


def main(argv):
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--classes", type=int, default=5)
    parser.add_argument("--out", default="resnet18_fm5.kckpt",
                        help="kiln weights file to write ('' for none)")
    parser.add_argument("--onnx", default="", help="also write the model as ONNX to this file")
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    images = read_idx("train-images-idx3-ubyte.gz")
    labels = read_idx("train-labels-idx1-ubyte.gz").astype(np.int64)
    keep = labels < args.classes
    x = torch.from_numpy((images[keep].astype(np.float32) / 255 - 0.5) / 0.5).unsqueeze(1)
    y = torch.from_numpy(labels[keep])
    model = ResNet18(num_classes=args.classes)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(0)
    order = torch.randperm(len(y), generator=generator)
    start = time.time()
    model.train()
    for step in range(args.steps):
        idx = order[(step * 64) % (len(y) - 64):][:64]
        loss = F.cross_entropy(model(x[idx]), y[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if (step + 1) % 50 == 0:
            print("step %d loss %.4f (%.2f s/step)" % (step + 1, loss.item(),
                                                     (time.time() - start) / (step + 1)),
                  flush=True)
    model.eval()
    with torch.no_grad():
        test_x = read_idx("t10k-images-idx3-ubyte.gz")
        test_y = read_idx("t10k-labels-idx1-ubyte.gz").astype(np.int64)
        keep = test_y < args.classes
        tx = torch.from_numpy((test_x[keep][:2000].astype(np.float32) / 255 - 0.5) / 0.5)
        pred = model(tx.unsqueeze(1)).argmax(1).numpy()
        print("test accuracy on classes 0-%d: %.4f" % (args.classes - 1,
                                                       (pred == test_y[keep][:2000]).mean()))
    if args.out:
        with open(args.out, "wb") as f:
            f.write(encode_kiln_weights(kiln_layout(model.state_dict()), "resnet18"))
        print("wrote", args.out)
    if args.onnx:
        export_onnx(model, args.onnx)
        print("wrote", args.onnx)


if __name__ == "__main__":
    main(sys.argv[1:])
