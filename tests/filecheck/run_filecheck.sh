#!/usr/bin/env bash
# Runs one pass test (tests/filecheck/*.kir) the way LLVM's lit runs a test, for the few
# substitutions kiln's tests use: every `// RUN: ...` line is a shell pipeline in which %s is the
# test file, `kiln` the kiln binary, `FileCheck` FileCheck, and `not CMD` succeeds when CMD
# fails. The test passes when every RUN line succeeds.
#
#   run_filecheck.sh KILN FILECHECK TEST.kir
#
# Exits 77 (CTest's "skipped", see SKIP_RETURN_CODE) when FileCheck was not found at configure
# time: the tests need llvm-19-tools, which scripts/install_deps.sh installs.
set -euo pipefail

kiln_bin=$1
filecheck_bin=$2
test_file=$3

if [[ -z $filecheck_bin || $filecheck_bin == *NOTFOUND ]]; then
  echo "FileCheck not found (install llvm-19-tools): $test_file skipped"
  exit 77
fi

kiln() { "$kiln_bin" "$@"; }
FileCheck() { "$filecheck_bin" "$@"; }
not() { ! "$@"; }

mapfile -t run_lines < <(sed -n 's|^[[:space:]]*//[[:space:]]*RUN:[[:space:]]*||p' "$test_file")
if ((${#run_lines[@]} == 0)); then
  echo "$test_file: no '// RUN:' line" >&2
  exit 1
fi
for command in "${run_lines[@]}"; do
  command=${command//"%s"/"$test_file"}
  echo "RUN: $command"
  eval "$command"
done
