# Builds the one `ticketing` binary; every role runs it with another --role.
#
# Dependencies are compiled in a layer of their own (cargo-chef): a change to
# the engine's code rebuilds only the workspace's crates. The toolchain is
# the one the lock file needs (aes 0.9, through lopdf, wants rustc 1.89+).
FROM rust:1.95-bookworm AS chef
RUN cargo install cargo-chef --version 0.1.78 --locked
WORKDIR /src

# The recipe: every manifest and the lock file, no source.
FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS build
COPY --from=planner /src/recipe.json recipe.json
# librdkafka (bundled, built with make) links the image's OpenSSL.
RUN cargo chef cook --release --locked -p ticketing --recipe-path recipe.json
COPY . .
RUN cargo build --release --locked -p ticketing

FROM debian:bookworm-slim
# OpenSSL for Kafka over TLS/SASL; the CA roots librdkafka verifies brokers
# with (SMTP carries its own).
RUN apt-get update \
    && apt-get install -y --no-install-recommends libssl3 ca-certificates \
    && rm -rf /var/lib/apt/lists/*
# Not root. Its home is the working directory, so the embedded default's
# ./data is writable; /keys is made here, owned by it, so a named volume
# mounted there (the fulfillment role's key ring) starts out writable too.
RUN useradd --system --uid 10001 --user-group --create-home --home-dir /var/lib/ticketing ticketing \
    && install -d -o ticketing -g ticketing -m 0700 /keys
COPY --from=build /src/target/release/ticketing /usr/local/bin/ticketing
USER ticketing
WORKDIR /var/lib/ticketing
# gRPC; the JSON API and the web page (embedded at build time from
# web/dist); the admin port (/metrics, /healthz, /readyz).
EXPOSE 50051 8080 9090
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["ticketing", "probe", "http://127.0.0.1:9090/readyz"]
CMD ["ticketing", "serve", "--grpc-addr", "0.0.0.0:50051", "--http-addr", "0.0.0.0:8080", "--admin-addr", "0.0.0.0:9090"]
