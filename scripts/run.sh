#!/usr/bin/env bash
# Installs what is missing, builds, and starts the demo on 127.0.0.1:8080
# (PORTHOLE_LISTEN to change it). Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$HOME/.cargo/bin:$PATH"
scripts/install-tools.sh
scripts/build-frontend.sh
cargo build --release --locked -p porthole-server
exec target/release/porthole "$@"
