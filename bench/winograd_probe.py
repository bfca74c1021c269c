#!/usr/bin/env python3
"""Would Winograd F(2x2,3x3) make kiln's 3x3 convolutions faster? A measurement, not a feature.

    python3 bench/winograd_probe.py [--kiln build/tools/kiln] [--channels 64] [--size 8]
    python3 bench/winograd_probe.py --write DIR    # only write DIR/conv2d.kiln, DIR/winograd.kiln

Writes two models that differ only in four 3x3 stride-1 convolutions (ResNet-18's layer1 shape by
default: 64 channels, 8x8 maps, batch 64): one with conv2d, one with each convolution spelled out
in kiln's own ops as Winograd F(2x2,3x3) (Lavin & Gray 2016): the input's 4x4 tiles (16 strided
slices of the padded input) through B^T d B, the weight through G g G^T, sixteen matmuls, and the
output through A^T m A, interleaved back with concat. Autodiff makes the backward of the same
algorithm (the transposed transforms and matmuls), so the whole training step is Winograd.
Then `kiln profile` times both steps and sums their kernels inside the step: the GEMMs (kernels
with a matmul) and everything else.

Both train alike: with the same seed the parameters start equal (they are initialized by name),
and `kiln train DIR/MODEL.kiln --train-limit 256 --test-limit 256 --epochs 2` prints the same
losses for both to the four digits shown.

What it measured (2026-12-06, the AVX-512 Xeon, 2 threads, 64 channels, 8x8): the conv2d step
15.9 ms, 14.2 ms of it in GEMM kernels (the twelve convolution GEMMs with im2col fused into them
at 285-320 GFLOP/s; the stem's and the classifier's, the same in both models, ~1.4 ms); the
Winograd step 31.2 ms: 10.9 ms of GEMM kernels (2.25x fewer FLOPs in the convolutions, but k is
the 64 channels instead of 576, so the small GEMMs run at ~155 GFLOP/s) and 19.9 ms in the
transforms' hundreds of small kernels. Even with every transform fused into one pass (about 2.4 ms
of memory traffic here) the Winograd convolutions would come to ~12 ms against 12.8: not the
lever for ResNet-18's step on this machine.
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# F(2x2,3x3): Y = A^T [(G g G^T) . (B^T d B)] A over 4x4 input tiles at stride 2.
BT = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]]
G = [[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]]
AT = [[1, 1, 1, 0], [0, 1, -1, -1]]


def combination(coefficients, names):
    """sum(c * name) as DSL text, skipping zero coefficients."""
    text = ""
    for c, name in zip(coefficients, names):
        if c == 0:
            continue
        term = name if abs(c) == 1 else "%s * %g" % (name, abs(c))
        text += ("-" if c < 0 else "") + term if not text else (" - " if c < 0 else " + ") + term
    return text


def transform_rows(lines, out, matrix, source, columns):
    """out{i}{b} = sum over a of matrix[i][a] * source{a}{b}: a transform along a tile's rows."""
    for i, row in enumerate(matrix):
        for b in range(columns):
            terms = ["%s%d%d" % (source, a, b) for a in range(len(row))]
            lines.append("  %s%d%d = %s" % (out, i, b, combination(row, terms)))


def transform_columns(matrix, j, source, i):
    """sum over b of matrix[j][b] * source{i}{b}: element (i, j) of a column transform."""
    return combination(matrix[j], ["%s%d%d" % (source, i, b) for b in range(len(matrix[j]))])


def winograd_conv(lines, name, channels, size):
    tiles = size // 2
    c = channels
    lines.append("  param %s.weight: f32[%d, %d, 3, 3] = kaiming_uniform(a=2.2360679775)" %
                 (name, c, c))
    lines.append("  xp = pad(h, [1, 1, 1, 1])")
    for a in range(4):
        lines.append("  r%d = slice(xp, dim=2, start=%d, stop=%d, step=2)" %
                     (a, a, a + 2 * tiles - 1))
        for b in range(4):
            lines.append("  d%d%d = slice(r%d, dim=3, start=%d, stop=%d, step=2)" %
                         (a, b, a, b, b + 2 * tiles - 1))
    transform_rows(lines, "t", BT, "d", 4)
    for i in range(4):
        for j in range(4):
            v = transform_columns(BT, j, "t", i)
            lines.append("  v%d%d = reshape(transpose(%s, [1, 0, 2, 3]), [%d, -1])" % (i, j, v, c))
    for a in range(3):
        for b in range(3):
            lines.append("  g%d%d = reshape(slice(slice(%s.weight, dim=2, start=%d, stop=%d), "
                         "dim=3, start=%d, stop=%d), [%d, %d])" %
                         (a, b, name, a, a + 1, b, b + 1, c, c))
    transform_rows(lines, "s", G, "g", 3)
    for i in range(4):
        for j in range(4):
            u = transform_columns(G, j, "s", i)
            lines.append("  m%d%d = matmul(%s, v%d%d)" % (i, j, u, i, j))
    transform_rows(lines, "q", AT, "m", 4)
    for u in range(2):
        for v in range(2):
            y = transform_columns(AT, v, "q", u)
            lines.append("  y%d%d = reshape(%s, [%d, B, %d, 1, %d, 1])" %
                         (u, v, y, c, tiles, tiles))
    lines.append("  z0 = concat(y00, y01, dim=5)")
    lines.append("  z1 = concat(y10, y11, dim=5)")
    lines.append("  h = relu(transpose(reshape(concat(z0, z1, dim=3), [%d, B, %d, %d]), "
                 "[1, 0, 2, 3]))"
                 % (c, size, size))


def model(winograd, channels, size):
    lines = ["model conv_stack {", "  input x: f32[B, 1, 28, 28]", "  input y: i64[B]",
             "  h = pad(x, [2, 2, 2, 2], value=-1)",
             "  h = relu(conv2d(h, 1, %d, 7, stride=2, padding=3, bias=false, name=stem))" %
             channels,
             "  h = max_pool2d(h, 3, stride=2, padding=1)"]
    if size not in (8, 4):
        raise SystemExit("--size must be 8 or 4 (the maps after the stem and pools)")
    if size == 4:
        lines.append("  h = max_pool2d(h, 2, stride=2)")
    for layer in range(4):
        name = "conv%d" % layer
        if winograd:
            winograd_conv(lines, name, channels, size)
        else:
            lines.append("  h = relu(conv2d(h, %d, %d, 3, padding=1, bias=false, name=%s))" %
                         (channels, channels, name))
    lines += ["  loss = cross_entropy(linear(flatten(adaptive_avg_pool2d(h, 1)), 10, name=fc), y)",
              "}", "train {", "  data = fashion_mnist(scale=1/255, normalize=(0.5, 0.5))",
              "  optimizer = adam(lr=1e-3)", "  batch_size = 64", "}"]
    return "\n".join(lines) + "\n"


def profile(kiln, path):
    run = subprocess.run([kiln, "profile", path], capture_output=True, text=True)
    if run.returncode != 0:
        raise SystemExit("kiln profile %s failed: %s" % (path, run.stderr.strip()))
    step = float(re.search(r": ([0-9.]+) us/step", run.stdout).group(1))
    gemm = other = 0.0
    for line in run.stdout.splitlines():
        fields = line.split()
        if not fields or not re.match(r"k\d+_", fields[0]):
            continue
        # name, launch (2 fields), us, %step, GFLOP/s, GB/s, in step ('-': not timed there).
        us = float(fields[-1]) if fields[-1] != "-" else float(fields[3])
        if "matmul" in fields[0]:
            gemm += us
        else:
            other += us
    return step, gemm, other


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kiln", default=os.path.join(ROOT, "build/tools/kiln"))
    parser.add_argument("--channels", type=int, default=64)
    parser.add_argument("--size", type=int, default=8)
    parser.add_argument("--write", metavar="DIR", help="write the two models there and stop")
    args = parser.parse_args()
    if args.write:
        os.makedirs(args.write, exist_ok=True)
        for winograd, name in ((False, "conv2d.kiln"), (True, "winograd.kiln")):
            with open(os.path.join(args.write, name), "w") as f:
                f.write(model(winograd, args.channels, args.size))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        print("| step | ms | GEMM kernels, ms | other kernels, ms |")
        print("|---|---|---|---|")
        for winograd in (False, True):
            path = os.path.join(tmp, "winograd.kiln" if winograd else "conv2d.kiln")
            with open(path, "w") as f:
                f.write(model(winograd, args.channels, args.size))
            step, gemm, other = profile(args.kiln, path)
            print("| %s | %.1f | %.1f | %.1f |" % ("Winograd F(2x2,3x3) in kiln ops" if winograd
                                                  else "conv2d (im2col fused into the GEMM)",
                                                  step / 1e3, gemm / 1e3, other / 1e3))
    return 0


if __name__ == "__main__":
    sys.exit(main())
