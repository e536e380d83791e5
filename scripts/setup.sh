#!/usr/bin/env bash
# One command on a fresh machine: create .venv, install torch first (pinned CPU build), then StyleLens,
# then run the demo (index scikit-image's sample photos and search them) unless STYLELENS_SKIP_DEMO=1.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
TORCHVISION_SPEC=${TORCHVISION_SPEC:-torchvision==0.28.0}
EXTRAS=${STYLELENS_EXTRAS:-cpu,test,ray}  # ray: --engine ray and its tests

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
# shellcheck disable=SC1091
. .venv/bin/activate
python -m pip install --quiet --upgrade pip
python -m pip install --quiet "$TORCH_SPEC"                       # torch first: never let a dependency pick it
python -m pip install --quiet "$TORCHVISION_SPEC" "$TORCH_SPEC"   # torchvision pinned to the matching release
python -m pip install --quiet -e ".[$EXTRAS]" "$TORCH_SPEC"
echo "StyleLens installed in $(pwd)/.venv"
[ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ] || echo "(optional) the Studio's browser test uses Debian's" \
  "Chromium: sudo apt-get install chromium chromium-driver"
if [ "${STYLELENS_SKIP_DEMO:-0}" != 1 ]; then
  python scripts/demo.py "$@"
fi
