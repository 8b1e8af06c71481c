# syntax=docker/dockerfile:1
# The Roost image: both binaries (roost-api, roost-ingest) on a distroless base, non-root.
#
#   docker build -t roost .                      # build from source (the default target)
#   docker build --target runtime-prebuilt \
#     --build-arg BIN_DIR=target/release -t roost .   # package binaries built outside
#
# The base images are build arguments whose defaults are the public images; offline builds
# (our CI) pass locally made stand-ins (scripts/image.sh).
ARG RUST_IMAGE=rust:1.95-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot

# ---- build: the release binaries, with the registry and target directory cached between builds
FROM ${RUST_IMAGE} AS build
WORKDIR /src
COPY . .
# Line tables are for backtraces on developer machines; the image carries stripped binaries.
ENV CARGO_PROFILE_RELEASE_DEBUG=0 CARGO_PROFILE_RELEASE_STRIP=symbols
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin roost-api --bin roost-ingest \
    && mkdir -p /out \
    && cp target/release/roost-api target/release/roost-ingest /out/

# ---- the runtime settings both targets share
FROM ${RUNTIME_IMAGE} AS runtime-base
# Listen on every interface inside the pod; the metrics ports stay off the Service's public port.
ENV ROOST_HTTP_ADDR=0.0.0.0:8080 \
    ROOST_METRICS_ADDR=0.0.0.0:9464 \
    ROOST_INGEST_METRICS_ADDR=0.0.0.0:9465 \
    ROOST_LOG_FORMAT=json
# distroless's `nonroot` user; both binaries handle SIGTERM themselves as PID 1.
USER 65532:65532
EXPOSE 8080 9464 9465
ENTRYPOINT ["/usr/local/bin/roost-api"]
CMD ["serve"]

# ---- binaries built outside the image (CI, or `cargo build --release` on the host)
FROM runtime-base AS runtime-prebuilt
ARG BIN_DIR=target/release
COPY ${BIN_DIR}/roost-api ${BIN_DIR}/roost-ingest /usr/local/bin/

# ---- the default: binaries built in the image
FROM runtime-base AS runtime
COPY --from=build /out/roost-api /out/roost-ingest /usr/local/bin/
