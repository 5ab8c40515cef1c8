#!/usr/bin/env bash
# The whole test suite: lint, format, types, then pytest against real services the tests start themselves.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"

echo "==> ruff check";   ruff check .
echo "==> ruff format";  ruff format --check .
echo "==> mypy";         mypy
echo "==> pytest";       pytest "$@"
