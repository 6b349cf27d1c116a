# Builds the one `ticketing` binary; every role runs it with another --role.
FROM rust:1.88-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release -p ticketing

FROM debian:bookworm-slim
COPY --from=build /src/target/release/ticketing /usr/local/bin/ticketing
EXPOSE 50051
CMD ["ticketing", "serve", "--grpc-addr", "0.0.0.0:50051"]
