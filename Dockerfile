# Porthole's image: `docker build -t porthole .` (deploy/kubernetes runs it).
#
# Stage 1 builds the server and the frontend with the same pinned tools as
# scripts/install-tools.sh (server/tests/deploy.rs checks the pins agree):
# nothing is downloaded at build time but crates and npm packages. Stage 2
# is Debian slim with the two binaries (porthole and porthole-standby,
# which must sit beside it), the built frontend and CA certificates, run as
# an unprivileged user.

FROM rust:1.95-bookworm AS build
ARG TRUNK_VERSION=0.21.14
ARG WASM_BINDGEN_VERSION=0.2.129
RUN apt-get update \
 && apt-get install -y --no-install-recommends nodejs npm \
 && rm -rf /var/lib/apt/lists/*
RUN rustup target add wasm32-unknown-unknown \
 && cargo install trunk --version "=$TRUNK_VERSION" --locked \
 && cargo install wasm-bindgen-cli --version "=$WASM_BINDGEN_VERSION" --locked
WORKDIR /src
COPY package.json package-lock.json ./
# binaryen's wasm-opt (Debian's is too old) and xterm.js; not Playwright's
# browsers (never downloaded).
RUN npm ci --no-audit --no-fund
COPY . .
RUN scripts/build-frontend.sh \
 && cargo build --release --locked -p porthole-server --bin porthole --bin porthole-standby

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates bash \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 10001 porthole \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /var/lib/porthole --shell /usr/sbin/nologin porthole \
 && mkdir -p /var/lib/porthole /var/lib/porthole-recordings \
 && chown 10001:10001 /var/lib/porthole /var/lib/porthole-recordings
COPY --from=build /src/target/release/porthole /src/target/release/porthole-standby /usr/local/bin/
COPY --from=build /src/frontend/dist /usr/share/porthole/dist
USER 10001:10001
WORKDIR /var/lib/porthole
# 8080: pages, API and terminal WebSockets; 9090: /metrics.
EXPOSE 8080 9090
ENTRYPOINT ["/usr/local/bin/porthole"]
CMD ["--listen=0.0.0.0:8080", "--metrics-listen=0.0.0.0:9090", "--data-dir=/var/lib/porthole", "--dist-dir=/usr/share/porthole/dist"]
