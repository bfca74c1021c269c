#!/usr/bin/env python3
"""Runs an ONNX model in ONNX Runtime and the same model in kiln (`kiln run`) on Fashion-MNIST
test images, for scripts/w6_onnx.sh: prints each one's accuracy and the largest |kiln - ORT|
logit difference, and exits 1 when that is over --tolerance (relative to the largest logit).

    python w6_onnx_eval.py --onnx tuned.onnx --model finetune.kiln --weights best.ckpt

The images are the first --test-limit test images of classes 0..--classes-1, normalized to
[-1, 1] as kiln's fashion_mnist(scale=1/255, normalize=(0.5, 0.5)) and the pretraining do.
Needs onnx and onnxruntime (the peers' venv of scripts/onnx_roundtrip_setup.sh)."""

import argparse
import os
import sys
import tempfile

import numpy as np
import onnx
import onnxruntime

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from onnx_roundtrip import kiln_run  # noqa: E402
from pretrain_resnet18_torch import read_idx  # noqa: E402


def test_images(classes, limit):
    images = read_idx("t10k-images-idx3-ubyte.gz")
    labels = read_idx("t10k-labels-idx1-ubyte.gz").astype(np.int64)
    keep = labels < classes
    x = (images[keep][:limit].astype(np.float32) / 255 - 0.5) / 0.5
    return x[:, None, :, :], labels[keep][:limit]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kiln", default="build/tools/kiln")
    parser.add_argument("--onnx", required=True, help="the model ONNX Runtime runs")
    parser.add_argument("--model", required=True, help="the model kiln runs (.kiln or .onnx)")
    parser.add_argument("--weights", required=True, help="its weights (kiln checkpoint)")
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--test-limit", type=int, default=2000)
    parser.add_argument("--tag", default="model")
    parser.add_argument("--tolerance", type=float, default=1e-4)
    args = parser.parse_args()
    x, y = test_images(args.classes, args.test_limit)
    onnx.checker.check_model(onnx.load(args.onnx), full_check=True)
    session = onnxruntime.InferenceSession(args.onnx, providers=["CPUExecutionProvider"])
    ort = session.run(None, {session.get_inputs()[0].name: x})[0]
    with tempfile.TemporaryDirectory() as work:
        got = kiln_run(os.path.abspath(args.kiln), args.model, args.weights, x, work, "w6")
    diff = float(np.max(np.abs(got - ort)))
    relative = diff / max(float(np.max(np.abs(ort))), 1e-12)
    print("%s: %d test images (classes 0-%d): onnxruntime accuracy %.4f, kiln accuracy %.4f, "
          "max |kiln - onnxruntime| %.2e (%.2e relative), predictions differ on %d" %
          (args.tag, len(y), args.classes - 1, (ort.argmax(1) == y).mean(),
           (got.argmax(1) == y).mean(), diff, relative, int((ort.argmax(1) != got.argmax(1)).sum())))
    return 0 if relative <= args.tolerance else 1


if __name__ == "__main__":
    sys.exit(main())
