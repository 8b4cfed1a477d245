# Porthole. `make run` starts the demo; `make test` runs every test.
# Both install what they need first (idempotent; see scripts/install-tools.sh).
.PHONY: run test bench dev install build-frontend

# Extra flags for porthole: make run ARGS="--config porthole.toml"
run:
	scripts/run.sh $(ARGS)

test:
	scripts/test.sh

# Speed and memory against a baseline (not part of `make test`): a table,
# and JSON in target/bench.json. About two minutes after the build.
bench:
	cargo bench --locked -p porthole-server --bench relay

install:
	scripts/install-tools.sh

build-frontend:
	scripts/build-frontend.sh

# Frontend development: trunk serve on http://127.0.0.1:8081 with live
# reload, proxying the API and the terminal WebSocket to a porthole already
# running on 127.0.0.1:8080 (`make run` in another terminal).
dev:
	scripts/install-tools.sh
	PATH="$$PWD/node_modules/.bin:$$HOME/.cargo/bin:$$PATH" TRUNK_SKIP_VERSION_CHECK=true \
	  PORTHOLE_DEV_WS=/-/dev-ws trunk serve
