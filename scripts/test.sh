#!/usr/bin/env bash
# The test command: the offline pytest suite (slow benchmarks excluded by the default marker filter).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck disable=SC1091
. .venv/bin/activate
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
python -m pytest -q "$@"
