"""One bench/peers workload in JAX: the whole training step (forward, backward, optax update)
under one jax.jit, at a given thread count.

    python jax_peer.py WORKLOAD --threads N

Run by run.py with the peers' virtual environment (which sets XLA_FLAGS and the CPU affinity
for the thread count); prints one `PEER_RESULT {json}` line. The models are the kiln examples'
with PyTorch's default initialization (uniform +-1/sqrt(fan_in) for weights and biases);
convolutions use NHWC, the layout XLA's CPU backend (and Flax) prefer.
"""

import argparse
import math
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peer_common  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
from jax import lax  # noqa: E402


class Init:
    """PyTorch's default initializers, from one seeded key stream."""

    def __init__(self, seed):
        self.key = jax.random.PRNGKey(seed)

    def uniform(self, shape, fan_in):
        self.key, sub = jax.random.split(self.key)
        bound = 1.0 / math.sqrt(fan_in)
        return jax.random.uniform(sub, shape, jnp.float32, -bound, bound)

    def linear(self, fan_in, fan_out):
        return {"w": self.uniform((fan_in, fan_out), fan_in), "b": self.uniform((fan_out,), fan_in)}

    def conv(self, cin, cout, k, bias=True):
        layer = {"w": self.uniform((k, k, cin, cout), cin * k * k)}  # HWIO
        if bias:
            layer["b"] = self.uniform((cout,), cin * k * k)
        return layer


def dense(p, x):
    return x @ p["w"] + p["b"]


def conv(p, x, stride=1, padding=0):
    y = lax.conv_general_dilated(x, p["w"], (stride, stride), [(padding, padding)] * 2,
                                 dimension_numbers=("NHWC", "HWIO", "NHWC"))
    return y + p["b"] if "b" in p else y


def max_pool(x, k, stride, padding=0):
    return lax.reduce_window(x, -jnp.inf, lax.max, (1, k, k, 1), (1, stride, stride, 1),
                             [(0, 0), (padding, padding), (padding, padding), (0, 0)])


def mlp(params, x):
    h = jax.nn.relu(dense(params["fc1"], x))
    h = jax.nn.relu(dense(params["fc2"], h))
    return dense(params["out"], h)


def nll(logits, y):
    return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None], axis=1))


# ---- ResNet-18 with batch norm in training mode (batch statistics; running statistics updated
# with momentum 0.1 and the unbiased variance, as torch.nn.BatchNorm2d does).

def bn_params(c):
    return {"scale": jnp.ones((c,)), "shift": jnp.zeros((c,))}


def bn_state(c):
    return {"mean": jnp.zeros((c,)), "var": jnp.ones((c,))}


def batch_norm(p, s, x):
    mean = jnp.mean(x, axis=(0, 1, 2))
    var = jnp.var(x, axis=(0, 1, 2))
    n = x.shape[0] * x.shape[1] * x.shape[2]
    new_state = {"mean": 0.9 * s["mean"] + 0.1 * mean,
                 "var": 0.9 * s["var"] + 0.1 * var * n / (n - 1)}
    y = (x - mean) * lax.rsqrt(var + 1e-5) * p["scale"] + p["shift"]
    return y, new_state


def resnet18_init(init):
    params = {"conv1": init.conv(1, 64, 7, bias=False), "bn1": bn_params(64), "blocks": []}
    state = {"bn1": bn_state(64), "blocks": []}
    cin = 64
    for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        for block_stride in (stride, 1):
            p = {"conv1": init.conv(cin, cout, 3, bias=False), "bn1": bn_params(cout),
                 "conv2": init.conv(cout, cout, 3, bias=False), "bn2": bn_params(cout)}
            s = {"bn1": bn_state(cout), "bn2": bn_state(cout)}
            if block_stride != 1 or cin != cout:
                p["down"] = init.conv(cin, cout, 1, bias=False)
                p["down_bn"] = bn_params(cout)
                s["down_bn"] = bn_state(cout)
            params["blocks"].append(p)
            state["blocks"].append(s)
            cin = cout
    params["fc"] = init.linear(512, 10)
    return params, state


RESNET_STRIDES = (1, 1, 2, 1, 2, 1, 2, 1)


def resnet18(params, state, x):
    x = jnp.pad(x, [(0, 0), (2, 2), (2, 2), (0, 0)], constant_values=-1.0)
    new_state = {"blocks": []}
    h, new_state["bn1"] = batch_norm(params["bn1"], state["bn1"], conv(params["conv1"], x, 2, 3))
    h = max_pool(jax.nn.relu(h), 3, 2, 1)
    for p, s, stride in zip(params["blocks"], state["blocks"], RESNET_STRIDES):
        ns = {}
        y, ns["bn1"] = batch_norm(p["bn1"], s["bn1"], conv(p["conv1"], h, stride, 1))
        y, ns["bn2"] = batch_norm(p["bn2"], s["bn2"], conv(p["conv2"], jax.nn.relu(y), 1, 1))
        shortcut = h
        if "down" in p:
            shortcut, ns["down_bn"] = batch_norm(p["down_bn"], s["down_bn"],
                                                 conv(p["down"], h, stride, 0))
        h = jax.nn.relu(y + shortcut)
        new_state["blocks"].append(ns)
    return dense(params["fc"], jnp.mean(h, axis=(1, 2))), new_state


def build(workload, init):
    """(params, model state, loss(params, state, x, y) -> (loss, new state), optax optimizer)."""
    stateless = lambda f: (lambda p, s, x, y: (f(p, x, y), s))
    if workload in ("w3_epoch", "w3_inference", "wide_mlp_step"):
        width = (4096, 4096) if workload == "wide_mlp_step" else (256, 128)
        params = {"fc1": init.linear(784, width[0]), "fc2": init.linear(width[0], width[1]),
                  "out": init.linear(width[1], 10)}
        optimizer = optax.sgd(0.01) if workload == "wide_mlp_step" else optax.adam(3e-3)
        return params, {}, stateless(lambda p, x, y: nll(mlp(p, x), y)), optimizer
    if workload == "cnn_step":
        params = {"c1": init.conv(1, 32, 3), "c2": init.conv(32, 64, 3),
                  "fc1": init.linear(3136, 128), "out": init.linear(128, 10)}

        def loss(p, x, y):
            h = max_pool(jax.nn.relu(conv(p["c1"], x, 1, 1)), 2, 2)
            h = max_pool(jax.nn.relu(conv(p["c2"], h, 1, 1)), 2, 2)
            h = jnp.transpose(h, (0, 3, 1, 2)).reshape(x.shape[0], -1)  # PyTorch's flatten order
            return nll(dense(p["out"], jax.nn.relu(dense(p["fc1"], h))), y)
        return params, {}, stateless(loss), optax.adam(1e-3)
    if workload == "resnet18_step":
        params, state = resnet18_init(init)

        def loss(p, s, x, y):
            logits, new_state = resnet18(p, s, x)
            return nll(logits, y), new_state
        return params, state, loss, optax.adam(1e-3)
    if workload == "binary_steps":
        params = {"fc1": init.linear(10, 16), "fc2": init.linear(16, 16), "out": init.linear(16, 1)}

        def loss(p, x, y):
            prob = jax.nn.sigmoid(mlp(p, x))
            prob = jnp.clip(prob, 1e-12, 1 - 1e-7)
            return -jnp.mean(y * jnp.log(prob) + (1 - y) * jnp.log1p(-prob))
        # PyTorch's RMSprop adds eps outside the square root, as optax's rmsprop does.
        return params, {}, stateless(loss), optax.rmsprop(0.01, decay=0.99, eps=1e-8)
    if workload == "rnn_steps":
        params = {"ih": init.linear(10, 50), "hh": init.linear(50, 50), "fc": init.linear(50, 1)}

        def loss(p, x, y):
            seq = x.reshape(x.shape[0], 5, 10)
            h = jnp.zeros((x.shape[0], 50))
            for t in range(5):
                h = jnp.tanh(dense(p["ih"], seq[:, t]) + dense(p["hh"], h))
            return jnp.mean((dense(p["fc"], h) - y / 100) ** 2)
        optimizer = optax.chain(optax.clip_by_global_norm(1.0), optax.adam(1e-3))
        return params, {}, stateless(loss), optimizer
    raise SystemExit("unknown workload " + workload)


def to_device(workload, x, y):
    if x.ndim == 4:
        x = np.transpose(x, (0, 2, 3, 1))  # NCHW -> NHWC
    return jnp.asarray(x), jnp.asarray(y)


def vector_isa():
    """The ISA XLA was held to (XLA_FLAGS' --xla_cpu_max_isa; XLA warns about a name it does not
    know), else the host's."""
    for flag in os.environ.get("XLA_FLAGS", "").split():
        if flag.startswith("--xla_cpu_max_isa="):
            return "XLA at most " + flag.split("=", 1)[1]
    return "XLA native"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("workload", choices=sorted(peer_common.WORKLOADS))
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--budget-s", type=float, default=2.0)
    args = parser.parse_args()
    params, state, loss_fn, optimizer = build(args.workload, Init(0))
    result = {"peer": "jax.jit", "version": jax.__version__, "threads": args.threads,
              "isa": vector_isa()}

    if args.workload == "w3_inference":
        x, _ = peer_common.random_batch(args.workload)
        x = jnp.asarray(x)
        forward = jax.jit(lambda p, x: jax.nn.log_softmax(mlp(p, x)))
        start = time.perf_counter()
        forward = forward.lower(params, x).compile()
        result["compile_s"] = time.perf_counter() - start
        result.update(peer_common.time_calls(lambda: forward(params, x).block_until_ready(),
                                             budget_s=args.budget_s))
        peer_common.report(result)
        return

    def step(params, opt_state, state, x, y):
        (loss, new_state), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, state, x, y)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, new_state, loss

    opt_state = optimizer.init(params)
    if args.workload == "w3_epoch":
        data_x, data_y = (jnp.asarray(a) for a in peer_common.load_fashion_train())

        # The batch is gathered inside the compiled step, from the data set already in memory.
        def epoch_step(params, opt_state, index):
            p, o, _, loss = step(params, opt_state, {}, data_x[index], data_y[index])
            return p, o, loss
        start = time.perf_counter()
        compiled = jax.jit(epoch_step, donate_argnums=(0, 1)).lower(
            params, opt_state, jnp.arange(64)).compile()
        result["compile_s"] = time.perf_counter() - start
        order = np.random.default_rng(0).permutation(peer_common.W3_TRAIN_SAMPLES)
        batches = [jnp.asarray(order[i * 64:(i + 1) * 64]) for i in range(peer_common.W3_STEPS)]
        for index in batches[:3]:  # Warm-up, as for the other peers.
            params, opt_state, loss = compiled(params, opt_state, index)
        loss.block_until_ready()
        start = time.perf_counter()
        for index in batches:
            params, opt_state, loss = compiled(params, opt_state, index)
        loss.block_until_ready()
        result["epoch_s"] = time.perf_counter() - start
        peer_common.report(result)
        return

    x, y = to_device(args.workload, *peer_common.random_batch(args.workload))
    start = time.perf_counter()
    compiled = jax.jit(step, donate_argnums=(0, 1, 2)).lower(params, opt_state, state, x, y).compile()
    result["compile_s"] = time.perf_counter() - start
    carry = [params, opt_state, state]

    def run_step():
        carry[0], carry[1], carry[2], loss = compiled(carry[0], carry[1], carry[2], x, y)
        loss.block_until_ready()
    result.update(peer_common.time_calls(run_step, budget_s=args.budget_s))
    peer_common.report(result)


if __name__ == "__main__":
    main()
