#!/usr/bin/env bash
# Re-judge one mutmut mutant in a fresh Python process (benchmarks/RESULTS.md, "Mutation testing").
#
#   cd CLEAN_CHECKOUT && mutmut run ... ; bash benchmarks/mutation_fresh_check.sh MUTANT_NAME
#   xargs -P 2 -n 1 bash benchmarks/mutation_fresh_check.sh < names.txt
#
# Why: mutmut 3 forks every mutant from one process that has already run the whole suite, so a
# value a function caches on first use (lab.linear_lut's tables, srgb_fast's 8-bit table, the sRGB
# profile) is the clean code's in every fork and the mutants of those functions cannot fail. Here
# the mutant runs in a new interpreter (MUTANT_UNDER_TEST, which mutmut's trampolines read) on the
# tests mutmut mapped to its function plus tests/test_batch_contracts.py. Prints "NAME killed|survived RC".
set -u
m=$1
root=$(pwd)
cd "$root/mutants"
mapfile -t tests < <(python3 - "$m" <<'PY'
import json, sys
name = sys.argv[1]
fn = name.rsplit("__mutmut_", 1)[0]
mapped = json.load(open("mutmut-stats.json"))["tests_by_mangled_function_name"].get(fn, [])
skip_files = ("tests/test_export.py", "tests/test_training.py", "tests/test_ray_executor.py")
skip_names = ("interrupt_then_resume", "one_signal_ends", "sigkill_leaves",
              "test_int8_quantization_never_changes_the_working_folder")
print("\n".join(t for t in mapped if not t.startswith(skip_files) and not any(s in t for s in skip_names)))
PY
)
tests=(tests/test_batch_contracts.py "${tests[@]}")
MUTANT_UNDER_TEST=$m timeout 150 python -m pytest -x -q -p no:cacheprovider "${tests[@]}" > /dev/null 2>&1
rc=$?
if [ $rc -eq 0 ]; then echo "$m survived $rc"; else echo "$m killed $rc"; fi
