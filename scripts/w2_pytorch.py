#!/usr/bin/python3
"""W2's tabular recipes in PyTorch, the reference the kiln examples are compared with.

    /usr/bin/python3 scripts/w2_pytorch.py [--seeds 5]

scikit-learn is not installed here, so make_classification and make_regression are ported below
(same algorithm and defaults as scikit-learn 1.x, NumPy's RNG): the data is drawn like kiln's
generators draw it, not sample for sample. Each recipe: 10% test split, StandardScaler fit on
the training split (as the kiln examples' standardize=true), batch 100 shuffled, RMSprop(lr 0.01,
alpha 0.99, eps 1e-8). Prints the test accuracy (classifiers) or test MSE (regression) per seed
and the mean.

--csv DIR also writes each seed's generated table (columns f0..f9, label) to
DIR/{binary,multiclass,regression}_SEED.csv, so kiln can train on exactly the same draws
(scripts/w2_compare.sh does that and prints both sides).
"""

import argparse

import numpy as np
import torch
import torch.nn.functional as F


def make_classification(rng, n_samples=100, n_features=20, n_informative=2, n_redundant=2,
                        n_repeated=0, n_classes=2, n_clusters_per_class=2, flip_y=0.01,
                        class_sep=1.0, hypercube=True):
    n_useless = n_features - n_informative - n_redundant - n_repeated
    n_clusters = n_classes * n_clusters_per_class
    counts = [n_samples // n_clusters] * n_clusters
    for i in range(n_samples - sum(counts)):
        counts[i % n_clusters] += 1
    X = np.zeros((n_samples, n_features))
    y = np.zeros(n_samples, dtype=np.int64)
    # Hypercube vertices as cluster centroids.
    vertices = set()
    while len(vertices) < n_clusters:
        vertices.add(tuple(rng.integers(0, 2, n_informative)))
    centroids = np.array(sorted(vertices), dtype=float)[rng.permutation(n_clusters)]
    centroids = centroids * 2 * class_sep - class_sep
    if not hypercube:
        centroids *= 2 * rng.random((n_clusters, 1))
        centroids *= rng.random((1, n_informative))
    X[:, :n_informative] = rng.standard_normal((n_samples, n_informative))
    start = 0
    for k, centroid in enumerate(centroids):
        stop = start + counts[k]
        y[start:stop] = k % n_classes
        A = 2 * rng.random((n_informative, n_informative)) - 1
        X[start:stop, :n_informative] = X[start:stop, :n_informative] @ A + centroid
        start = stop
    if n_redundant > 0:
        B = 2 * rng.random((n_informative, n_redundant)) - 1
        X[:, n_informative:n_informative + n_redundant] = X[:, :n_informative] @ B
    n = n_informative + n_redundant
    if n_repeated > 0:
        indices = ((n - 1) * rng.random(n_repeated) + 0.5).astype(np.intp)
        X[:, n:n + n_repeated] = X[:, indices]
    if n_useless > 0:
        X[:, -n_useless:] = rng.standard_normal((n_samples, n_useless))
    if flip_y >= 0.0:
        flip = rng.random(n_samples) < flip_y
        y[flip] = rng.integers(0, n_classes, flip.sum())
    order = rng.permutation(n_samples)
    X, y = X[order], y[order]
    columns = rng.permutation(n_features)
    return X[:, columns], y


def make_regression(rng, n_samples=100, n_features=100, n_informative=10, bias=0.0, noise=0.0):
    X = rng.standard_normal((n_samples, n_features))
    coef = np.zeros(n_features)
    coef[:n_informative] = 100 * rng.random(n_informative)
    y = X @ coef + bias
    if noise > 0:
        y += noise * rng.standard_normal(n_samples)
    order = rng.permutation(n_samples)
    columns = rng.permutation(n_features)
    return X[order][:, columns], y[order]


CSV_DIR = None


def save_csv(name, seed, X, y):
    if CSV_DIR is None:
        return
    header = ",".join(["f%d" % i for i in range(X.shape[1])] + ["label"])
    table = np.column_stack([X, y])
    fmt = ["%.9g"] * X.shape[1] + (["%d"] if y.dtype.kind == "i" else ["%.9g"])
    np.savetxt("%s/%s_%d.csv" % (CSV_DIR, name, seed), table, delimiter=",", header=header,
               comments="", fmt=fmt)


def split_and_scale(rng, X, y, test_fraction=0.1):
    n_test = int(np.ceil(test_fraction * len(X)))
    order = rng.permutation(len(X))
    test, train = order[:n_test], order[n_test:]
    mean, std = X[train].mean(0), X[train].std(0)
    std[std == 0] = 1
    scale = lambda a: torch.tensor((a - mean) / std, dtype=torch.float32)
    return scale(X[train]), torch.tensor(y[train]), scale(X[test]), torch.tensor(y[test])


def mlp(outputs, head=None):
    layers = [torch.nn.Linear(10, 16), torch.nn.ReLU(), torch.nn.Linear(16, 16), torch.nn.ReLU(),
              torch.nn.Linear(16, outputs)]
    return torch.nn.Sequential(*layers, *([head] if head else []))


def train(model, loss_fn, xs, ys, epochs, seed):
    opt = torch.optim.RMSprop(model.parameters(), lr=0.01, alpha=0.99, eps=1e-8)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        model.train()
        for batch in torch.randperm(len(xs), generator=gen).split(100):
            opt.zero_grad()
            loss_fn(model(xs[batch]), ys[batch]).backward()
            opt.step()
    model.eval()


def binary(seed, epochs):
    rng = np.random.default_rng(seed)
    X, y = make_classification(rng, n_samples=1000, n_features=10)
    save_csv("binary", seed, X, y)
    xs, ys, xt, yt = split_and_scale(rng, X, y)
    torch.manual_seed(seed)
    model = mlp(1, torch.nn.Sigmoid())
    train(model, F.binary_cross_entropy, xs, ys.float()[:, None], epochs, seed)
    with torch.no_grad():
        return ((model(xt)[:, 0] > 0.5).long() == yt).float().mean().item()


def multiclass(seed, epochs):
    rng = np.random.default_rng(seed)
    X, y = make_classification(rng, n_samples=1000, n_features=10, n_informative=9,
                               n_redundant=0, n_classes=3)
    save_csv("multiclass", seed, X, y)
    xs, ys, xt, yt = split_and_scale(rng, X, y)
    torch.manual_seed(seed)
    model = mlp(3)
    # Cross-entropy against one-hot (probability) targets.
    train(model, F.cross_entropy, xs, F.one_hot(ys, 3).float(), epochs, seed)
    with torch.no_grad():
        return (model(xt).argmax(1) == yt).float().mean().item()


def regression(seed, epochs):
    rng = np.random.default_rng(seed)
    X, y = make_regression(rng, n_samples=1000, n_features=10)
    save_csv("regression", seed, X, y)
    xs, ys, xt, yt = split_and_scale(rng, X, y)
    torch.manual_seed(seed)
    model = mlp(1)
    train(model, F.mse_loss, xs, ys.float()[:, None], epochs, seed)
    with torch.no_grad():
        return F.mse_loss(model(xt), yt.float()[:, None]).item()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--csv", help="also write the generated tables here")
    args = parser.parse_args()
    global CSV_DIR
    CSV_DIR = args.csv
    torch.set_num_threads(1)
    for name, fn, epochs, what in [("binary", binary, 3, "test accuracy"),
                                   ("multiclass", multiclass, 3, "test accuracy"),
                                   ("regression", regression, 5, "test MSE")]:
        values = [fn(seed, epochs) for seed in range(args.seeds)]
        print("%-10s %2d epochs  %s per seed: %s  mean %.4f" %
              (name, epochs, what, " ".join("%.4f" % v for v in values), np.mean(values)))


if __name__ == "__main__":
    main()
