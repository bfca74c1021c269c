#!/usr/bin/python3
"""Writes random_models.kgf for random_differential_test.cc: a few hundred random small models,
each a .kiln text and the same model in PyTorch, trained for a few steps from identical weights
and batches; the fixture holds the loss of every step and the parameters afterwards.

Run with Debian's python3 (it has torch 1.13): /usr/bin/python3 tests/golden/make_random_fixtures.py

The output is deterministic (a fixed NumPy seed picks every structure, option and number; torch
runs single-threaded). A case is one of
  mlp   linear layers of random widths, each optionally followed by batch_norm1d or a hand-written
        layer norm, a random activation, dropout(p=0) and a product with a rank-0 parameter;
  cnn   one or two conv2d layers (random kernel, stride, padding, dilation, groups), optionally
        batch_norm2d, an activation and a max/avg/adaptive-avg pool, then flatten and a linear;
  rnn   kiln's rnn layer (nn.RNN, tanh, batch-first), then the last step or the mean over time;
then a random head and loss (cross_entropy with class or probability targets, class weights,
label smoothing; nll_loss after log_softmax; mse, l1, smooth_l1; binary_cross_entropy after a
sigmoid; binary_cross_entropy_with_logits with pos_weight; mean or sum reduction), a random
optimizer with random hyperparameters (every torch.optim rule kiln implements, foreach=False) and
random train options (clip_grad_norm, clip_grad_value, freeze).

The activations are those kiln has as ops (relu, tanh, sigmoid, gelu, leaky_relu) plus some
written from kiln ops whose PyTorch counterparts have the same formula (silu = x * sigmoid(x),
softplus = log(1 + exp(x)) below its threshold, elu = max(x, 0) + exp(min(x, 0)) - 1,
hardtanh = clamp(x, -1, 1)).

The reference runs in float64 from the float32 weights and data (the exact answer to the float32
problem kiln solves). The script also trains each case in float32 and drops a case whose float32
PyTorch run misses the C++ test's tolerance (RTOL with the 10% floor, per tensor, for the losses
and for every final parameter): such a case amplifies rounding (an Adam step on a gradient that
is pure cancellation, say) and no float32 implementation could be held to it. Dropped cases are
listed as "meta dropped NAME REASON".

Fixture (".kgf", see golden_fixture.h): each case is a line "meta case NAME worst32=E TAGS...",
where E is PyTorch float32's worst error in units of the tolerance and the tags say what the case
exercises, and these tensors:
  NAME.kiln          u8    the model and train section, kiln DSL
  NAME.input.IN      f32/i64 [steps, B, ...]: every step's batch for the inputs x and y;
                     any other input (class weights cw, pos_weight pw) is the same every step
  NAME.init.P        f32   the initial value of parameter or running statistic P (kiln layout)
  NAME.losses        f32   [steps] the float64 loss of each step
  NAME.final.P       f32   P after the last step
"""
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures import Writer, max_scaled_error  # noqa: E402  (writer and tolerance rule)

HERE = os.path.dirname(os.path.abspath(__file__))
SEED = 20261203
NUM_CASES = 300

# ---------------------------------------------------------------------------------------------
# A model is built once as kiln DSL lines and, in step, as PyTorch closures over an environment
# of named tensors (parameters, running statistics, inputs and intermediate values).


def fmt(v):
    """A number as kiln DSL (and Python) reads it back exactly."""
    if isinstance(v, bool):
        return "true" if v else "false"
    return repr(v)


class Net:
    def __init__(self, rng):
        self.rng = rng
        self.lines = []     # kiln statements of the model body
        self.steps = []     # (var, fn(env) -> tensor)
        self.shapes = {}
        self.params = {}    # name -> float32 array (kiln layout), trainable
        self.stats = {}     # name -> float32 array, running statistics
        self.bn = []        # (prefix, momentum, eps) of every batch norm
        self.inputs = []    # (name, dtype, shape without the batch dim or None if constant)
        self.layer_count = 0
        self.tags = []

    def var(self, expr, fn, shape):
        name = "t%d" % len(self.steps)
        self.lines.append("%s = %s" % (name, expr))
        self.steps.append((name, fn))
        self.shapes[name] = tuple(shape)
        return name

    def uniform(self, shape, bound):
        return (self.rng.uniform(-bound, bound, size=shape)).astype(np.float32)

    def layer_name(self, kind):
        self.layer_count += 1
        return "%s%d" % (kind, self.layer_count)

    # --- layers -----------------------------------------------------------------------------
    def linear(self, x, out, bias=True):
        name = self.layer_name("fc")
        fan_in = self.shapes[x][-1]
        bound = 1.0 / math.sqrt(fan_in)
        w, b = name + ".weight", name + ".bias"
        self.params[w] = self.uniform((fan_in, out), bound)
        if bias:
            self.params[b] = self.uniform((out,), bound)
        expr = "linear(%s, %d%s, name=%s)" % (x, out, "" if bias else ", bias=false", name)
        if bias:
            fn = lambda e: e[x] @ e[w] + e[b]
        else:
            fn = lambda e: e[x] @ e[w]
        return self.var(expr, fn, self.shapes[x][:-1] + (out,))

    def batch_norm(self, x):
        rank = len(self.shapes[x])
        name = self.layer_name("bn")
        c = self.shapes[x][1]
        momentum = float(self.rng.choice([0.1, 0.3, 0.9]))
        eps = float(self.rng.choice([1e-5, 1e-3]))
        self.params[name + ".weight"] = (1.0 + self.uniform((c,), 0.3)).astype(np.float32)
        self.params[name + ".bias"] = self.uniform((c,), 0.3)
        self.stats[name + ".running_mean"] = self.uniform((c,), 0.5)
        self.stats[name + ".running_var"] = (1.0 + self.uniform((c,), 0.5)).astype(np.float32)
        self.bn.append(name)
        layer = "batch_norm1d" if rank in (2, 3) else "batch_norm2d"
        self.tags.append(layer)
        expr = "%s(%s, momentum=%s, eps=%s, name=%s)" % (layer, x, fmt(momentum), fmt(eps), name)

        def fn(e):
            return F.batch_norm(e[x], e[name + ".running_mean"], e[name + ".running_var"],
                                e[name + ".weight"], e[name + ".bias"], training=True,
                                momentum=momentum, eps=eps)
        return self.var(expr, fn, self.shapes[x])

    def layer_norm(self, x):
        """Layer norm over the last dim without affine, from kiln ops; F.layer_norm in torch."""
        self.tags.append("layer_norm")
        eps = 1e-5
        d = self.shapes[x][-1]
        mu = self.var("mean(%s, 1, keepdim=true)" % x, lambda e: e[x].mean(1, keepdim=True),
                      self.shapes[x][:-1] + (1,))
        cen = self.var("%s - %s" % (x, mu), lambda e: e[x] - e[mu], self.shapes[x])
        var = self.var("mean(%s * %s, 1, keepdim=true)" % (cen, cen),
                       lambda e: (e[cen] * e[cen]).mean(1, keepdim=True), self.shapes[mu])
        return self.var("%s / sqrt(%s + %s)" % (cen, var, fmt(eps)),
                        lambda e: F.layer_norm(e[x], (d,), eps=eps), self.shapes[x])

    def activation(self, x):
        kind = str(self.rng.choice(["relu", "tanh", "sigmoid", "gelu", "leaky_relu", "silu",
                                    "softplus", "elu", "hardtanh", "none"]))
        self.tags.append(kind)
        s = self.shapes[x]
        if kind == "none":
            return x
        if kind == "leaky_relu":
            slope = float(self.rng.choice([0.01, 0.1, 0.25]))
            return self.var("leaky_relu(%s, negative_slope=%s)" % (x, fmt(slope)),
                            lambda e: F.leaky_relu(e[x], slope), s)
        table = {
            "relu": ("relu(%s)", F.relu),
            "tanh": ("tanh(%s)", torch.tanh),
            "sigmoid": ("sigmoid(%s)", torch.sigmoid),
            "gelu": ("gelu(%s)", F.gelu),
            "silu": ("%s * sigmoid(%s)", F.silu),
            "softplus": ("log(1 + exp(%s))", F.softplus),
            "elu": ("maximum(%s, 0) + exp(minimum(%s, 0)) - 1", F.elu),
            "hardtanh": ("clamp(%s, min=-1, max=1)", F.hardtanh),
        }
        template, torch_fn = table[kind]
        expr = template % ((x,) * template.count("%s"))
        return self.var(expr, lambda e: torch_fn(e[x]), s)

    def scalar_scale(self, x):
        """x * s for a rank-0 parameter s (a learnable temperature)."""
        name = self.layer_name("scale")
        self.params[name] = np.array(1.0 + self.rng.uniform(-0.3, 0.3), dtype=np.float32)
        self.tags.append("scalar_param")
        self.lines.append("param %s: f32[] = ones" % name)
        return self.var("%s * %s" % (x, name), lambda e: e[x] * e[name], self.shapes[x])

    def dropout0(self, x):
        self.tags.append("dropout0")
        return self.var("dropout(%s, p=0.0)" % x, lambda e: F.dropout(e[x], p=0.0), self.shapes[x])

    def conv(self, x, bias=True):
        n, cin, h, w = self.shapes[x]
        rng = self.rng
        groups = int(rng.choice([1, 1, 1, cin])) if cin > 1 else 1
        cout = int(rng.choice([2, 3, 4]))
        if groups > 1:
            cout = groups * int(rng.choice([1, 2]))
        k = int(rng.choice([1, 2, 3]))
        stride = int(rng.choice([1, 1, 2]))
        padding = int(rng.choice([0, 0, 1])) if k > 1 else 0
        dilation = int(rng.choice([1, 1, 1, 2])) if k > 1 else 1
        span = dilation * (k - 1) + 1
        if min(h, w) + 2 * padding < span:
            dilation, k = 1, min(k, min(h, w) + 2 * padding)
            padding, span = min(padding, k // 2), k
        oh = (h + 2 * padding - span) // stride + 1
        ow = (w + 2 * padding - span) // stride + 1
        name = self.layer_name("conv")
        fan_in = cin // groups * k * k
        bound = 1.0 / math.sqrt(fan_in)
        wn, bn = name + ".weight", name + ".bias"
        self.params[wn] = self.uniform((cout, cin // groups, k, k), bound)
        if bias:
            self.params[bn] = self.uniform((cout,), bound)
        self.tags.append("conv_k%d_s%d_p%d_d%d_g%d" % (k, stride, padding, dilation, groups))
        expr = ("conv2d(%s, %d, %d, %d, stride=%d, padding=%d, dilation=%d, groups=%d%s, name=%s)" %
                (x, cin, cout, k, stride, padding, dilation, groups, "" if bias else ", bias=false",
                 name))
        return self.var(expr, lambda e: F.conv2d(e[x], e[wn], e[bn] if bias else None, stride,
                                                 padding, dilation, groups), (n, cout, oh, ow))

    def pool(self, x):
        n, c, h, w = self.shapes[x]
        kind = str(self.rng.choice(["max", "avg", "adaptive", "none"]))
        if kind == "none" or min(h, w) < 2:
            return x
        self.tags.append(kind + "_pool")
        if kind == "adaptive":
            o = int(self.rng.choice([1, 2]))
            return self.var("adaptive_avg_pool2d(%s, %d)" % (x, o),
                            lambda e: F.adaptive_avg_pool2d(e[x], o), (n, c, o, o))
        k = int(self.rng.choice([2, 3])) if min(h, w) >= 3 else 2
        stride = int(self.rng.choice([1, 2, k]))
        padding = int(self.rng.choice([0, 0, 1])) if k >= 2 else 0
        oh = (h + 2 * padding - k) // stride + 1
        ow = (w + 2 * padding - k) // stride + 1
        if kind == "max":
            return self.var("max_pool2d(%s, %d, stride=%d, padding=%d)" % (x, k, stride, padding),
                            lambda e: F.max_pool2d(e[x], k, stride, padding), (n, c, oh, ow))
        include = bool(self.rng.randint(2))
        return self.var("avg_pool2d(%s, %d, stride=%d, padding=%d, count_include_pad=%s)" % (
            x, k, stride, padding, fmt(include)),
            lambda e: F.avg_pool2d(e[x], k, stride, padding, count_include_pad=include),
            (n, c, oh, ow))

    def flatten(self, x):
        s = self.shapes[x]
        return self.var("flatten(%s)" % x, lambda e: torch.flatten(e[x], 1),
                        (s[0], int(np.prod(s[1:]))))

    def rnn(self, x):
        n, t, i = self.shapes[x]
        hidden = int(self.rng.randint(2, 6))
        bias = bool(self.rng.randint(4))
        name = self.layer_name("rnn")
        bound = 1.0 / math.sqrt(hidden)
        names = [name + ".weight_ih_l0", name + ".weight_hh_l0"]
        self.params[names[0]] = self.uniform((hidden, i), bound)
        self.params[names[1]] = self.uniform((hidden, hidden), bound)
        if bias:
            names += [name + ".bias_ih_l0", name + ".bias_hh_l0"]
            for b in names[2:]:
                self.params[b] = self.uniform((hidden,), bound)
        self.tags.append("rnn" if bias else "rnn_nobias")

        def fn(e):
            h0 = torch.zeros(1, e[x].shape[0], hidden, dtype=e[x].dtype)
            out, _ = torch.rnn_tanh(e[x], h0, [e[p] for p in names], bias, 1, 0.0, True, False,
                                    True)
            return out
        out = self.var("rnn(%s, %d%s, name=%s)" % (x, hidden, "" if bias else ", bias=false", name),
                       fn, (n, t, hidden))
        if self.rng.randint(2):
            self.tags.append("last_step")
            last = self.var("slice(%s, dim=1, start=-1)" % out, lambda e: e[out][:, -1:, :],
                            (n, 1, hidden))
            return self.var("reshape(%s, [B, %d])" % (last, hidden),
                            lambda e: e[last].reshape(-1, hidden), (n, hidden))
        self.tags.append("mean_time")
        return self.var("mean(%s, 1)" % out, lambda e: e[out].mean(1), (n, hidden))


# ---------------------------------------------------------------------------------------------
# Bodies, heads and losses.


def mlp_body(net, batch):
    features = int(net.rng.randint(3, 9))
    net.inputs.append(("x", "f32", (features,)))
    h = "x"
    net.shapes["x"] = (batch, features)
    for _ in range(int(net.rng.randint(1, 4))):
        width, bias, norm = int(net.rng.randint(2, 9)), bool(net.rng.randint(5)), net.rng.randint(5)
        # A layer feeding batch norm has no bias (see conv below).
        h = net.linear(h, width, bias=bias and not (norm == 0 and batch >= 2))
        if norm == 0 and batch >= 2:
            h = net.batch_norm(h)
        elif norm == 1 and net.shapes[h][-1] >= 2:
            h = net.layer_norm(h)
        h = net.activation(h)
        if net.rng.randint(8) == 0:
            h = net.dropout0(h)
        if net.rng.randint(10) == 0:
            h = net.scalar_scale(h)
    return h


def cnn_body(net, batch):
    c = int(net.rng.randint(1, 4))
    size = int(net.rng.randint(4, 8))
    net.inputs.append(("x", "f32", (c, size, size)))
    net.shapes["x"] = (batch, c, size, size)
    h = "x"
    for _ in range(int(net.rng.randint(1, 3))):
        if min(net.shapes[h][2:]) < 2:
            break
        # A layer feeding batch norm has no bias, as in practice: the norm removes any per-channel
        # shift, so the bias's gradient would be float32 rounding noise that an adaptive optimizer
        # (which divides by its RMS) turns into a full step the float64 reference never takes.
        normed = net.rng.randint(4) == 0
        h = net.conv(h, bias=not normed)
        if normed:
            h = net.batch_norm(h)
        h = net.activation(h)
        h = net.pool(h)
    return net.flatten(h)


def rnn_body(net, batch):
    t = int(net.rng.randint(2, 5))
    i = int(net.rng.randint(2, 5))
    net.inputs.append(("x", "f32", (t, i)))
    net.shapes["x"] = (batch, t, i)
    h = net.rnn("x")
    if net.rng.randint(2):
        h = net.activation(h)
    return h


def add_head(net, h, batch):
    """Appends the head and the loss; returns (loss kind, target generator)."""
    rng = net.rng
    kind = str(rng.choice(["cross_entropy", "cross_entropy", "cross_entropy_prob", "nll_loss",
                           "mse_loss", "l1_loss", "smooth_l1_loss", "bce", "bce_logits"]))
    reduction = "sum" if rng.randint(4) == 0 else "mean"
    red = "" if reduction == "mean" else ", reduction=sum"
    net.tags.append(kind + ("_sum" if reduction == "sum" else ""))
    if kind in ("cross_entropy", "cross_entropy_prob", "nll_loss"):
        classes = int(rng.randint(2, 6))
        z = net.linear(h, classes)
        extra, weight = "", None
        if kind != "cross_entropy_prob" and rng.randint(3) == 0:
            weight = "cw"
            net.inputs.append(("cw", "f32", None))
            extra += ", weight=cw"
            net.tags.append("class_weight")
        smoothing = 0.0
        if kind != "nll_loss" and rng.randint(3) == 0:
            smoothing = float(rng.choice([0.05, 0.1, 0.3]))
            extra += ", label_smoothing=%s" % fmt(smoothing)
            net.tags.append("label_smoothing")
        if kind == "cross_entropy_prob":
            net.inputs.append(("y", "f32", (classes,)))
        else:
            net.inputs.insert(1, ("y", "i64", ()))
        if kind == "nll_loss":
            lp = net.var("log_softmax(%s, dim=1)" % z, lambda e: F.log_softmax(e[z], dim=1),
                         net.shapes[z])
            net.lines.append("loss = nll_loss(%s, y%s%s)" % (lp, extra, red))
            loss_fn = lambda e: F.nll_loss(e[lp], e["y"], weight=e.get(weight), reduction=reduction)
        else:
            net.lines.append("loss = cross_entropy(%s, y%s%s)" % (z, extra, red))
            loss_fn = lambda e: F.cross_entropy(e[z], e["y"], weight=e.get(weight),
                                                reduction=reduction, label_smoothing=smoothing)

        def data(steps):
            if kind == "cross_entropy_prob":
                logits = rng.normal(size=(steps, batch, classes)) * 2
                p = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
                return {"y": p.astype(np.float32)}
            return {"y": rng.randint(0, classes, size=(steps, batch)).astype(np.int64)}
        consts = {"cw": rng.uniform(0.2, 2.0, size=classes).astype(np.float32)} if weight else {}
        return loss_fn, data, consts
    if kind in ("mse_loss", "l1_loss", "smooth_l1_loss"):
        k = int(rng.randint(1, 4))
        pred = net.linear(h, k)
        net.inputs.append(("y", "f32", (k,)))
        if kind == "smooth_l1_loss":
            beta = float(rng.choice([0.5, 1.0, 2.0]))
            net.lines.append("loss = smooth_l1_loss(%s, y%s, beta=%s)" % (pred, red, fmt(beta)))
            loss_fn = lambda e: F.smooth_l1_loss(e[pred], e["y"], reduction=reduction, beta=beta)
        else:
            net.lines.append("loss = %s(%s, y%s)" % (kind, pred, red))
            torch_fn = F.mse_loss if kind == "mse_loss" else F.l1_loss
            loss_fn = lambda e: torch_fn(e[pred], e["y"], reduction=reduction)
        data = lambda steps: {"y": rng.normal(size=(steps, batch, k)).astype(np.float32)}
        return loss_fn, data, {}
    k = int(rng.randint(1, 4))
    z = net.linear(h, k)
    net.inputs.append(("y", "f32", (k,)))
    data = lambda steps: {"y": rng.randint(0, 2, size=(steps, batch, k)).astype(np.float32)}
    if kind == "bce":
        p = net.var("sigmoid(%s)" % z, lambda e: torch.sigmoid(e[z]), net.shapes[z])
        net.lines.append("loss = binary_cross_entropy(%s, y%s)" % (p, red))
        return (lambda e: F.binary_cross_entropy(e[p], e["y"], reduction=reduction)), data, {}
    consts = {}
    extra = ""
    if rng.randint(2):
        net.inputs.append(("pw", "f32", None))
        consts["pw"] = rng.uniform(0.3, 3.0, size=k).astype(np.float32)
        extra = ", pos_weight=pw"
        net.tags.append("pos_weight")
    net.lines.append("loss = binary_cross_entropy_with_logits(%s, y%s%s)" % (z, extra, red))
    return (lambda e: F.binary_cross_entropy_with_logits(
        e[z], e["y"], pos_weight=e.get("pw"), reduction=reduction)), data, consts


# ---------------------------------------------------------------------------------------------
# Optimizers and train options.

O = torch.optim


def random_optimizer(rng):
    """(kiln DSL, torch factory, tag)."""
    kind = str(rng.choice(["sgd", "sgd", "rmsprop", "adam", "adam", "adamw", "adagrad",
                           "adadelta"]))
    c = lambda *xs: float(rng.choice(xs))
    if kind == "sgd":
        lr = c(0.01, 0.05, 0.1)
        kw = {"lr": lr}
        if rng.randint(2):
            kw["momentum"] = c(0.5, 0.9)
            if rng.randint(2):
                kw["nesterov"] = True
            elif rng.randint(2):
                kw["dampening"] = c(0.1, 0.5)
        if rng.randint(3) == 0:
            kw["weight_decay"] = c(1e-3, 1e-2)
        factory = lambda p: O.SGD(p, **kw)
    elif kind == "rmsprop":
        kw = {"lr": c(1e-3, 5e-3, 1e-2), "alpha": c(0.9, 0.99)}
        if rng.randint(2):
            kw["momentum"] = c(0.5, 0.9)
        if rng.randint(2):
            kw["centered"] = True
        if rng.randint(3) == 0:
            kw["weight_decay"] = c(1e-3, 1e-2)
        factory = lambda p: O.RMSprop(p, **kw)
    elif kind in ("adam", "adamw"):
        kw = {"lr": c(1e-3, 3e-3, 1e-2)}
        if rng.randint(2):
            kw["betas"] = (c(0.8, 0.9), c(0.99, 0.999))
        if rng.randint(3) == 0:
            kw["weight_decay"] = c(1e-3, 1e-2, 0.1)
        if rng.randint(3) == 0:
            kw["amsgrad"] = True
        if rng.randint(4) == 0:
            kw["eps"] = c(1e-6, 1e-4)
        factory = (lambda p: O.Adam(p, **kw)) if kind == "adam" else (lambda p: O.AdamW(p, **kw))
    elif kind == "adagrad":
        kw = {"lr": c(0.01, 0.05, 0.1)}
        if rng.randint(2):
            kw["lr_decay"] = c(0.01, 0.1)
        if rng.randint(2):
            kw["initial_accumulator_value"] = c(0.1, 0.5)
        if rng.randint(3) == 0:
            kw["weight_decay"] = c(1e-3, 1e-2)
        factory = lambda p: O.Adagrad(p, **kw)
    else:
        kw = {"lr": c(0.5, 1.0), "rho": c(0.8, 0.9)}
        if rng.randint(3) == 0:
            kw["weight_decay"] = c(1e-3, 1e-2)
        factory = lambda p: O.Adadelta(p, **kw)
    args = []
    for key, value in kw.items():
        if isinstance(value, tuple):
            args.append("%s=(%s)" % (key, ", ".join(fmt(v) for v in value)))
        else:
            args.append("%s=%s" % (key, fmt(value)))
    tag = kind + "".join("_" + k for k in sorted(kw) if k != "lr")
    return "%s(%s)" % (kind, ", ".join(args)), factory, tag


def random_train_options(rng, params):
    opts = {}
    if rng.randint(4) == 0:
        opts["clip_grad_norm"] = float(rng.choice([0.05, 0.5, 5.0]))
    if rng.randint(6) == 0:
        opts["clip_grad_value"] = float(rng.choice([0.01, 0.1]))
    if rng.randint(8) == 0 and len(params) > 1:
        opts["freeze"] = str(rng.choice(sorted(params)))
    return opts


# ---------------------------------------------------------------------------------------------
# One case: build, train in float64 and float32, check.


def make_case(index, rng):
    net = Net(rng)
    family = str(rng.choice(["mlp", "mlp", "cnn", "rnn"]))
    batch = int(rng.randint(2, 9)) if family != "cnn" else int(rng.randint(2, 5))
    steps = int(rng.randint(2, 5))
    body = {"mlp": mlp_body, "cnn": cnn_body, "rnn": rnn_body}[family]
    h = body(net, batch)
    loss_fn, target_data, consts = add_head(net, h, batch)
    opt_text, factory, opt_tag = random_optimizer(rng)
    options = random_train_options(rng, net.params)

    x_shape = net.inputs[0][2]
    inputs = {"x": rng.normal(size=(steps, batch) + x_shape).astype(np.float32)}
    inputs.update(target_data(steps))
    inputs.update(consts)

    decls = []
    for name, dtype, shape in net.inputs:
        if shape is None:
            decls.append("  input %s: f32[%d]" % (name, consts[name].shape[0]))
        else:
            decls.append("  input %s: %s[%s]" % (name, dtype, ", ".join(["B"] + [str(d)
                                                                             for d in shape])))
    train = ["  optimizer = %s" % opt_text, "  batch_size = %d" % batch]
    for key, value in options.items():
        train.append("  %s = %s" % (key, "[%s]" % value if key == "freeze" else fmt(value)))
    name = "c%03d_%s_%s" % (index, family, opt_tag.split("_")[0])
    text = "model %s {\n%s\n%s\n}\ntrain {\n%s\n}\n" % (
        name, "\n".join(decls), "\n".join("  " + l for l in net.lines), "\n".join(train))
    case = {"name": name, "text": text, "inputs": inputs, "params": net.params,
            "stats": net.stats, "steps": steps, "tags": [family] + net.tags + [opt_tag] +
            sorted(options)}
    runs = {dtype: train_torch(net, loss_fn, factory, options, inputs, steps, dtype)
            for dtype in (torch.float64, torch.float32)}
    case["losses"], case["final"] = runs[torch.float64]
    case["worst32"] = worst_error(runs[torch.float32], runs[torch.float64])
    return case


def train_torch(net, loss_fn, factory, options, inputs, steps, dtype):
    # Copies: training updates them in place, and the arrays are the fixture's initial values.
    env = {k: torch.tensor(v, dtype=dtype, requires_grad=True) for k, v in net.params.items()}
    env.update({k: torch.tensor(v, dtype=dtype) for k, v in net.stats.items()})
    frozen = {options["freeze"]} if "freeze" in options else set()
    for p in frozen:
        env[p].requires_grad_(False)
    trainable = [env[p] for p in net.params if p not in frozen]
    optimizer = factory(trainable)
    for group in optimizer.param_groups:
        group["foreach"] = False
    losses = []
    for s in range(steps):
        step_env = dict(env)
        for k, v in inputs.items():
            t = torch.from_numpy(v)
            t = t if k not in ("x", "y") else t[s]
            step_env[k] = t.to(dtype) if t.dtype != torch.int64 else t
        for var, fn in net.steps:
            step_env[var] = fn(step_env)
        loss = loss_fn(step_env)
        optimizer.zero_grad()
        loss.backward()
        if "clip_grad_value" in options:
            torch.nn.utils.clip_grad_value_(trainable, options["clip_grad_value"])
        if "clip_grad_norm" in options:
            torch.nn.utils.clip_grad_norm_(trainable, options["clip_grad_norm"])
        optimizer.step()
        losses.append(loss.item())
    final = {k: env[k].detach().double().numpy() for k in list(net.params) + list(net.stats)}
    return np.array(losses), final


def worst_error(run32, run64):
    losses32, final32 = run32
    losses, final = run64
    worst = max_scaled_error(losses32, losses)
    for k in final:
        worst = max(worst, max_scaled_error(final32[k], final[k]))
    return worst


def main():
    torch.set_num_threads(1)
    rng = np.random.RandomState(SEED)
    w = Writer(os.path.join(HERE, "random_models.kgf"))
    w.meta("torch", torch.__version__)
    w.meta("seed", SEED)
    kept, dropped, index = 0, [], 0
    while kept < NUM_CASES:
        case = make_case(index, rng)
        index += 1
        if not np.all(np.isfinite(case["losses"])) or case["worst32"] > 1.0:
            dropped.append(case["name"])
            w.meta("dropped", case["name"], "pytorch-float32-misses-tolerance-by",
                   "%.3g" % case["worst32"])
            continue
        kept += 1
        n = case["name"]
        w.meta("case", n, "worst32=%.3g" % case["worst32"], " ".join(case["tags"]))
        w.tensor(n + ".kiln", np.frombuffer(case["text"].encode(), dtype=np.uint8), "u8")
        for k, v in case["inputs"].items():
            w.tensor("%s.input.%s" % (n, k), v, "i64" if v.dtype == np.int64 else "f32")
        for k, v in list(case["params"].items()) + list(case["stats"].items()):
            w.tensor("%s.init.%s" % (n, k), v, "f32")
        w.tensor(n + ".losses", case["losses"], "f32")
        for k, v in case["final"].items():
            w.tensor("%s.final.%s" % (n, k), v, "f32")
    size = w.close()
    print("wrote %d cases (%d dropped: %s), %d bytes (torch %s)" % (
        kept, len(dropped), " ".join(dropped), size, torch.__version__))
    return 0


if __name__ == "__main__":
    sys.exit(main())
