#!/bin/bash
# Installs what scripts/onnx_roundtrip.py needs — onnx and onnxruntime from PyPI, and PyTorch —
# into the peers' virtual environment (the one bench/peers/setup.sh fills), reusing it if there.
# PyTorch: the venv's own if it has one; else Debian's python3-torch (1.13, seen through
# --system-site-packages) when installed; else PyPI's torch (several GB, as bench/peers brings).
#   bash scripts/onnx_roundtrip_setup.sh [VENV]   default: $KILN_PEERS_VENV or ~/.cache/kiln/peers-venv
set -euo pipefail
venv="${1:-${KILN_PEERS_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/kiln/peers-venv}}"
# Debian's python3-torch lives in /usr/bin/python3's site packages (a pyenv python3 first on
# PATH does not see it): a venv on that interpreter, with its system site packages, does.
python=python3
for candidate in python3 /usr/bin/python3; do
  if "$candidate" -c 'import torch' 2>/dev/null; then python=$candidate; break; fi
done
if ! "$python" -c 'import venv, ensurepip' 2>/dev/null; then
  echo "setup: $python lacks venv/ensurepip; installing python3-venv" >&2
  apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
fi
if [ ! -x "$venv/bin/python" ]; then
  if "$python" -c 'import torch' 2>/dev/null; then
    "$python" -m venv --system-site-packages "$venv"
  else
    "$python" -m venv "$venv"
  fi
fi
"$venv/bin/python" -c 'import torch' 2>/dev/null || "$venv/bin/pip" install -q torch numpy
if "$venv/bin/python" -c 'import torch, sys; sys.exit(torch.__version__ >= "2")' 2>/dev/null; then
  # Debian's torch 1.13 is built against NumPy 1: the last onnx and onnxruntime that take it.
  "$venv/bin/pip" install -q "numpy<2" "onnx==1.17.0" "onnxruntime==1.19.2"
else
  "$venv/bin/pip" install -q onnx onnxruntime
fi
"$venv/bin/python" - <<'PY'
import onnx, onnxruntime, torch
print("onnx_roundtrip: torch %s, onnx %s, onnxruntime %s" % (
    torch.__version__, onnx.__version__, onnxruntime.__version__))
PY
echo "installed in $venv; run: bash scripts/onnx_roundtrip.sh"
