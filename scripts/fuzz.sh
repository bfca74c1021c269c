#!/usr/bin/env bash
# Builds one libFuzzer target (or all) with ASan + UBSan and runs it.
#   scripts/fuzz.sh TARGET SECONDS    e.g. scripts/fuzz.sh model_file 1800
#   scripts/fuzz.sh all SECONDS       every target in turn, SECONDS each (CI's smoke run)
# Targets: model_file ir_text model_proto checkpoint idx csv tensor_file onnx_model
# (tests/fuzz/*_fuzzer.cc).
# The corpus grows in build-sanitize/fuzz/TARGET/corpus (seeded from tests/fuzz/seeds/TARGET and,
# for model files, examples/); a crash leaves its input in build-sanitize/fuzz/TARGET/ and fails.
# KILN_FUZZ_SEED fixes libFuzzer's random seed (CI sets it, so its smoke run repeats the same
# mutations as far as its time allows); unset, every run explores differently.
set -euo pipefail
cd "$(dirname "$0")/.."
all_targets=(model_file ir_text model_proto checkpoint idx csv tensor_file onnx_model)
if (($# != 2)) || ! [[ $2 =~ ^[0-9]+$ ]]; then
  echo "usage: scripts/fuzz.sh TARGET|all SECONDS  (targets: ${all_targets[*]})" >&2
  exit 2
fi
targets=("$1")
[[ $1 == all ]] && targets=("${all_targets[@]}")
for t in "${targets[@]}"; do
  [[ -f tests/fuzz/${t}_fuzzer.cc ]] || { echo "fuzz.sh: unknown target '$t'" >&2; exit 2; }
done

scripts/install_deps.sh --sanitize
source scripts/sanitize_env.sh
KILN_BUILD_DIR=$SANITIZE_BUILD_DIR KILN_TARGETS="${targets[*]/%/_fuzzer}" \
  scripts/build.sh "${SANITIZE_CMAKE_ARGS[@]}"

for t in "${targets[@]}"; do
  work=$SANITIZE_BUILD_DIR/fuzz/$t
  mkdir -p "$work/corpus"
  seeds=(tests/fuzz/seeds/"$t")
  [[ $t == model_file ]] && seeds+=(examples)
  flags=(-max_total_time="$2" -seed="${KILN_FUZZ_SEED:-0}" -timeout=30 -rss_limit_mb=4096
         -print_final_stats=1 -artifact_prefix="$work/" -dict=tests/fuzz/kiln.dict)
  [[ $t == model_file || $t == ir_text ]] && flags+=(-max_len=8192)
  echo "== fuzzing $t for $2 s"
  # Stats go to the log; the lines that matter are echoed.
  if ! "$SANITIZE_BUILD_DIR/tests/fuzz/${t}_fuzzer" "${flags[@]}" "$work/corpus" "${seeds[@]}" \
      > "$work/log" 2>&1; then
    tail -n 60 "$work/log"
    echo "fuzz.sh: $t failed; the input is in $work/ (crash-*, timeout-*, oom-*)" >&2
    exit 1
  fi
  grep -E '^(Done|stat::number_of_executed_units|stat::peak_rss_mb)' "$work/log" || true
  echo "corpus: $(find "$work/corpus" -type f | wc -l) inputs"
done
