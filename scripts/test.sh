#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test: Rust unit and
# integration tests, then the Playwright end-to-end tests in Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$HOME/.cargo/bin:$PATH"
scripts/install-tools.sh
scripts/build-frontend.sh
# The server's module graph: no import circle, nothing imports from above.
python3 scripts/module-graph.py --self-test
python3 scripts/module-graph.py
cargo test --workspace --locked
# `make bench` is not run here, but it must keep compiling (dev profile:
# the dependencies are the tests' own).
cargo build --locked -p porthole-server --bench relay --profile dev
# The long tests (#[ignore = "long …"], e.g. an idle terminal behind nginx
# for two minutes): `cargo test` alone skips them; here they run.
cargo test --workspace --locked --tests -- --ignored
# The e2e tests start target/debug/porthole, which `cargo test` just built.
(cd e2e && npx playwright test)
