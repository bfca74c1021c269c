#!/bin/bash
# The ONNX round trips with the real tools (scripts/onnx_roundtrip.py) in the peers' virtual
# environment; exits 77 (ctest's SKIP_RETURN_CODE) when that environment or its packages are
# missing, so CI never downloads them. Install them with scripts/onnx_roundtrip_setup.sh.
#   bash scripts/onnx_roundtrip.sh [KILN_BINARY]   default: build/tools/kiln
set -uo pipefail
cd "$(dirname "$0")/.."
venv="${KILN_PEERS_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/kiln/peers-venv}"
kiln="${1:-build/tools/kiln}"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import onnx, onnxruntime, torch' 2>/dev/null; then
  echo "onnx_roundtrip: SKIP: no torch, onnx and onnxruntime in $venv (bash scripts/onnx_roundtrip_setup.sh)"
  exit 77
fi
exec "$venv/bin/python" scripts/onnx_roundtrip.py --kiln "$kiln" "${@:2}"
