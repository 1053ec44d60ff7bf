#!/usr/bin/env bash
# Prove the core install (no torch) colorizes with an exported ONNX model and never imports torch.
#
#   MAIN_PY=.venv/bin/python bash .ci/torch_free_check.sh [REPO_ROOT] [MODEL.onnx]
#
# REPO_ROOT defaults to the current directory. Without MODEL.onnx, the main environment's python
# (MAIN_PY, default REPO_ROOT/.venv/bin/python; it has torch) exports a tiny random-weight
# generator first. A fresh virtualenv gets `pip install REPO_ROOT` (core dependencies only); then:
#   * colorize-cli --backend onnx  and  --backend auto  colorize a few generated photos,
#     outputs exist, and 'torch' is not in sys.modules afterwards;
#   * backend auto without --model resolves to onnx there;
#   * --backend torch and `colorize-cli export` fail with exit 2 naming the [torch] extra;
#   * the default test suite passes there (tests that need torch skip, saying why).
# CORE_VENV=DIR keeps (and reuses) the virtualenv there; otherwise it is made in a temp folder
# and removed. PIP_ARGS adds pip options (e.g. a local wheel cache).
set -euo pipefail

ROOT=$(cd "${1:-$PWD}" && pwd)
MODEL=${2:-}
MAIN_PY=${MAIN_PY:-$ROOT/.venv/bin/python}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/colorize-torch-free.XXXXXX")
cleanup() { rm -rf "$WORK"; }
trap cleanup EXIT
VENV=${CORE_VENV:-$WORK/venv}
fail() { echo "torch_free_check: FAIL: $*" >&2; exit 1; }
step() { echo "torch_free_check: $*"; }

# 1. The ONNX model, exported (and verified) by the torch environment.
if [[ -z "$MODEL" ]]; then
    MODEL=$WORK/tiny.onnx
    step "exporting a tiny generator with $MAIN_PY"
    "$MAIN_PY" - "$WORK/tiny.pt" <<'PY'
import sys
import torch
from colorize_cli.checkpoint import make_checkpoint, save_checkpoint
from colorize_cli.models import GeneratorConfig, build_generator
torch.manual_seed(0)
cfg = GeneratorConfig(arch="unet", num_filters=4, n_down=5, train_size=64)
save_checkpoint(sys.argv[1], make_checkpoint(build_generator(cfg), cfg))
PY
    "$MAIN_PY" -m colorize_cli.export "$WORK/tiny.pt" -o "$MODEL" -q || fail "export in the main environment"
fi
[[ -f "$MODEL" ]] || fail "no ONNX model at $MODEL"

# 2. The core install, without torch.
if [[ ! -x "$VENV/bin/python" ]]; then
    step "creating $VENV"
    python3 -m venv "$VENV"
fi
step "pip install $ROOT (core only)"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check ${PIP_ARGS:-} "$ROOT" || fail "pip install"
"$VENV/bin/python" -c "from colorize_cli import lab_kernel as k; assert k.available(), k.describe()" \
    || fail "the compiled compose was not built by pip install"
PY=$VENV/bin/python
"$PY" -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('torch') is not None)" \
    || fail "torch got installed into the core environment"

# 3. A few generated photos (8-bit gray JPEG/PNG, 16-bit PNG).
"$PY" - "$WORK/photos" <<'PY'
import sys
from pathlib import Path
import numpy as np
from PIL import Image
out = Path(sys.argv[1]); out.mkdir()
for i, (w, h) in enumerate([(160, 120), (97, 141), (200, 64)]):
    y, x = np.mgrid[0:h, 0:w] / np.array([h, w])[:, None, None]
    g = 0.5 + 0.3 * np.sin(6 * x + i) * np.cos(4 * y) + 0.1 * (x > 0.5)
    g = np.clip(g, 0, 1)
    Image.fromarray((g * 255).astype(np.uint8), "L").save(out / f"p{i}.{'jpg' if i == 0 else 'png'}")
Image.fromarray((g * 65535).astype(np.uint16)).save(out / "p16.png")
PY

# The CLI entry, run in-process so we can look at sys.modules afterwards.
cat > "$WORK/run_cli.py" <<'PY'
import sys
from colorize_cli.cli import main
code = 0
try:
    rv = main(sys.argv[1:], standalone_mode=False)
    code = rv if isinstance(rv, int) else 0
except SystemExit as exc:
    code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
except Exception as exc:  # click.UsageError and friends with standalone_mode=False
    print(f"Error: {exc}", file=sys.stderr)
    code = getattr(exc, "exit_code", 1)
leaked = sorted(m for m in sys.modules if m == "torch" or m.startswith("torch."))
if leaked:
    print(f"torch was imported: {leaked[:5]}", file=sys.stderr)
    sys.exit(99)
sys.exit(code)
PY

run_cli() { "$PY" "$WORK/run_cli.py" "$@"; }

for backend in onnx auto; do
    step "colorize with --backend $backend"
    run_cli --backend "$backend" --model "$MODEL" "$WORK/photos" -o "$WORK/out-$backend" >"$WORK/log-$backend" 2>&1 \
        || { cat "$WORK/log-$backend"; fail "--backend $backend exited $?"; }
    grep -q "onnx (" "$WORK/log-$backend" || { cat "$WORK/log-$backend"; fail "--backend $backend did not use onnx"; }
    n=$(find "$WORK/out-$backend" -type f \( -name '*.png' -o -name '*.jpg' \) | wc -l)
    [[ "$n" -eq 4 ]] || fail "--backend $backend wrote $n of 4 outputs"
done

step "README quick start: colorize-cli examples -o colored (bundled model, no --model)"
run_cli "$ROOT/examples" -o "$WORK/colored" >"$WORK/log-quick" 2>&1 \
    || { cat "$WORK/log-quick"; fail "the quick start exited $?"; }
grep -q "onnx (" "$WORK/log-quick" || { cat "$WORK/log-quick"; fail "the quick start did not use onnx"; }
n=$(find "$WORK/colored" -type f -name '*.jpg' | wc -l)
[[ "$n" -eq 7 ]] || fail "the quick start wrote $n of 7 outputs"
# --precision int8 runs the bundled int8 model where the bundle has one; else it must say why (exit 2).
if [[ -f "$ROOT/colorize_cli/assets/default_int8.onnx" ]]; then
    run_cli "$WORK/photos" -o "$WORK/out-int8" --precision int8 >"$WORK/log-int8" 2>&1 \
        || { cat "$WORK/log-int8"; fail "--precision int8 exited $?"; }
else
    rc=0; run_cli "$WORK/photos" -o "$WORK/out-int8" --precision int8 >"$WORK/log-int8" 2>&1 || rc=$?
    [[ "$rc" -eq 2 ]] && grep -q "no int8 variant" "$WORK/log-int8" \
        || { cat "$WORK/log-int8"; fail "--precision int8 without a bundled int8 model exited $rc"; }
fi

step "backend auto without a model resolves to onnx"
"$PY" - <<'PY' || fail "auto did not pick onnx"
import sys
from colorize_cli.backends import _choose_backend
assert _choose_backend("auto", None) == "onnx"
assert "torch" not in sys.modules
PY

expect_torch_extra() {  # $1: label; rest: CLI args. Exit 2 and a message naming [torch].
    local label=$1; shift
    set +e
    run_cli "$@" >"$WORK/log-x" 2>&1
    local rc=$?
    set -e
    [[ $rc -eq 2 ]] || { cat "$WORK/log-x"; fail "$label exited $rc, expected 2"; }
    grep -q 'colorize-cli\[torch\]' "$WORK/log-x" || { cat "$WORK/log-x"; fail "$label: message does not name [torch]"; }
    step "$label: exit 2, $(head -n1 "$WORK/log-x")"
}
expect_torch_extra "--backend torch" --backend torch "$WORK/photos" -o "$WORK/out-torch"
expect_torch_extra "export" export "$WORK/whatever.pt" -o "$WORK/x.onnx"

step "the default test suite on the core install (torch's tests skip, with their reason)"
"$PY" -m pip install -q --disable-pip-version-check ${PIP_ARGS:-} pytest pytest-timeout || fail "pip install pytest"
(cd "$ROOT" && "$PY" -m pytest -q -p no:cacheprovider -rs) >"$WORK/log-pytest" 2>&1 \
    || { tail -40 "$WORK/log-pytest"; fail "the default suite failed on the core install"; }
"$PY" -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('torch') is not None)" \
    || fail "the test run installed torch"
step "core suite: $(tail -n1 "$WORK/log-pytest")"

step "core environment size: $(du -sh "$VENV" | cut -f1) ($VENV)"
step "OK"
