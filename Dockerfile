# syntax=docker/dockerfile:1
# The SentientIQ server with its browser SDK, widget and pages (docs/operations.md).
#
#   docker build -t sentientiq .
#   docker run -p 8080:8080 -e SIQ_ADMIN_TOKEN=… sentientiq          (SQLite in /data, in-process bus)
#   docker compose up                                                 (with PostgreSQL and NATS JetStream)
#
# The build stage runs the commands CI runs (`cargo xtask build-sdk`, `cargo xtask build-widget`,
# a release build of the server); the runtime stage is Debian slim with the binary, www/ and
# the built SDK and widget.

ARG RUST_VERSION=1.95
FROM rust:${RUST_VERSION}-bookworm AS build
WORKDIR /src
# wasm-opt (Debian's binaryen) shrinks the SDK; the build works without it.
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends binaryen && rm -rf /var/lib/apt/lists/* \
    && rustup target add wasm32-unknown-unknown
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target,id=siq-target \
    cargo xtask build-sdk \
    && cargo xtask build-widget \
    && cargo build --release --locked -p sentientiq-server \
    && mkdir -p /out \
    && cp target/release/sentientiq /out/ \
    && cp -r target/sdk /out/sdk \
    && cp -r target/widget /out/widget

FROM debian:bookworm-slim AS runtime
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /data --create-home --uid 10001 siq
COPY --from=build /out/sentientiq /usr/local/bin/sentientiq
COPY --from=build /out/sdk /app/sdk
COPY --from=build /out/widget /app/widget
COPY www /app/www
ENV SIQ_ADDR=0.0.0.0:8080 \
    SIQ_DATABASE_URL=sqlite:///data/siq.db \
    SIQ_SDK_DIR=/app/sdk \
    SIQ_WIDGET_DIR=/app/widget \
    SIQ_WWW_DIR=/app/www \
    SIQ_LOG_FORMAT=json
USER siq
WORKDIR /data
VOLUME /data
EXPOSE 8080
# The server stops cleanly (connections closed, the last traces sent) on Ctrl-C.
STOPSIGNAL SIGINT
# Ready = the store and the bus answer (/readyz); bash's /dev/tcp, no curl in the image.
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/8080 && printf 'GET /readyz HTTP/1.0\\r\\n\\r\\n' >&3 && head -n1 <&3 | grep -q ' 200 '"]
ENTRYPOINT ["/usr/local/bin/sentientiq"]
CMD ["serve"]
