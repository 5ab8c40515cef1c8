#!/usr/bin/env bash
# The whole test suite: lint, format, types, then pytest against real services the tests start themselves.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh --if-needed  # a fresh clone installs first; an installed one goes straight on
export PATH="$PWD/.venv/bin:$PATH"

echo "==> ruff check";   ruff check .
echo "==> ruff format";  ruff format --check .
echo "==> mypy";         mypy
# Two workers (pytest-xdist), a whole test module per worker so a module's services start once: much of
# the suite waits on schedules and JVM start-ups, and one worker's wait is the other's CPU time.
# Arguments (a path, -k, -x) go to that one run; without any, the compose phase follows.
# --unit: the unit tier alone (no service, no JVM; tests/conftest.py says which), in about a minute.
if [[ "${1:-}" == "--unit" ]]; then
  shift
  echo "==> pytest -m unit $*"; exec pytest -n "${LAKE_TEST_WORKERS:-2}" -m unit "$@"
fi
if (($#)); then
  echo "==> pytest $*"; exec pytest -n "${LAKE_TEST_WORKERS:-2}" --dist loadfile --no-loadscope-reorder "$@"
fi
echo "==> pytest";       pytest -n "${LAKE_TEST_WORKERS:-2}" --dist loadfile --no-loadscope-reorder --ignore=tests/compose
# The compose stack alone: it publishes the fixed ports compose.yaml names and needs both cores. It starts
# the Docker engine if none runs (and stops it after), builds the images (cached in the engine's data root)
# and brings docker/compose.yaml up with the stand-ins of the upstream images.
echo "==> pytest tests/compose"; pytest tests/compose
