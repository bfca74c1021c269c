#!/usr/bin/env python3
"""ONNX round trips with the real tools (issue 14): the W3 MLP, the LeNet-style CNN of
examples/fashion_cnn.kiln and ResNet-18 (scripts/resnet18_torch.py) are built in PyTorch with
seeded weights (batch-norm statistics made non-trivial), exported with torch.onnx.export, and

  1. imported with `kiln import` and run with `kiln run` on a batch: outputs within 1e-4 relative
     (max |kiln - torch| / max |torch|) of PyTorch's;
  2. exported back with `kiln export`: the file passes onnx.checker.check_model(full_check=True)
     and ONNX Runtime's outputs are within 1e-4 relative of kiln's, also at another batch size.

With --examples, every examples/*.kiln briefly trained (1 epoch on 128 samples, where its data
set is installed) is exported too, checked and run in ONNX Runtime against `kiln run`.

Prints one line per model and exits 1 if any number is over 1e-4. Run it through
scripts/onnx_roundtrip.sh (which skips when the packages are missing)."""

import argparse
import glob
import inspect
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
import onnxruntime
import torch
import torch.nn as nn
import torch.nn.functional as F
from onnx import numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from resnet18_torch import ResNet18  # noqa: E402

TOLERANCE = 1e-4


class MLP(nn.Module):
    """W3: examples/fashion_mlp.kiln, 784-256-128-10 with log_softmax."""

    def __init__(self):
        super().__init__()
        self.fc1, self.fc2, self.out = nn.Linear(784, 256), nn.Linear(256, 128), nn.Linear(128, 10)

    def forward(self, x):
        return F.log_softmax(self.out(F.relu(self.fc2(F.relu(self.fc1(x))))), dim=1)


class LeNet(nn.Module):
    """examples/fashion_cnn.kiln: two conv-relu-maxpool stages, then 3136-128-10."""

    def __init__(self):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(1, 32, 3, padding=1), nn.Conv2d(32, 64, 3, padding=1)
        self.fc1, self.out = nn.Linear(3136, 128), nn.Linear(128, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.out(F.relu(self.fc1(torch.flatten(x, 1))))


def nontrivial_statistics(model):
    """Batch-norm running statistics and affine parameters that are not the identity."""
    gen = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            c = m.num_features
            m.running_mean.copy_(0.1 * torch.randn(c, generator=gen))
            m.running_var.copy_(0.5 + torch.rand(c, generator=gen))
            m.weight.data.copy_(1 + 0.1 * torch.randn(c, generator=gen))
            m.bias.data.copy_(0.1 * torch.randn(c, generator=gen))


def relative(a, b):
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-12))


def kiln(binary, *args):
    result = subprocess.run([binary, *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError("kiln %s failed: %s" % (args[0], result.stderr.strip()))
    return result.stdout


def torch_export(model, x, path, opset):
    kwargs = dict(input_names=["x"], output_names=["y"], opset_version=opset,
                  dynamic_axes={"x": {0: "N"}, "y": {0: "N"}})
    if "dynamo" in inspect.signature(torch.onnx.export).parameters:
        kwargs["dynamo"] = False  # The TorchScript exporter, as most published models used.
    torch.onnx.export(model, (x,), path, **kwargs)


def kiln_run(binary, model, weights, x, work, tag):
    x_path = os.path.join(work, tag + ".x.pb")
    onnx.save_tensor(numpy_helper.from_array(x, "x"), x_path)
    out_dir = os.path.join(work, tag + ".out")
    kiln(binary, "run", model, "--weights", weights, "--input", "x=" + x_path, "-o", out_dir)
    (output,) = glob.glob(os.path.join(out_dir, "*.pb"))
    return numpy_helper.to_array(onnx.load_tensor(output))


def round_trip(binary, name, model, shape, work, opset):
    torch.manual_seed(0)
    model.eval()
    x = torch.randn(8, *shape)
    x_other = torch.randn(3, *shape)
    with torch.no_grad():
        want, want_other = model(x).numpy(), model(x_other).numpy()
    onnx_path = os.path.join(work, name + ".onnx")
    torch_export(model, x, onnx_path, opset)

    kiln_file, weights = os.path.join(work, name + ".kiln"), os.path.join(work, name + ".kckpt")
    kiln(binary, "import", onnx_path, "-o", kiln_file, "--weights", weights)
    got = kiln_run(binary, kiln_file, weights, x.numpy(), work, name)
    import_error = relative(got, want)

    back = os.path.join(work, name + ".kiln.onnx")
    kiln(binary, "export", kiln_file, "--weights", weights, "-o", back)
    onnx.checker.check_model(onnx.load(back), full_check=True)
    session = onnxruntime.InferenceSession(back, providers=["CPUExecutionProvider"])
    (input_name,) = [i.name for i in session.get_inputs()]
    ort = session.run(None, {input_name: x.numpy()})[0]
    export_error = relative(ort, got)
    # The batch dim is symbolic: another batch size runs too (compared with PyTorch).
    ort_other = session.run(None, {input_name: x_other.numpy()})[0]
    other_error = relative(ort_other, want_other)
    return import_error, export_error, other_error


def check_examples(binary, work):
    """Each example: train briefly, kiln export, onnx.checker, ONNX Runtime vs kiln run."""
    failed = False
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples")
    rng = np.random.default_rng(0)
    for path in sorted(glob.glob(os.path.join(root, "*.kiln"))):
        name = os.path.basename(path)[:-5]
        stem = os.path.join(work, "example_" + name)  # Apart from the PyTorch models' files.
        ckpt, exported = stem + ".ckpt", stem + ".onnx"
        train = subprocess.run([binary, "train", path, "--epochs", "1", "--train-limit", "128",
                                "--test-limit", "64", "--checkpoint", ckpt, "--quiet"],
                               capture_output=True, text=True)
        if train.returncode != 0:
            print("%-24s skipped: %s" % (name, train.stderr.strip().splitlines()[-1][:80]))
            continue
        try:
            kiln(binary, "export", path, "--weights", ckpt, "-o", exported)
            onnx.checker.check_model(onnx.load(exported), full_check=True)
            session = onnxruntime.InferenceSession(exported, providers=["CPUExecutionProvider"])
            (inp,) = session.get_inputs()
            x = rng.standard_normal([4 if isinstance(d, str) else d for d in inp.shape])
            x = x.astype(np.float32)
            ort = session.run(None, {inp.name: x})[0]
            x_path = stem + ".x.pb"
            onnx.save_tensor(numpy_helper.from_array(x, inp.name), x_path)
            out_dir = stem + ".out"
            kiln(binary, "run", path, "--weights", ckpt, "--input", inp.name + "=" + x_path,
                 "-o", out_dir)
            (output,) = glob.glob(os.path.join(out_dir, "*.pb"))
            error = relative(ort, numpy_helper.to_array(onnx.load_tensor(output)))
        except Exception as e:  # noqa: BLE001 - reported per model
            print("%-24s FAILED: %s" % (name, str(e).splitlines()[0]))
            failed = True
            continue
        failed |= error > TOLERANCE
        print("%-24s checker ok  onnxruntime vs kiln run %.2e" % (name, error))
    return failed


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kiln", default="build/tools/kiln")
    parser.add_argument("--models", default="mlp,lenet,resnet18")
    parser.add_argument("--examples", action="store_true",
                        help="also export every examples/*.kiln (briefly trained)")
    args = parser.parse_args()
    binary = os.path.abspath(args.kiln)
    opset = 17
    print("onnx_roundtrip: torch %s, onnx %s, onnxruntime %s, opset %d" % (
        torch.__version__, onnx.__version__, onnxruntime.__version__, opset))
    torch.manual_seed(0)
    models = {"mlp": (MLP(), (784,)), "lenet": (LeNet(), (1, 28, 28)),
              "resnet18": (ResNet18(num_classes=10), (1, 28, 28))}
    nontrivial_statistics(models["resnet18"][0])
    failed = False
    with tempfile.TemporaryDirectory() as work:
        for name in args.models.split(","):
            model, shape = models[name]
            try:
                errors = round_trip(binary, name, model, shape, work, opset)
            except Exception as e:  # noqa: BLE001 - reported per model
                print("%-9s FAILED: %s" % (name, str(e).splitlines()[0]))
                failed = True
                continue
            ok = all(e <= TOLERANCE for e in errors)
            failed |= not ok
            print("%-9s torch->kiln %.2e  kiln->onnxruntime %.2e  (batch 3: %.2e)  checker ok  %s"
                  % (name, *errors, "ok" if ok else "OVER 1e-4"))
        if args.examples:
            failed |= check_examples(binary, work)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
