#!/bin/bash
# W2's three tabular recipes, kiln next to PyTorch on the same generated data:
#   scripts/w2_compare.sh [SEEDS] [KILN]
# scripts/w2_pytorch.py draws SEEDS tables per recipe (scikit-learn's algorithms), trains PyTorch
# on each and writes them as CSV; kiln then trains examples/{binary_classifier,
# multiclass_classifier,regression}.kiln on the same tables (data = csv(...) in place of the
# generator, everything else unchanged). Each side makes its own 10% test split of a table.
set -euo pipefail
seeds=${1:-10}
kiln=${2:-build/tools/kiln}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
/usr/bin/python3 scripts/w2_pytorch.py --seeds "$seeds" --csv "$dir"

# The example with its data line replaced by the CSV table of draw $2.
with_csv() {
  local example=$1 table=$2 extra=$3
  perl -0pe "s|^  data = [^)]*\\)|  data = csv(path=\"$table\", label=label, seed=1, standardize=true$extra)|m" \
    "examples/$example.kiln"
}

for recipe in binary_classifier:binary: multiclass_classifier:multiclass:,one_hot=true \
              regression:regression:,regression=true; do
  IFS=: read -r example name extra <<< "$recipe"
  values=()
  for ((s = 0; s < seeds; s++)); do
    with_csv "$example" "$dir/${name}_$s.csv" "$extra" > "$dir/model.kiln"
    line=$("$kiln" train "$dir/model.kiln" --threads 1 | tail -1)
    if [[ $name == regression ]]; then
      values+=("$(sed -E 's/.*test loss ([0-9.]+).*/\1/' <<< "$line")")
    else
      values+=("$(sed -E 's/.*test accuracy ([0-9.]+).*/\1/' <<< "$line")")
    fi
  done
  mean=$(printf '%s\n' "${values[@]}" | awk '{s += $1} END {printf "%.4f", s / NR}')
  printf 'kiln %-10s %s per seed: %s  mean %s\n' "$name" \
    "$([[ $name == regression ]] && echo 'test MSE' || echo 'test accuracy')" "${values[*]}" "$mean"
done
