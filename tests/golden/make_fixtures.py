#!/usr/bin/python3
"""Writes the PyTorch reference fixtures that tests/golden/pytorch_parity_test.cc reads.

Run from anywhere with Debian's Python (the one that has torch):

    /usr/bin/python3 tests/golden/make_fixtures.py

The output is deterministic: same torch version and same data give byte-identical files. Every
expected value is computed by PyTorch in float64 from float32 inputs (so the fixture is the exact
answer to the float32 problem kiln solves, not one float32 rounding of it); the script then checks
that PyTorch's own float32 run meets the tolerance the C++ test applies, so the tolerance is one
a float32 implementation can meet.

Fixture format (".kgf", read by the C++ test without Python): the line "KILNGOLD 1", then records:
    meta KEY VALUE...\n                        free-form text, e.g. "meta lr 0.003"
    tensor NAME DTYPE RANK D0 D1 ...\n<bytes>  DTYPE f32 | i64 | u8, little-endian, row-major

Files:
  w3_adam.kgf            W3 MLP 784-256-128-10, log_softmax + nll_loss, Adam(3e-3), 5 steps of
                         batch 16: loss per step and ALL parameters after the 5 steps.
  w3_sgd.kgf             Same net, SGD(lr 0.05, momentum 0.9).
  w3_cross_entropy.kgf   The functional variant (cross_entropy on logits), Adam(3e-3).
  ops.kgf                Per-op forward/backward cases.
  batch_norm.kgf         batch_norm1d / batch_norm2d layers: two training steps (output, input,
                         weight and bias gradients, running statistics after each), then the
                         evaluation output with the running statistics.

Initial weights are not stored: they come from a small integer hash (InitialWeight below, repeated
in the C++ test), which gives nn.Linear-like values U(-1/sqrt(in), 1/sqrt(in)) in kiln's [in, out]
layout and is exact in both languages (integer arithmetic, then one IEEE double multiply). To stay
under the size budget the SGD and cross-entropy fixtures store every 16th row of fc1.weight (all
other parameters in full); the Adam fixture stores everything.
"""

import gzip
import math
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
DATA_DIR = "/usr/share/datasets/fashion-mnist"

BATCH = 16
STEPS = 5
LAYERS = [("fc1", 784, 256), ("fc2", 256, 128), ("out", 128, 10)]
FC1_ROW_STRIDE = 16  # Rows of fc1.weight kept by the subset fixtures.

# The tolerance pytorch_parity_test.cc applies (keep in sync):
#   |kiln - ref| <= RTOL * max(|ref|, FLOOR * max_j |ref_j|)   per tensor
# i.e. 1e-4 relative, where values below 10% of the tensor's largest magnitude are judged against
# that 10% (an absolute allowance of 1e-5 * max|ref|) so tiny values next to big ones are not held
# to a relative bound no float32 summation order can meet.
RTOL = 1e-4
FLOOR = 0.1
# Adam's final parameters alone may have at most 1 element in 2,000 of a tensor outside that rule,
# each within ADAM_MAX_UNITS of it: Adam divides each gradient element by its own RMS, so an element
# whose gradient is tiny and comes from cancellation has its float32 rounding noise amplified into
# a visible step. PyTorch's own float32 run shows it (6 of the W3 net's 235,146 elements, <= 5.5x).
ADAM_MAX_UNITS = 50.0


# ---------------------------------------------------------------------------------------------
# Fixture writing.

class Writer:
    def __init__(self, path):
        self.path = path
        self.chunks = [b"KILNGOLD 1\n"]

    def meta(self, key, *values):
        self.chunks.append(("meta %s %s\n" % (key, " ".join(str(v) for v in values))).encode())

    def tensor(self, name, array, dtype):
        array = np.ascontiguousarray(np.asarray(array))
        np_dtype = {"f32": "<f4", "i64": "<i8", "u8": "u1"}[dtype]
        data = array.astype(np_dtype)
        header = "tensor %s %s %d%s\n" % (name, dtype, data.ndim,
                                           "".join(" %d" % d for d in data.shape))
        self.chunks.append(header.encode())
        self.chunks.append(data.tobytes())

    def close(self):
        with open(self.path, "wb") as f:
            for chunk in self.chunks:
                f.write(chunk)
        return os.path.getsize(self.path)


def scaled_errors(got, ref):
    """Each element's error in units of the test's tolerance (<= 1 passes)."""
    got = np.asarray(got, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    floor = FLOOR * np.nanmax(np.abs(ref)) if ref.size and not np.isnan(ref).all() else 0.0
    allowed = np.maximum(RTOL * np.maximum(np.abs(ref), floor), 1e-30)
    errors = np.atleast_1d(np.abs(got - ref) / allowed)
    # A NaN must be matched by a NaN (no error), and only by one (infinite error).
    got, ref = np.atleast_1d(got), np.atleast_1d(ref)
    both = np.isnan(got) & np.isnan(ref)
    errors[both] = 0.0
    errors[np.isnan(got) != np.isnan(ref)] = np.inf
    return errors


def adam_outliers_ok(got, ref):
    """The C++ test's allowance for Adam's final parameters: <= 1 in 2,000 misses, each <= 50x."""
    errors = scaled_errors(got, ref)
    return (errors > 1).sum() <= errors.size // 2000 and errors.max() <= ADAM_MAX_UNITS


def max_scaled_error(got, ref):
    """The largest error in units of the test's tolerance (<= 1 passes)."""
    if np.asarray(ref).size == 0:
        return 0.0
    return float(np.max(scaled_errors(got, ref)))


# ---------------------------------------------------------------------------------------------
# Numerical fidelity (fidelity.kgf; numerical_fidelity_test.cc).
#
# bce_saturation: sigmoid then binary_cross_entropy (sum) at logits +-{10, 25, 28, 29.31, 40} with
# targets 1 and 0. Where the sigmoid saturates, PyTorch's BCE backward divides by
# max(p (1 - p), 1e-12), so the gradient shrinks towards 0 (logit -29.31, target 1: -0.1866)
# where the chain rule would give -1. The saturation is a float32 phenomenon (sigmoid(25) rounds
# to 1), so the reference is PyTorch's float32 result.
#
# padded_conv_bn: a 1x1 convolution with padding 2 (the border is the bias alone, so each
# channel's |mean| / std is large) feeding batch_norm2d, batch 64 of 28x28: 65,536 values per
# channel, from 3 input channels (batch norm is blind to a channel's scale and shift, so the
# weights' gradient is meaningful only across input channels, and the bias's is 0). A float32
# mean taken left to right is off by its rounding error, which the
# normalization turns into gradient error far above PyTorch's own. x and the upstream gradient
# come from InitialWeight (x = 0.5 + U(-0.5, 0.5), upstream U(-1, 1)), so only parameters and
# results are stored; grad_x every FIDELITY_X_STRIDE-th element.
FIDELITY_RTOL = 1e-5
# The convolution weights' gradient is a difference of nearly equal sums (batch norm makes it
# orthogonal to the weights), so PyTorch's own float32 run misses 1e-5 on it (2.6x): 1e-4 there.
FIDELITY_RTOL_CONV_WEIGHT = 1e-4
FIDELITY_X_STRIDE = 8
BCE_LOGITS = [10.0, 25.0, 28.0, 29.31, 40.0]
CONV_BN = dict(batch=64, in_channels=3, channels=4, size=28, padding=2)


def bce_saturation():
    magnitudes = BCE_LOGITS
    logits = [-m for m in magnitudes] + magnitudes
    x = torch.tensor(logits + logits, dtype=torch.float32, requires_grad=True)
    t = torch.tensor([1.0] * len(logits) + [0.0] * len(logits), dtype=torch.float32)
    loss = F.binary_cross_entropy(torch.sigmoid(x), t, reduction="sum")
    loss.backward()
    return x.detach(), t, loss.detach(), x.grad


def conv_bn_inputs():
    c = CONV_BN
    x_shape = [c["batch"], c["in_channels"], c["size"], c["size"]]
    padded = c["size"] + 2 * c["padding"]
    up_shape = [c["batch"], c["channels"], padded, padded]
    x = hash_array(101, np.arange(np.prod(x_shape), dtype=np.uint64), 0.5) + np.float32(0.5)
    upstream = hash_array(102, np.arange(np.prod(up_shape), dtype=np.uint64), 1.0)
    gen = torch.Generator().manual_seed(17)
    conv_weight = (0.5 + torch.rand([c["channels"], c["in_channels"], 1, 1],
                                    generator=gen)).to(torch.float32)
    conv_bias = (3.0 + torch.rand([c["channels"]], generator=gen)).to(torch.float32)
    bn_weight = (0.5 + torch.rand([c["channels"]], generator=gen)).to(torch.float32)
    bn_bias = torch.randn([c["channels"]], generator=gen).to(torch.float32)
    return (torch.from_numpy(x.astype(np.float32).reshape(x_shape)),
            torch.from_numpy(upstream.reshape(up_shape)), conv_weight, conv_bias, bn_weight,
            bn_bias)


def run_conv_bn(inputs, dtype):
    x, upstream, conv_weight, conv_bias, bn_weight, bn_bias = [t.to(dtype) for t in inputs]
    params = [t.clone().requires_grad_(True) for t in (conv_weight, conv_bias, bn_weight, bn_bias)]
    xs = x.clone().requires_grad_(True)
    h = F.conv2d(xs, params[0], params[1], padding=CONV_BN["padding"])
    out = F.batch_norm(h, None, None, params[2], params[3], training=True, eps=1e-5)
    (out * upstream).sum().backward()
    # No conv bias gradient: batch norm removes any per-channel shift, so it is 0 up to rounding.
    return {"grad_conv_weight": params[0].grad, "grad_bn_weight": params[2].grad, "grad_bn_bias": params[3].grad,
            "grad_x": xs.grad.reshape(-1)[::FIDELITY_X_STRIDE]}


def write_fidelity():
    w = Writer(os.path.join(HERE, "fidelity.kgf"))
    w.meta("tolerance", "rtol=%g" % FIDELITY_RTOL, "floor=%g" % FLOOR)
    x, t, loss, grad = bce_saturation()
    w.tensor("bce.logits", x.numpy(), "f32")
    w.tensor("bce.target", t.numpy(), "f32")
    w.tensor("bce.loss", loss.numpy(), "f32")
    w.tensor("bce.grad", grad.numpy(), "f32")
    inputs = conv_bn_inputs()
    w.meta("conv_bn", " ".join("%s=%d" % kv for kv in CONV_BN.items()),
           "x_stride=%d" % FIDELITY_X_STRIDE)
    for name, value in zip(("conv_weight", "conv_bias", "bn_weight", "bn_bias"), inputs[2:]):
        w.tensor("conv_bn." + name, value.numpy(), "f32")
    ref = run_conv_bn(inputs, torch.float64)
    got = run_conv_bn(inputs, torch.float32)
    worst = 0.0
    for key, value in ref.items():
        w.tensor("conv_bn." + key, value.numpy(), "f32")
        rtol = FIDELITY_RTOL_CONV_WEIGHT if key == "grad_conv_weight" else FIDELITY_RTOL
        w.meta("conv_bn_rtol", key, rtol)
        err = (max_scaled_error(got[key], value) * RTOL) / rtol
        print("  conv_bn %-17s torch-f32 error %.3f of tolerance" % (key, err))
        worst = max(worst, err)
    size = w.close()
    print("%-22s %8d bytes  torch-f32 worst error %.3f of tolerance" %
          ("fidelity.kgf", size, worst))
    assert worst <= 1.0
    return size


# ---------------------------------------------------------------------------------------------
# W3 MLP.

def InitialWeight(salt, index, bound):
    """Deterministic U(-bound, bound)-like value; the C++ test computes the same float."""
    h = (index * 2654435761 + salt * 40503 + 12345) & 0xFFFFFFFF
    h ^= h >> 15
    h = (h * 2246822519) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * 3266489917) & 0xFFFFFFFF
    h ^= h >> 16
    k = int(h % 2001) - 1000
    return np.float32((k / 1000.0) * bound)


def initial_params():
    """kiln-layout ([in, out]) float32 parameters, in declaration order."""
    params = {}
    for layer, (name, fan_in, fan_out) in enumerate(LAYERS):
        bound = 1.0 / math.sqrt(fan_in)
        idx = np.arange(fan_in * fan_out, dtype=np.uint64)
        params[name + ".weight"] = hash_array(2 * layer, idx, bound).reshape(fan_in, fan_out)
        params[name + ".bias"] = hash_array(2 * layer + 1, np.arange(fan_out, dtype=np.uint64),
                                            bound)
    return params


def hash_array(salt, idx, bound):
    """InitialWeight vectorized (uint64 arithmetic masked to 32 bits)."""
    mask = np.uint64(0xFFFFFFFF)
    h = (idx * np.uint64(2654435761) + np.uint64(salt * 40503 + 12345)) & mask
    h ^= h >> np.uint64(15)
    h = (h * np.uint64(2246822519)) & mask
    h ^= h >> np.uint64(13)
    h = (h * np.uint64(3266489917)) & mask
    h ^= h >> np.uint64(16)
    k = (h % np.uint64(2001)).astype(np.int64) - 1000
    out = ((k.astype(np.float64) / 1000.0) * bound).astype(np.float32)
    # Spot-check the vectorized form against the scalar definition.
    for i in (0, len(idx) // 2, len(idx) - 1):
        assert out[i] == InitialWeight(salt, int(idx[i]), bound)
    return out


def read_idx(path, count, header):
    with gzip.open(path, "rb") as f:
        raw = f.read(header + count * (784 if header == 16 else 1))
    return np.frombuffer(raw[header:], dtype=np.uint8)


def load_batches():
    """5 batches of 16: the first 80 Fashion-MNIST training images (uint8) and labels."""
    n = BATCH * STEPS
    images_path = os.path.join(DATA_DIR, "train-images-idx3-ubyte.gz")
    if os.path.exists(images_path):
        pixels = read_idx(images_path, n, 16).reshape(n, 784)
        labels = read_idx(os.path.join(DATA_DIR, "train-labels-idx1-ubyte.gz"), n, 8)
        return pixels, labels.astype(np.int64), "fashion-mnist train[0:%d]" % n
    gen = torch.Generator().manual_seed(1234)
    pixels = torch.randint(0, 256, (n, 784), generator=gen, dtype=torch.uint8).numpy()
    labels = torch.randint(0, 10, (n,), generator=gen).numpy()
    return pixels, labels, "synthetic (torch seed 1234)"


def normalize(pixels):
    """ToTensor + Normalize(0.5, 0.5) as the C++ test computes it: in double, rounded to f32."""
    return (((pixels.astype(np.float64) * (1.0 / 255.0)) - 0.5) / 0.5).astype(np.float32)


class Mlp(torch.nn.Module):
    def __init__(self, params, dtype, functional):
        super().__init__()
        self.functional = functional
        self.layers = torch.nn.ModuleList()
        for name, fan_in, fan_out in LAYERS:
            linear = torch.nn.Linear(fan_in, fan_out).to(dtype)
            with torch.no_grad():
                # PyTorch stores [out, in]: the transpose of kiln's weight.
                linear.weight.copy_(torch.from_numpy(params[name + ".weight"].T.copy()).to(dtype))
                linear.bias.copy_(torch.from_numpy(params[name + ".bias"]).to(dtype))
            self.layers.append(linear)

    def loss(self, x, y):
        h = x
        for i, linear in enumerate(self.layers):
            h = linear(h)
            if i + 1 < len(self.layers):
                h = F.relu(h)
        if self.functional:
            return F.cross_entropy(h, y)
        return F.nll_loss(F.log_softmax(h, dim=1), y)

    def kiln_params(self):
        out = {}
        for (name, _, _), linear in zip(LAYERS, self.layers):
            out[name + ".weight"] = linear.weight.detach().double().numpy().T.copy()
            out[name + ".bias"] = linear.bias.detach().double().numpy().copy()
        return out


def make_optimizer(kind, model):
    if kind == "adam":
        return torch.optim.Adam(model.parameters(), lr=3e-3, betas=(0.9, 0.999), eps=1e-8)
    return torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)


def train_w3(kind, functional, params, x, y, dtype):
    torch.manual_seed(0)
    model = Mlp(params, dtype, functional)
    optimizer = make_optimizer(kind, model)
    losses = []
    for step in range(STEPS):
        xb = torch.from_numpy(x[step * BATCH:(step + 1) * BATCH]).to(dtype)
        yb = torch.from_numpy(y[step * BATCH:(step + 1) * BATCH])
        optimizer.zero_grad()
        loss = model.loss(xb, yb)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    state = {}
    for (name, _, _), linear in zip(LAYERS, model.layers):
        for suffix, p in (("weight", linear.weight), ("bias", linear.bias)):
            for key, value in optimizer.state[p].items():
                if torch.is_tensor(value) and value.dim() > 0:
                    v = value.detach().double().numpy()
                    state["%s.%s.%s" % (name, suffix, key)] = v.T.copy() if v.ndim == 2 else v
    return np.array(losses), model.kiln_params(), state


def write_w3(filename, kind, functional, full, pixels, labels, source):
    params = initial_params()
    x = normalize(pixels)
    losses, final, state = train_w3(kind, functional, params, x, labels, torch.float64)
    losses32, final32, _ = train_w3(kind, functional, params, x, labels, torch.float32)

    w = Writer(os.path.join(HERE, filename))
    w.meta("model", "examples/fashion_mlp_functional.kiln" if functional
           else "examples/fashion_mlp.kiln")
    w.meta("optimizer", kind)
    if kind == "adam":
        w.meta("hparams", "lr=0.003 beta1=0.9 beta2=0.999 eps=1e-08")
    else:
        w.meta("hparams", "lr=0.05 momentum=0.9")
    w.meta("batch", BATCH)
    w.meta("steps", STEPS)
    w.meta("data", source.replace(" ", "_"))
    w.meta("fc1_row_stride", 1 if full else FC1_ROW_STRIDE)
    w.tensor("pixels", pixels, "u8")
    w.tensor("labels", labels, "i64")
    w.tensor("losses", losses, "f32")
    worst = max_scaled_error(losses32, losses)
    outliers = 0
    for name in final:
        value, value32 = final[name], final32[name]
        if name == "fc1.weight" and not full:
            value, value32 = value[::FC1_ROW_STRIDE], value32[::FC1_ROW_STRIDE]
        w.tensor("final." + name, value, "f32")
        if kind == "adam":
            assert adam_outliers_ok(value32, value), name
            outliers += int((scaled_errors(value32, value) > 1).sum())
        else:
            worst = max(worst, max_scaled_error(value32, value))
    # The output layer's optimizer state, a direct check of the update rule's bookkeeping.
    for name in ("out.bias", "out.weight"):
        for key in ("exp_avg", "exp_avg_sq", "momentum_buffer"):
            if "%s.%s" % (name, key) in state:
                w.tensor("final.%s.%s" % (name, key), state["%s.%s" % (name, key)], "f32")
    size = w.close()
    print("%-22s %8d bytes  losses %s  torch-f32 worst error %.3f of tolerance%s" %
          (filename, size, " ".join("%.5f" % l for l in losses), worst,
           " (Adam outliers: %d)" % outliers if kind == "adam" else ""))
    assert worst <= 1.0, "PyTorch float32 itself misses the tolerance"
    return size


# ---------------------------------------------------------------------------------------------
# Per-op cases. Each case names a kiln op, its attributes and operands; the C++ test builds
# out = op(in0, in1, ...), loss = sum(out * upstream) and compares out and d loss / d in_i.
#
# Operand kinds: ("x", shape, gen) float input with a gradient; ("t", shape, classes) i64 class
# targets (no gradient); ("w", shape, gen) float input without a gradient (class weights).
# gen: "n" normal, "p" positive (0.5..2), "nz" normal away from 0 (|x| >= 0.3),
#      "u" probabilities (0.05..0.95), "b" binary 0/1, "simplex" rows of class probabilities,
#      "onehot" one-hot rows,
#      "relu" normal with a few exact zeros, "tie" values with repeated entries,
#      "wide" normal with standard deviation 3.

def case(name, op, operands, attrs="", torch_fn=None):
    return dict(name=name, op=op, operands=operands, attrs=attrs, fn=torch_fn)


def kiln_linear(x, w, b=None):
    return F.linear(x, w.t(), b)  # kiln's weight is [in, out].


def torch_rnn(x, weights, h0=None):
    """nn.RNN(tanh, batch_first) through its kernel, with `weights` as its parameters."""
    hidden = weights[1].shape[0]
    if h0 is None:
        h0 = torch.zeros(x.shape[0], hidden, dtype=x.dtype)
    out, _ = torch._VF.rnn_tanh(x, h0.unsqueeze(0), weights, len(weights) == 4, 1, 0.0, False,
                                False, True)
    return out


CASES = [
    case("relu", "relu", [("x", [4, 6], "relu")], "", F.relu),
    case("exp", "exp", [("x", [3, 5], "n")], "", torch.exp),
    case("log", "log", [("x", [3, 5], "p")], "", torch.log),
    case("sqrt", "sqrt", [("x", [3, 5], "p")], "", torch.sqrt),
    case("neg", "neg", [("x", [3, 5], "n")], "", torch.neg),
    case("add_row", "add", [("x", [3, 4], "n"), ("x", [4], "n")], "", torch.add),
    case("add_outer", "add", [("x", [3, 1], "n"), ("x", [1, 4], "n")], "", torch.add),
    case("add_scalar", "add", [("x", [3, 4], "n"), ("x", [], "n")], "", torch.add),
    case("sub_col3d", "sub", [("x", [2, 3, 4], "n"), ("x", [3, 1], "n")], "", torch.sub),
    case("sub_same", "sub", [("x", [3, 4], "n"), ("x", [3, 4], "n")], "", torch.sub),
    case("mul_row", "mul", [("x", [3, 4], "n"), ("x", [4], "n")], "", torch.mul),
    case("mul_lead", "mul", [("x", [4], "n"), ("x", [2, 3, 4], "n")], "", torch.mul),
    case("div_row", "div", [("x", [3, 4], "n"), ("x", [4], "nz")], "", torch.div),
    case("div_col", "div", [("x", [3, 4], "n"), ("x", [3, 1], "nz")], "", torch.div),
    case("maximum", "maximum", [("x", [3, 4], "n"), ("x", [3, 4], "n")], "", torch.maximum),
    case("maximum_bcast", "maximum", [("x", [3, 4], "n"), ("x", [4], "n")], "", torch.maximum),
    case("maximum_ties", "maximum", [("x", [3, 4], "tie"), ("x", [3, 4], "tie")], "",
         torch.maximum),
    case("pow", "pow", [("x", [3, 4], "p"), ("x", [3, 4], "n")], "", torch.pow),
    case("pow_bcast", "pow", [("x", [3, 4], "p"), ("x", [4], "n")], "", torch.pow),
    case("matmul", "matmul", [("x", [3, 4], "n"), ("x", [4, 5], "n")], "",
         lambda a, b: a @ b),
    case("matmul_ta", "matmul", [("x", [4, 3], "n"), ("x", [4, 5], "n")], "transpose_a=1",
         lambda a, b: a.t() @ b),
    case("matmul_tb", "matmul", [("x", [3, 4], "n"), ("x", [5, 4], "n")], "transpose_b=1",
         lambda a, b: a @ b.t()),
    case("matmul_tab", "matmul", [("x", [4, 3], "n"), ("x", [5, 4], "n")],
         "transpose_a=1 transpose_b=1", lambda a, b: a.t() @ b.t()),
    case("reduce_sum_1", "reduce_sum", [("x", [3, 4], "n")], "dims=1",
         lambda x: x.sum(dim=1)),
    case("reduce_sum_0_keep", "reduce_sum", [("x", [3, 4], "n")], "dims=0 keepdim=1",
         lambda x: x.sum(dim=0, keepdim=True)),
    case("reduce_sum_02_keep", "reduce_sum", [("x", [2, 3, 4], "n")], "dims=0,2 keepdim=1",
         lambda x: x.sum(dim=(0, 2), keepdim=True)),
    case("reduce_sum_all", "reduce_sum", [("x", [2, 3, 4], "n")], "dims=0,1,2",
         lambda x: x.sum()),
    case("reduce_max_1", "reduce_max", [("x", [3, 5], "n")], "dims=1",
         lambda x: x.amax(dim=1)),
    case("reduce_max_0_keep", "reduce_max", [("x", [3, 5], "n")], "dims=0 keepdim=1",
         lambda x: x.amax(dim=0, keepdim=True)),
    case("reduce_max_12", "reduce_max", [("x", [2, 3, 4], "n")], "dims=1,2",
         lambda x: x.amax(dim=(1, 2))),
    case("softmax_0", "softmax", [("x", [4, 5], "n")], "dim=0", lambda x: F.softmax(x, 0)),
    case("softmax_1", "softmax", [("x", [4, 5], "n")], "dim=1", lambda x: F.softmax(x, 1)),
    case("log_softmax_0", "log_softmax", [("x", [4, 5], "n")], "dim=0",
         lambda x: F.log_softmax(x, 0)),
    case("log_softmax_1", "log_softmax", [("x", [4, 5], "n")], "dim=1",
         lambda x: F.log_softmax(x, 1)),
    case("log_softmax_3d", "log_softmax", [("x", [2, 3, 4], "n")], "dim=-1",
         lambda x: F.log_softmax(x, -1)),
    case("nll_mean", "nll_loss", [("x", [6, 5], "n"), ("t", [6], 5)], "reduction=mean",
         lambda x, t: F.nll_loss(x, t, reduction="mean")),
    case("nll_sum", "nll_loss", [("x", [6, 5], "n"), ("t", [6], 5)], "reduction=sum",
         lambda x, t: F.nll_loss(x, t, reduction="sum")),
    case("nll_none", "nll_loss", [("x", [6, 5], "n"), ("t", [6], 5)], "reduction=none",
         lambda x, t: F.nll_loss(x, t, reduction="none")),
    case("nll_w_mean", "nll_loss", [("x", [6, 5], "n"), ("t", [6], 5), ("w", [5], "p")],
         "reduction=mean", lambda x, t, w: F.nll_loss(x, t, weight=w, reduction="mean")),
    case("nll_w_sum", "nll_loss", [("x", [6, 5], "n"), ("t", [6], 5), ("w", [5], "p")],
         "reduction=sum", lambda x, t, w: F.nll_loss(x, t, weight=w, reduction="sum")),
    case("nll_w_none", "nll_loss", [("x", [6, 5], "n"), ("t", [6], 5), ("w", [5], "p")],
         "reduction=none", lambda x, t, w: F.nll_loss(x, t, weight=w, reduction="none")),
    case("ce_mean", "cross_entropy", [("x", [6, 5], "n"), ("t", [6], 5)], "reduction=mean",
         lambda x, t: F.cross_entropy(x, t, reduction="mean")),
    case("ce_sum", "cross_entropy", [("x", [6, 5], "n"), ("t", [6], 5)], "reduction=sum",
         lambda x, t: F.cross_entropy(x, t, reduction="sum")),
    case("ce_none", "cross_entropy", [("x", [6, 5], "n"), ("t", [6], 5)], "reduction=none",
         lambda x, t: F.cross_entropy(x, t, reduction="none")),
    case("ce_w_mean", "cross_entropy", [("x", [6, 5], "n"), ("t", [6], 5), ("w", [5], "p")],
         "reduction=mean", lambda x, t, w: F.cross_entropy(x, t, weight=w, reduction="mean")),
    case("linear", "linear", [("x", [3, 4], "n"), ("x", [4, 5], "n"), ("x", [5], "n")], "",
         kiln_linear),
    case("linear_nobias", "linear", [("x", [3, 4], "n"), ("x", [4, 5], "n")], "", kiln_linear),
    case("linear_3d", "linear", [("x", [2, 3, 4], "n"), ("x", [4, 5], "n"), ("x", [5], "n")],
         "", kiln_linear),
    case("flatten", "flatten", [("x", [2, 3, 4], "n")], "start_dim=1",
         lambda x: torch.flatten(x, 1)),
    case("mean_1", "reduce_mean", [("x", [3, 4], "n")], "dims=1", lambda x: x.mean(dim=1)),
    case("mean_01_keep", "reduce_mean", [("x", [2, 3, 4], "n")], "dims=0,1 keepdim=1",
         lambda x: x.mean(dim=(0, 1), keepdim=True)),
    # Activations, minimum, reduce_min, var and std. Appended after the older cases so those
    # keep their random draws (and bytes) when cases are added.
    case("abs", "abs", [("x", [4, 6], "relu")], "", torch.abs),
    case("clamp", "clamp", [("x", [4, 5], "tie")], "min=-0.5 max=0.5",
         lambda x: torch.clamp(x, -0.5, 0.5)),
    case("clamp_min", "clamp", [("x", [4, 5], "tie")], "min=-0.5",
         lambda x: torch.clamp(x, min=-0.5)),
    case("clamp_max", "clamp", [("x", [4, 5], "n")], "max=0.25",
         lambda x: torch.clamp(x, max=0.25)),
    case("leaky_relu", "leaky_relu", [("x", [4, 6], "relu")], "",
         lambda x: F.leaky_relu(x)),
    case("leaky_relu_02", "leaky_relu", [("x", [4, 6], "relu")], "negative_slope=0.2",
         lambda x: F.leaky_relu(x, 0.2)),
    case("sigmoid", "sigmoid", [("x", [4, 6], "wide")], "", torch.sigmoid),
    case("tanh", "tanh", [("x", [4, 6], "wide")], "", torch.tanh),
    case("gelu", "gelu", [("x", [4, 6], "n")], "", F.gelu),
    case("gelu_wide", "gelu", [("x", [4, 6], "wide")], "", F.gelu),
    case("normal_cdf", "normal_cdf", [("x", [4, 6], "wide")], "", torch.special.ndtr),
    case("minimum", "minimum", [("x", [3, 4], "n"), ("x", [3, 4], "n")], "", torch.minimum),
    case("minimum_bcast", "minimum", [("x", [3, 4], "n"), ("x", [4], "n")], "", torch.minimum),
    case("minimum_ties", "minimum", [("x", [3, 4], "tie"), ("x", [3, 4], "tie")], "",
         torch.minimum),
    case("reduce_min_1", "reduce_min", [("x", [3, 5], "n")], "dims=1",
         lambda x: x.amin(dim=1)),
    case("reduce_min_0_keep", "reduce_min", [("x", [3, 5], "n")], "dims=0 keepdim=1",
         lambda x: x.amin(dim=0, keepdim=True)),
    case("reduce_min_12", "reduce_min", [("x", [2, 3, 4], "n")], "dims=1,2",
         lambda x: x.amin(dim=(1, 2))),
    # Ties split the gradient evenly, as amax/amin do.
    case("reduce_max_ties", "reduce_max", [("x", [4, 6], "tie")], "dims=1",
         lambda x: x.amax(dim=1)),
    case("reduce_min_ties", "reduce_min", [("x", [4, 6], "tie")], "dims=0 keepdim=1",
         lambda x: x.amin(dim=0, keepdim=True)),
    case("var_1", "var", [("x", [3, 5], "n")], "dims=1",
         lambda x: torch.var(x, dim=1)),
    case("var_02_biased_keep", "var", [("x", [2, 3, 4], "n")], "dims=0,2 unbiased=0 keepdim=1",
         lambda x: torch.var(x, dim=(0, 2), unbiased=False, keepdim=True)),
    case("std_1", "std", [("x", [3, 5], "n")], "dims=1", lambda x: torch.std(x, dim=1)),
    case("std_0_biased", "std", [("x", [4, 3], "n")], "dims=0 unbiased=0",
         lambda x: torch.std(x, dim=0, unbiased=False)),
    case("std_all_keep", "std", [("x", [2, 3, 4], "n")], "dims=0,1,2 keepdim=1",
         lambda x: torch.std(x, dim=(0, 1, 2), keepdim=True)),
    case("softmax_3d_0", "softmax", [("x", [3, 2, 4], "n")], "dim=0",
         lambda x: F.softmax(x, 0)),
    case("softmax_3d_m1", "softmax", [("x", [3, 2, 4], "n")], "dim=-1",
         lambda x: F.softmax(x, -1)),
    case("log_softmax_3d_0", "log_softmax", [("x", [3, 2, 4], "n")], "dim=0",
         lambda x: F.log_softmax(x, 0)),
    # Shape, comparison and selection ops; i64 results (argmax, cast) are compared as floats.
    case("reshape", "reshape", [("x", [3, 4], "n")], "shape=2,-1", lambda x: x.reshape(2, 6)),
    case("broadcast_to", "broadcast_to", [("x", [3, 1], "n")], "shape=2,3,4",
         lambda x: x.expand(2, 3, 4)),
    case("transpose", "transpose", [("x", [2, 3, 4], "n")], "perm=2,0,1",
         lambda x: x.permute(2, 0, 1)),
    case("select", "select", [("w", [3, 4], "b"), ("x", [3, 4], "n"), ("x", [4], "n")], "",
         lambda c, a, b: torch.where(c > 0.5, a, b)),
    case("stop_gradient", "stop_gradient", [("x", [3, 4], "n")], "",
         lambda x: x.detach() + 0 * x),
    case("greater", "greater", [("w", [3, 4], "tie"), ("w", [4], "tie")], "",
         lambda a, b: (a > b).to(a.dtype)),
    case("greater_equal", "greater_equal", [("w", [3, 4], "tie"), ("w", [4], "tie")], "",
         lambda a, b: (a >= b).to(a.dtype)),
    case("equal", "equal", [("w", [3, 4], "tie"), ("w", [4], "tie")], "",
         lambda a, b: (a == b).to(a.dtype)),
    case("cast_to_i64", "cast", [("w", [3, 4], "wide")], "dtype=i64",
         lambda x: x.to(torch.int64).to(x.dtype)),
    case("argmax_dim1", "argmax", [("w", [3, 5], "n")], "dims=1 keepdim=0",
         lambda x: torch.argmax(x, 1).to(x.dtype)),
    case("argmax_dim0_keep", "argmax", [("w", [3, 5], "n")], "dims=0 keepdim=1",
         lambda x: torch.argmax(x, 0, keepdim=True).to(x.dtype)),
    # torch.nn.RNN's own kernel (tanh, one layer, batch_first) with the operands as its weights.
    case("rnn", "rnn", [("x", [2, 3, 4], "n"), ("x", [5, 4], "n"), ("x", [5, 5], "n"),
                        ("x", [5], "n"), ("x", [5], "n")], "bias=1 h0=0",
         lambda x, wi, wh, bi, bh: torch_rnn(x, [wi, wh, bi, bh])),
    case("rnn_h0_no_bias", "rnn", [("x", [2, 4, 3], "n"), ("x", [5, 3], "n"),
                                   ("x", [5, 5], "n"), ("x", [2, 5], "n")], "bias=0 h0=1",
         lambda x, wi, wh, h0: torch_rnn(x, [wi, wh], h0)),
    # Convolution, pooling and the window ops under them (ir/ops/conv_ops.cc, window_ops.cc).
    case("conv2d", "conv2d", [("x", [2, 3, 6, 6], "n"), ("x", [4, 3, 3, 3], "n"),
                              ("x", [4], "n")], "padding=1",
         lambda x, w, b: F.conv2d(x, w, b, padding=1)),
    case("conv2d_stride_dilation", "conv2d", [("x", [2, 2, 7, 8], "n"),
                                              ("x", [3, 2, 3, 2], "n")],
         "stride=2,1 padding=1,0 dilation=2,1",
         lambda x, w: F.conv2d(x, w, None, stride=(2, 1), padding=(1, 0), dilation=(2, 1))),
    case("conv2d_groups", "conv2d", [("x", [2, 4, 5, 5], "n"), ("x", [6, 2, 3, 3], "n"),
                                     ("x", [6], "n")], "groups=2 stride=2 padding=1",
         lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1, groups=2)),
    case("max_pool2d", "max_pool2d", [("x", [2, 3, 6, 6], "n")], "kernel_size=2",
         lambda x: F.max_pool2d(x, 2)),
    # Ties: the gradient goes to the first maximum of each window, as in PyTorch.
    case("max_pool2d_ties_pad", "max_pool2d", [("x", [2, 2, 7, 7], "tie")],
         "kernel_size=3 stride=2 padding=1",
         lambda x: F.max_pool2d(x, 3, stride=2, padding=1)),
    case("avg_pool2d", "avg_pool2d", [("x", [2, 3, 6, 6], "n")], "kernel_size=2",
         lambda x: F.avg_pool2d(x, 2)),
    case("avg_pool2d_pad", "avg_pool2d", [("x", [2, 2, 7, 7], "n")],
         "kernel_size=3 stride=2 padding=1",
         lambda x: F.avg_pool2d(x, 3, stride=2, padding=1)),
    case("avg_pool2d_exclude_pad", "avg_pool2d", [("x", [2, 2, 7, 7], "n")],
         "kernel_size=3 stride=2 padding=1 count_include_pad=0",
         lambda x: F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)),
    case("im2col", "im2col", [("x", [2, 3, 5, 5], "n")], "kernel=3 stride=2 padding=1",
         lambda x: kiln_im2col(x, 3, 2, 1)),
    case("col2im", "col2im", [("x", [2, 3, 3, 3, 3, 2], "n")],
         "kernel=3 stride=2 padding=1 input_size=5,5",
         lambda p: kiln_col2im(p, (5, 5), 3, 2, 1)),
    case("slice", "slice", [("x", [5, 7], "n")], "starts=1,0 stops=5,7 steps=2,3",
         lambda x: x[1:5:2, 0:7:3]),
    case("pad", "pad", [("x", [2, 3, 4], "n")], "lo=0,1,2 shape=2,5,7 value=0.5",
         lambda x: F.pad(x, (2, 1, 1, 1), value=0.5)),
    case("pad_strided", "pad", [("x", [3, 4], "n")], "lo=1,0 stride=2,3 shape=7,11",
         lambda x: kiln_strided_pad(x, (1, 0), (2, 3), (7, 11))),
    case("concat", "concat", [("x", [2, 3], "n"), ("x", [2, 2], "n"), ("x", [2, 1], "n")],
         "dim=1", lambda a, b, c: torch.cat([a, b, c], 1)),
    case("adaptive_avg_pool2d", "adaptive_avg_pool2d", [("x", [2, 3, 7, 5], "n")],
         "output_size=3,2", lambda x: F.adaptive_avg_pool2d(x, (3, 2))),
    case("adaptive_avg_pool2d_up", "adaptive_avg_pool2d", [("x", [1, 2, 3, 4], "n")],
         "output_size=5,6", lambda x: F.adaptive_avg_pool2d(x, (5, 6))),
    case("gather", "gather", [("x", [3, 4], "n"), ("t", [3, 5], 4)], "dim=1",
         lambda x, t: torch.gather(x, 1, t)),
    case("gather_dim0", "gather", [("x", [4, 2, 3], "n"), ("t", [2, 2, 3], 4)], "dim=0",
         lambda x, t: torch.gather(x, 0, t)),
    case("one_hot", "one_hot", [("t", [6], 5)], "num_classes=5",
         lambda t: F.one_hot(t, 5).float()),
    case("adaptive_avg_pool2d_1x1", "adaptive_avg_pool2d", [("x", [2, 4, 6, 6], "n")],
         "output_size=1", lambda x: F.adaptive_avg_pool2d(x, 1)),
    # Losses (ir/ops/loss_ops.cc). Targets are "w" operands (no gradient compared) except the
    # regression losses', whose target gradient PyTorch also gives.
    *[case("bce_" + r, "binary_cross_entropy", [("x", [4, 3], "u"), ("w", [4, 3], "b")],
           "reduction=" + r,
           lambda x, t, r=r: F.binary_cross_entropy(x, t, reduction=r))
      for r in ("mean", "sum", "none")],
    case("bce_w_mean", "binary_cross_entropy",
         [("x", [4, 3], "u"), ("w", [4, 3], "u"), ("w", [3], "p")], "reduction=mean",
         lambda x, t, w: F.binary_cross_entropy(x, t, weight=w, reduction="mean")),
    case("bce_column", "binary_cross_entropy", [("x", [6, 1], "u"), ("w", [6, 1], "b")],
         "reduction=mean", lambda x, t: F.binary_cross_entropy(x, t)),
    *[case("bcel_" + r, "binary_cross_entropy_with_logits",
           [("x", [4, 3], "wide"), ("w", [4, 3], "b")], "reduction=" + r,
           lambda x, t, r=r: F.binary_cross_entropy_with_logits(x, t, reduction=r))
      for r in ("mean", "sum", "none")],
    case("bcel_pw_mean", "binary_cross_entropy_with_logits",
         [("x", [4, 3], "wide"), ("w", [4, 3], "u"), ("w", [3], "p")], "reduction=mean",
         lambda x, t, pw: F.binary_cross_entropy_with_logits(x, t, pos_weight=pw)),
    *[case("ce_prob_" + r, "cross_entropy", [("x", [4, 5], "n"), ("w", [4, 5], "simplex")],
           "reduction=" + r, lambda x, t, r=r: F.cross_entropy(x, t, reduction=r))
      for r in ("mean", "sum", "none")],
    case("ce_prob_w_ls_mean", "cross_entropy",
         [("x", [4, 5], "n"), ("w", [4, 5], "simplex"), ("w", [5], "p")],
         "reduction=mean label_smoothing=0.1",
         lambda x, t, w: F.cross_entropy(x, t, weight=w, label_smoothing=0.1)),
    case("ce_onehot_ls_sum", "cross_entropy", [("x", [4, 5], "n"), ("w", [4, 5], "onehot")],
         "reduction=sum label_smoothing=0.2",
         lambda x, t: F.cross_entropy(x, t, reduction="sum", label_smoothing=0.2)),
    *[case("ce_ls_" + r, "cross_entropy", [("x", [6, 5], "n"), ("t", [6], 5)],
           "reduction=%s label_smoothing=0.1" % r,
           lambda x, t, r=r: F.cross_entropy(x, t, reduction=r, label_smoothing=0.1))
      for r in ("mean", "sum", "none")],
    *[case("ce_w_ls_" + r, "cross_entropy", [("x", [6, 5], "n"), ("t", [6], 5), ("w", [5], "p")],
           "reduction=%s label_smoothing=0.15" % r,
           lambda x, t, w, r=r: F.cross_entropy(x, t, weight=w, reduction=r,
                                                label_smoothing=0.15))
      for r in ("mean", "sum", "none")],
    case("ce_w_sum", "cross_entropy", [("x", [6, 5], "n"), ("t", [6], 5), ("w", [5], "p")],
         "reduction=sum", lambda x, t, w: F.cross_entropy(x, t, weight=w, reduction="sum")),
    *[case("mse_" + r, "mse_loss", [("x", [3, 4], "n"), ("x", [3, 4], "n")], "reduction=" + r,
           lambda x, t, r=r: F.mse_loss(x, t, reduction=r))
      for r in ("mean", "sum", "none")],
    *[case("l1_" + r, "l1_loss", [("x", [3, 4], "n"), ("x", [3, 4], "n")], "reduction=" + r,
           lambda x, t, r=r: F.l1_loss(x, t, reduction=r))
      for r in ("mean", "sum", "none")],
    *[case("smooth_l1_" + r, "smooth_l1_loss", [("x", [3, 4], "wide"), ("x", [3, 4], "n")],
           "reduction=" + r, lambda x, t, r=r: F.smooth_l1_loss(x, t, reduction=r))
      for r in ("mean", "sum", "none")],
    case("smooth_l1_beta05", "smooth_l1_loss", [("x", [3, 4], "n"), ("x", [3, 4], "n")],
         "reduction=mean beta=0.5", lambda x, t: F.smooth_l1_loss(x, t, beta=0.5)),
    case("smooth_l1_beta0", "smooth_l1_loss", [("x", [3, 4], "n"), ("x", [3, 4], "n")],
         "reduction=sum beta=0.0", lambda x, t: F.smooth_l1_loss(x, t, reduction="sum", beta=0.0)),
    # NaN goes through as in PyTorch, forward and backward ("nan": every 13th element is NaN, so
    # no 2x2 pooling window holds two: there PyTorch's CPU kernel takes the last NaN, kiln's
    # argmax the first, as torch.argmax does).
    case("relu_nan", "relu", [("x", [4, 6], "nan")], "", F.relu),
    case("leaky_relu_nan", "leaky_relu", [("x", [4, 6], "nan")], "", lambda x: F.leaky_relu(x)),
    case("clamp_nan", "clamp", [("x", [4, 5], "nan")], "min=-0.5 max=0.5",
         lambda x: torch.clamp(x, -0.5, 0.5)),
    case("maximum_nan", "maximum", [("x", [3, 5], "nan"), ("x", [3, 5], "n")], "", torch.maximum),
    case("maximum_nan_rhs", "maximum", [("x", [3, 5], "n"), ("x", [3, 5], "nan")], "",
         torch.maximum),
    case("minimum_nan", "minimum", [("x", [3, 5], "nan"), ("x", [3, 5], "n")], "", torch.minimum),
    case("minimum_nan_rhs", "minimum", [("x", [3, 5], "n"), ("x", [3, 5], "nan")], "",
         torch.minimum),
    case("max_pool2d_nan", "max_pool2d", [("x", [2, 3, 6, 6], "nan")], "kernel_size=2",
         lambda x: F.max_pool2d(x, 2)),
    # A row with a NaN: its max is NaN and, as amax shares the gradient among the elements equal
    # to the max (none), its gradient is NaN throughout.
    case("reduce_max_nan", "reduce_max", [("x", [3, 5], "nan")], "dims=1",
         lambda x: x.amax(dim=1)),
    case("reduce_min_nan", "reduce_min", [("x", [3, 5], "nan")], "dims=1",
         lambda x: x.amin(dim=1)),
    # Appended last so the cases above keep their random data. 8 patch rows against 16 output
    # channels: conv2d builds channel-major patches here (ir/ops/conv_ops.cc).
    case("conv2d_more_channels_than_rows", "conv2d",
         [("x", [2, 4, 4, 4], "n"), ("x", [16, 4, 3, 3], "n"), ("x", [16], "n")],
         "stride=2 padding=1",
         lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1)),
    # Kernel taps that read only padding: kiln drops them from the GEMM (ir/ops/conv_ops.cc);
    # their gradient must still come back as PyTorch's zeros.
    case("conv2d_one_pixel", "conv2d",
         [("x", [3, 8, 1, 1], "n"), ("x", [6, 8, 3, 3], "n"), ("x", [6], "n")], "padding=1",
         lambda x, w, b: F.conv2d(x, w, b, padding=1)),
    case("conv2d_stride2_two_pixels", "conv2d",
         [("x", [2, 5, 2, 2], "n"), ("x", [7, 5, 3, 3], "n")], "stride=2 padding=1",
         lambda x, w: F.conv2d(x, w, None, stride=2, padding=1)),
    # Maps with fewer positions than the kernel has taps, batches large enough for kiln to
    # multiply by a dense weight of the taps that reach each position instead of im2col
    # (ir/ops/conv_ops.cc, DenseIsCheaper).
    case("conv2d_map_smaller_than_kernel", "conv2d",
         [("x", [8, 4, 2, 3], "n"), ("x", [6, 4, 3, 3], "n"), ("x", [6], "n")], "padding=1",
         lambda x, w, b: F.conv2d(x, w, b, padding=1)),
    case("conv2d_map_smaller_than_kernel_stride2", "conv2d",
         [("x", [4, 3, 3, 3], "n"), ("x", [5, 3, 5, 5], "n")], "stride=2 padding=2",
         lambda x, w: F.conv2d(x, w, None, stride=2, padding=2)),
    # More padding than the kernel reaches past the map: the dense weight reads zero-padded taps.
    case("conv2d_map_smaller_than_kernel_padded", "conv2d",
         [("x", [4, 3, 2, 2], "n"), ("x", [4, 3, 3, 3], "n"), ("x", [4], "n")], "padding=2",
         lambda x, w, b: F.conv2d(x, w, b, padding=2)),
]


def kiln_im2col(x, k, s, p):
    """kiln's im2col layout [N,OH,OW,KH,KW,C] from torch's unfold [N, C*KH*KW, OH*OW]."""
    n, c, h, w = x.shape
    oh, ow = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
    cols = F.unfold(x, k, padding=p, stride=s)
    return cols.reshape(n, c, k, k, oh, ow).permute(0, 4, 5, 2, 3, 1)


def kiln_col2im(patches, size, k, s, p):
    n, oh, ow = patches.shape[:3]
    c = patches.shape[5]
    cols = patches.permute(0, 5, 3, 4, 1, 2).reshape(n, c * k * k, oh * ow)
    return F.fold(cols, size, k, padding=p, stride=s)


def kiln_strided_pad(x, lo, stride, shape):
    out = torch.zeros(shape, dtype=x.dtype)
    out[lo[0]::stride[0], lo[1]::stride[1]] = x
    return out


def generate(gen, shape, kind):
    if kind == "p":
        return 0.5 + 1.5 * torch.rand(shape, generator=gen)
    values = torch.randn(shape, generator=gen)
    if kind == "nz":
        return torch.sign(values) * (0.3 + values.abs())
    if kind == "relu":
        flat = values.reshape(-1)
        flat[::5] = 0.0  # Exact zeros: PyTorch's relu gradient there is 0.
        return flat.reshape(shape)
    if kind == "wide":
        return values * 3.0  # Reaches the tails of sigmoid, tanh and gelu.
    if kind == "u":
        return 0.05 + 0.9 * torch.rand(shape, generator=gen)  # Probabilities away from 0 and 1.
    if kind == "b":
        return torch.randint(0, 2, shape, generator=gen).to(torch.float32)  # Binary targets.
    if kind == "simplex":
        return torch.softmax(values * 2.0, dim=-1)  # Rows of class probabilities.
    if kind == "onehot":
        return F.one_hot(torch.randint(0, shape[-1], shape[:-1], generator=gen),
                         shape[-1]).to(torch.float32)
    if kind == "nan":
        flat = values.reshape(-1)
        flat[5::13] = float("nan")
        return flat.reshape(shape)
    if kind == "tie":
        # Few distinct values, so the two operands of maximum tie at several positions.
        return torch.randint(-2, 3, shape, generator=gen).to(torch.float32) * 0.5
    return values


def run_case(c, inputs, upstream, dtype):
    args = []
    for (kind, _, _), value in zip(c["operands"], inputs):
        if kind == "t":
            args.append(value)
        else:
            args.append(value.to(dtype).clone().requires_grad_(kind == "x"))
    out = c["fn"](*args)
    if any(kind == "x" for kind, _, _ in c["operands"]):
        (out * upstream.to(dtype)).sum().backward()
    grads = [a.grad for (kind, _, _), a in zip(c["operands"], args) if kind == "x"]
    return out.detach(), grads


def write_ops():
    gen = torch.Generator().manual_seed(20261122)
    w = Writer(os.path.join(HERE, "ops.kgf"))
    w.meta("tolerance", "rtol=%g" % RTOL, "floor=%g" % FLOOR)
    worst = 0.0
    for c in CASES:
        inputs = []
        for kind, shape, g in c["operands"]:
            if kind == "t":
                inputs.append(torch.randint(0, g, shape, generator=gen))
            else:
                inputs.append(generate(gen, shape, g).to(torch.float32))
        with torch.no_grad():
            out_shape = c["fn"](*[i.double() if i.is_floating_point() else i
                                  for i in inputs]).shape
        upstream = torch.randn(out_shape, generator=gen).to(torch.float32)
        out, grads = run_case(c, inputs, upstream, torch.float64)
        out32, grads32 = run_case(c, inputs, upstream, torch.float32)
        worst = max([worst, max_scaled_error(out32, out)] +
                    [max_scaled_error(g32, g) for g32, g in zip(grads32, grads)])
        operands = " ".join("%s:%s" % (kind, "x".join(str(d) for d in shape) or "scalar")
                            for kind, shape, _ in c["operands"])
        w.meta("case", c["name"], c["op"], "|", c["attrs"] or "-", "|", operands)
        for i, ((kind, _, _), value) in enumerate(zip(c["operands"], inputs)):
            w.tensor("%s.in%d" % (c["name"], i), value.numpy(), "i64" if kind == "t" else "f32")
        w.tensor(c["name"] + ".upstream", upstream.numpy(), "f32")
        w.tensor(c["name"] + ".out", out.numpy(), "f32")
        grad_index = 0
        for i, (kind, _, _) in enumerate(c["operands"]):
            if kind != "x":
                continue
            w.tensor("%s.grad%d" % (c["name"], i), grads[grad_index].numpy(), "f32")
            grad_index += 1
    size = w.close()
    print("%-22s %8d bytes  %d cases  torch-f32 worst error %.3f of tolerance" %
          ("ops.kgf", size, len(CASES), worst))
    assert worst <= 1.0
    return size


# ---------------------------------------------------------------------------------------------
# Batch normalization layers. Each case is nn.BatchNorm1d/2d(C, eps, momentum) with fixed weight
# and bias: two training-mode steps out = bn(x_s), loss = sum(out * upstream_s) (no optimizer, so
# weight and bias stay put and only the running statistics move), then bn.eval() on x3.

BATCH_NORM_CASES = [
    # name, kiln layer, input shape, momentum, eps
    ("bn1d_2d", "batch_norm1d", [8, 5], 0.1, 1e-5),
    ("bn1d_3d", "batch_norm1d", [4, 3, 6], 0.1, 1e-5),
    ("bn2d", "batch_norm2d", [4, 3, 2, 5], 0.1, 1e-5),
    ("bn2d_m03", "batch_norm2d", [2, 4, 3, 3], 0.3, 1e-3),
]


def run_batch_norm(layer, channels, momentum, eps, weight, bias, steps, x_eval, dtype):
    module = (torch.nn.BatchNorm1d if layer == "batch_norm1d" else torch.nn.BatchNorm2d)(
        channels, eps=eps, momentum=momentum).to(dtype)
    with torch.no_grad():
        module.weight.copy_(weight.to(dtype))
        module.bias.copy_(bias.to(dtype))
    module.train()
    results = []
    for x, upstream in steps:
        module.zero_grad()
        xs = x.to(dtype).clone().requires_grad_(True)
        out = module(xs)
        (out * upstream.to(dtype)).sum().backward()
        # zero_grad() zeroes .grad in place: keep copies.
        results.append({"out": out.detach(), "grad_x": xs.grad.clone(),
                        "grad_weight": module.weight.grad.clone(),
                        "grad_bias": module.bias.grad.clone(),
                        "running_mean": module.running_mean.clone(),
                        "running_var": module.running_var.clone()})
    module.eval()
    with torch.no_grad():
        eval_out = module(x_eval.to(dtype))
    return results, eval_out


def write_batch_norm():
    gen = torch.Generator().manual_seed(5)
    w = Writer(os.path.join(HERE, "batch_norm.kgf"))
    w.meta("tolerance", "rtol=%g" % RTOL, "floor=%g" % FLOOR)
    worst = 0.0
    for name, layer, shape, momentum, eps in BATCH_NORM_CASES:
        channels = shape[1]
        # Per-channel offsets and scales, so that the running statistics move visibly.
        view = [1, channels] + [1] * (len(shape) - 2)
        offset = (2.0 * torch.randn(channels, generator=gen)).reshape(view)
        scale = (0.5 + 2.0 * torch.rand(channels, generator=gen)).reshape(view)
        draw = lambda: (torch.randn(shape, generator=gen) * scale + offset).to(torch.float32)
        weight = (0.5 + torch.rand(channels, generator=gen)).to(torch.float32)
        bias = torch.randn(channels, generator=gen).to(torch.float32)
        steps = []
        for _ in range(2):
            x = draw()
            steps.append((x, torch.randn(shape, generator=gen).to(torch.float32)))
        x_eval = draw()
        ref, ref_eval = run_batch_norm(layer, channels, momentum, eps, weight, bias, steps,
                                       x_eval, torch.float64)
        got, got_eval = run_batch_norm(layer, channels, momentum, eps, weight, bias, steps,
                                       x_eval, torch.float32)
        w.meta("case", name, layer, momentum, eps)
        w.tensor(name + ".weight", weight.numpy(), "f32")
        w.tensor(name + ".bias", bias.numpy(), "f32")
        for s, (x, upstream) in enumerate(steps, start=1):
            w.tensor("%s.x%d" % (name, s), x.numpy(), "f32")
            w.tensor("%s.upstream%d" % (name, s), upstream.numpy(), "f32")
            for key, value in ref[s - 1].items():
                w.tensor("%s.%s%d" % (name, key, s), value.numpy(), "f32")
                worst = max(worst, max_scaled_error(got[s - 1][key], value))
        w.tensor(name + ".x3", x_eval.numpy(), "f32")
        w.tensor(name + ".eval_out3", ref_eval.numpy(), "f32")
        worst = max(worst, max_scaled_error(got_eval, ref_eval))
    size = w.close()
    print("%-22s %8d bytes  %d cases  torch-f32 worst error %.3f of tolerance" %
          ("batch_norm.kgf", size, len(BATCH_NORM_CASES), worst))
    assert worst <= 1.0
    return size


def main():
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    pixels, labels, source = load_batches()
    total = 0
    total += write_w3("w3_adam.kgf", "adam", False, True, pixels, labels, source)
    total += write_w3("w3_sgd.kgf", "sgd", False, False, pixels, labels, source)
    total += write_w3("w3_cross_entropy.kgf", "adam", True, False, pixels, labels, source)
    total += write_ops()
    total += write_batch_norm()
    total += write_fidelity()
    print("total %d bytes (torch %s, data: %s)" % (total, torch.__version__, source))
    assert total < 2 * 1024 * 1024, "fixtures must stay under 2 MB"
    return 0


if __name__ == "__main__":
    sys.exit(main())
