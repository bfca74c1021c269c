#!/usr/bin/env bash
# Fresh Debian 12 to a trained Fashion-MNIST classifier: install what is missing, build, train
# examples/fashion_mlp.kiln (784-256-128-10, Adam 3e-3, batch 64, 10 epochs).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_deps.sh
scripts/build.sh -DKILN_BUILD_TESTS=OFF
build/tools/kiln train examples/fashion_mlp.kiln --metrics-out build/fashion_mlp_metrics.json
