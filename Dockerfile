# syntax=docker/dockerfile:1
#
# schemagate container image: a Rust build stage and a distroless runtime (glibc and libgcc,
# no shell, no package manager), running as a non-root user.
#
#   docker build -t schemagate .
#   docker run -p 8080:8080 -v "$PWD:/etc/schemagate:ro" schemagate
#
# The configuration and the partner files (schemas, mappings, fixtures) are not in the image:
# mount the directory holding them at /etc/schemagate. The gateway watches them and reloads
# on change, so files edited on the host go live without a restart; `docker kill -s HUP`
# forces a reload. See docs/operations.md.

ARG RUST_VERSION=1.89

FROM rust:${RUST_VERSION}-bookworm AS builder
WORKDIR /src
COPY . .
# The registry and target caches survive between builds; the binary is copied out of the
# cache mount so the next stage can take it.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin schemagate \
    && install -D -s -m 0755 target/release/schemagate /out/schemagate

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=builder /out/schemagate /usr/local/bin/schemagate
# uid/gid 65532 is distroless's `nonroot`; the mounted files need only be readable by it.
USER 65532:65532
WORKDIR /etc/schemagate
VOLUME ["/etc/schemagate"]
EXPOSE 8080
# The admin listener ([admin] listen, 127.0.0.1:9901 by default).
# SIGTERM drains: in-flight requests finish within server.shutdown_grace_ms (30 s by default).
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
    CMD ["/usr/local/bin/schemagate", "health", "http://127.0.0.1:9901/healthz"]
ENTRYPOINT ["/usr/local/bin/schemagate"]
# Listen on every interface of the container; `server.listen` in the mounted gateway.toml is
# overridden by --listen (drop it from the command to use the file's value).
CMD ["serve", "--config", "/etc/schemagate/gateway.toml", "--listen", "0.0.0.0:8080"]
