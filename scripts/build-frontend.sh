#!/usr/bin/env bash
# Builds the frontend into frontend/dist with trunk, offline: wasm-bindgen and
# wasm-opt come from PATH (pinned by install-tools.sh), never from a download.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$HOME/.cargo/bin:$PATH"
export TRUNK_SKIP_VERSION_CHECK=true
cargo fetch --locked
trunk build --release "$@"
