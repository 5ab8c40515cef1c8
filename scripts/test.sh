#!/usr/bin/env bash
# The whole test suite: lint, format, types, then pytest against real services the tests start themselves.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"

echo "==> ruff check";   ruff check .
echo "==> ruff format";  ruff format --check .
echo "==> mypy";         mypy
# Two workers (pytest-xdist), a whole test module per worker so a module's services start once: much of
# the suite waits on schedules and JVM start-ups, and one worker's wait is the other's CPU time.
echo "==> pytest";       pytest -n "${LAKE_TEST_WORKERS:-2}" --dist loadfile --no-loadscope-reorder "$@"
