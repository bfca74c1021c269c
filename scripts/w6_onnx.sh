#!/bin/bash
# W6 end to end through ONNX (issue 14), small enough for a 2-core machine:
#   1. PyTorch trains ResNet-18 on Fashion-MNIST classes 0-4 and exports it with torch.onnx.export;
#   2. kiln import turns it into a .kiln file and a weights file (state_dict names), checked
#      against ONNX Runtime on the same images;
#   3. feature extraction: the imported .kiln with its 5-way fc replaced by a new 10-class head
#      (as examples/resnet18_features.kiln, whose parameter names it shares), the trunk frozen;
#   4. fine-tuning: the same model with nothing frozen, from step 3's weights, keeping the epoch
#      with the best test loss (--save-best);
#   5. kiln export writes that model as ONNX, and ONNX Runtime's accuracy and logits on the test
#      images are compared with kiln's.
#   bash scripts/w6_onnx.sh [WORK_DIR]     default: w6_run; KILN=path/to/kiln (build/tools/kiln)
# Settings through the environment: W6_TRAIN_LIMIT (9600), W6_TEST_LIMIT (2000), W6_STEPS (300
# PyTorch steps), W6_FEATURE_EPOCHS (4), W6_FINETUNE_EPOCHS (8), W6_FINETUNE_LR (1e-4),
# W6_THREADS (2). Needs Debian's python3-torch and the peers' venv with onnx and onnxruntime
# (bash scripts/onnx_roundtrip_setup.sh); exits 77 when they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."
kiln=$(realpath "${KILN:-build/tools/kiln}")
work=${1:-w6_run}
venv="${KILN_PEERS_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/kiln/peers-venv}"
train_limit=${W6_TRAIN_LIMIT:-9600} test_limit=${W6_TEST_LIMIT:-2000} steps=${W6_STEPS:-300}
feature_epochs=${W6_FEATURE_EPOCHS:-4} finetune_epochs=${W6_FINETUNE_EPOCHS:-8}
finetune_lr=${W6_FINETUNE_LR:-1e-4} threads=${W6_THREADS:-2}
if ! /usr/bin/python3 -c 'import torch' 2>/dev/null ||
   ! "$venv/bin/python" -c 'import onnx, onnxruntime' 2>/dev/null; then
  echo "w6_onnx: SKIP: needs python3-torch and onnx, onnxruntime in $venv" \
       "(bash scripts/onnx_roundtrip_setup.sh)"
  exit 77
fi
mkdir -p "$work"
start=$SECONDS
stage() { echo; echo "== $1 ($((SECONDS - start)) s so far)"; }
limits=(--train-limit "$train_limit" --test-limit "$test_limit" --threads "$threads" --quiet)

stage "1. PyTorch: ResNet-18 on classes 0-4, $steps Adam steps, exported to ONNX"
/usr/bin/python3 scripts/pretrain_resnet18_torch.py --steps "$steps" --threads "$threads" \
    --out '' --onnx "$work/resnet18_fm5.onnx"

stage "2. kiln import, checked against ONNX Runtime"
"$kiln" import "$work/resnet18_fm5.onnx" -o "$work/resnet18_fm5.kiln" \
    --weights "$work/resnet18_fm5.kckpt"
"$venv/bin/python" scripts/w6_onnx_eval.py --kiln "$kiln" --onnx "$work/resnet18_fm5.onnx" \
    --model "$work/resnet18_fm5.kiln" --weights "$work/resnet18_fm5.kckpt" --classes 5 \
    --test-limit "$test_limit" --tag imported

stage "3. feature extraction: trunk frozen, new head, $feature_epochs epochs"
# The imported model, edited: its fc becomes the new head and its placeholder loss a
# cross-entropy; the train section is examples/resnet18_features.kiln's.
sed -e '/^  param fc\./d' -e '/^  # kiln import cannot know the loss/d' -e '/^  # Replace it, e.g./d' \
    -e '/^# A stub to edit/,$d' -e 's/^  input x: .*/&\n  input y: i64[B]/' \
    -e 's/^  logits = matmul(\(.*\), fc\.weight, transpose_b=true) + fc\.bias$/  f = relu(linear(\1, 512, name="fc.0"))\n  f = dropout(f, p=0.4)\n  f = relu(linear(f, 256, name="fc.3"))\n  logits = linear(f, 10, name="fc.5")/' \
    -e 's/^  loss = mean(logits)$/  loss = cross_entropy(logits, y)/' \
    "$work/resnet18_fm5.kiln" > "$work/features.kiln"
sed -n '/^train {/,$p' examples/resnet18_features.kiln >> "$work/features.kiln"
grep -q 'name="fc.5"' "$work/features.kiln" || { echo "w6_onnx: the imported fc was not found"; exit 1; }
"$kiln" train "$work/features.kiln" --init-weights "$work/resnet18_fm5.kckpt" \
    --epochs "$feature_epochs" "${limits[@]}" --checkpoint "$work/features.ckpt" \
    --metrics-out "$work/features.json"

stage "4. fine-tuning: nothing frozen, lr $finetune_lr, $finetune_epochs epochs, best test loss kept"
sed -e '/^  freeze = /d' -e '/^  init_exclude = /d' "$work/features.kiln" > "$work/finetune.kiln"
"$kiln" train "$work/finetune.kiln" --init-weights "$work/features.ckpt" \
    --lr "$finetune_lr" --epochs "$finetune_epochs" "${limits[@]}" \
    --save-best "$work/finetune_best.ckpt" --metrics-out "$work/finetune.json"

stage "5. kiln export of the best epoch, run in ONNX Runtime"
"$kiln" export "$work/finetune.kiln" --weights "$work/finetune_best.ckpt" \
    -o "$work/tuned.onnx"
"$venv/bin/python" scripts/w6_onnx_eval.py --kiln "$kiln" --onnx "$work/tuned.onnx" \
    --model "$work/finetune.kiln" --weights "$work/finetune_best.ckpt" \
    --test-limit "$test_limit" --tag tuned
"$venv/bin/python" - "$work" <<'PY'
import json, sys
for stage in ("features", "finetune"):
    epochs = json.load(open("%s/%s.json" % (sys.argv[1], stage)))["epochs"]
    best = min(epochs, key=lambda e: e["test_loss"])
    last = epochs[-1]
    print("%-8s last epoch %d: train loss %.4f test loss %.4f acc %.4f; best test loss: epoch %d "
          "(%.4f, acc %.4f); %.0f s training" % (
              stage, last["epoch"], last["train_loss"], last["test_loss"], last["test_accuracy"],
              best["epoch"], best["test_loss"], best["test_accuracy"],
              sum(e["seconds"] for e in epochs)))
PY
echo "w6_onnx: done in $((SECONDS - start)) s"
