#!/bin/bash
# Installs the peers bench/peers/run.py measures kiln against — PyTorch 2 (eager and
# torch.compile) and JAX with optax — into a virtual environment from PyPI, and prints the
# versions it got. About 6 GB (PyPI's torch wheel brings CUDA libraries even for the CPU).
#   bash bench/peers/setup.sh [VENV]     default: $KILN_PEERS_VENV or ~/.cache/kiln/peers-venv
set -euo pipefail
venv="${1:-${KILN_PEERS_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/kiln/peers-venv}}"
if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
  echo "setup: python3 lacks venv/ensurepip; installing python3-venv" >&2
  apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
fi
# Inductor (torch.compile on the CPU) compiles C++ with the system compiler.
command -v g++ >/dev/null || { echo "setup: torch.compile needs g++ (apt-get install g++)" >&2; exit 1; }
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install -q --upgrade pip
# torch>=2: scripts/onnx_roundtrip_setup.sh may have made this venv over Debian's torch 1.13
# (system site packages), which has no torch.compile; the venv's own torch 2 shadows it.
"$venv/bin/pip" install -q "torch>=2" jax optax numpy
"$venv/bin/python" - <<'PY'
import jax, optax, torch
print("peers: torch %s (MKL-DNN %s), jax %s, optax %s" % (
    torch.__version__, torch.backends.mkldnn.is_available(), jax.__version__, optax.__version__))
PY
echo "peers installed in $venv; run: python3 bench/peers/run.py"
