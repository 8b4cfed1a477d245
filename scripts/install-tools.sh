#!/usr/bin/env bash
# Installs every tool the build and the tests need, from the package registries
# only, idempotently: a second run checks versions and returns in seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

TRUNK_VERSION=0.21.14
# Must equal the wasm-bindgen version in Cargo.lock (trunk refuses any other).
WASM_BINDGEN_VERSION=0.2.129
export PATH="$HOME/.cargo/bin:$PATH"

say() { echo "install-tools: $*"; }

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

if ! trunk --version 2>/dev/null | grep -q "trunk $TRUNK_VERSION"; then
  say "cargo install trunk $TRUNK_VERSION (about 10 minutes on 2 cores)"
  cargo install trunk --version "=$TRUNK_VERSION" --locked
fi

if ! wasm-bindgen --version 2>/dev/null | grep -q "wasm-bindgen $WASM_BINDGEN_VERSION"; then
  say "cargo install wasm-bindgen-cli $WASM_BINDGEN_VERSION"
  cargo install wasm-bindgen-cli --version "=$WASM_BINDGEN_VERSION" --locked
fi

missing_debs=()
[ -x /usr/bin/chromium ] || missing_debs+=(chromium)
# A real reverse proxy in front of several relays (server/tests/nginx.rs).
[ -x /usr/sbin/nginx ] || missing_debs+=(nginx)
if [ ${#missing_debs[@]} -gt 0 ]; then
  say "apt-get install ${missing_debs[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing_debs[@]}"
fi

# The Python `kubernetes` client, for the local cluster's conformance
# tests, and `asciinema`, which must play the session recordings.
KUBERNETES_PY_VERSION=37.0.2
ASCIINEMA_VERSION=2.4.0
if ! .venv/bin/python -c "import kubernetes, sys; sys.exit(kubernetes.__version__ != '$KUBERNETES_PY_VERSION')" 2>/dev/null; then
  say "python venv with kubernetes==$KUBERNETES_PY_VERSION"
  python3 -m venv .venv
  .venv/bin/pip install --quiet "kubernetes==$KUBERNETES_PY_VERSION"
fi
if [ "$(.venv/bin/asciinema --version 2>/dev/null)" != "asciinema $ASCIINEMA_VERSION" ]; then
  say "asciinema==$ASCIINEMA_VERSION in the venv"
  .venv/bin/pip install --quiet "asciinema==$ASCIINEMA_VERSION"
fi

# npm ci is quick but not free; skip it when node_modules matches the lockfile.
if [ ! -f node_modules/.package-lock.json ] || ! cmp -s package-lock.json node_modules/.porthole-lock; then
  say "npm ci"
  npm ci --no-audit --no-fund
  cp package-lock.json node_modules/.porthole-lock
fi
