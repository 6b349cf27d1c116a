# Builds the one `ticketing` binary; every role runs it with another --role.
FROM rust:1.88-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release -p ticketing

FROM debian:bookworm-slim
COPY --from=build /src/target/release/ticketing /usr/local/bin/ticketing
# gRPC; the JSON API and the web page (embedded at build time from web/dist).
EXPOSE 50051 8080
CMD ["ticketing", "serve", "--grpc-addr", "0.0.0.0:50051", "--http-addr", "0.0.0.0:8080"]
