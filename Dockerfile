# fleetctl-function as a container image: HTTP on $PORT (8080) on any container host, and the
# Fn http-stream contract when OCI Functions sets FN_LISTENER (docs/deploy-oci-functions.md).
#
# Two stages (the dashboard is checked in, built, under frontend/dist, and embedded by
# function/build.rs; a test fails when it is stale against frontend/):
#   build      static musl binaries: fleetctl-function, and fleetctl WITHOUT the `demo`
#              feature, so the simulator (oci-sim) is not in the image;
#   runtime    alpine with CA certificates and the uid/gid 1000 `fn` user OCI Functions
#              expects; nothing runs as root.
#
# The same steps by hand, without Docker (what `cargo xtask test` checks too):
#   cargo build --profile dist --locked --no-default-features -p fleetctl -p fleetctl-function
#   cargo tree -p fleetctl --no-default-features -e normal | grep oci-sim   # prints nothing
#
# Build and push for OCI Functions (the shape of the application decides the architecture):
#   docker build -t <region-key>.ocir.io/<namespace>/fleetctl/fleetctl-function:0.1.0 .
#   fn deploy --app <app>        # with func.yaml (runtime: docker) in this directory

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-alpine AS build
# aws-lc-sys (the TLS crypto) compiles C: a C toolchain, cmake and perl.
RUN apk add --no-cache musl-dev build-base cmake perl
WORKDIR /src
COPY . .
# musl targets link statically by default: no libc in the runtime image is needed. The `dist`
# profile (Cargo.toml): release with whole-program LTO, one codegen unit, stripped.
RUN cargo build --profile dist --locked --no-default-features -p fleetctl -p fleetctl-function

FROM alpine:3.22 AS runtime
RUN apk add --no-cache ca-certificates \
    && addgroup -g 1000 fn \
    && adduser -D -u 1000 -G fn -h /home/fn fn
COPY --from=build /src/target/dist/fleetctl-function /usr/local/bin/fleetctl-function
COPY --from=build /src/target/dist/fleetctl /usr/local/bin/fleetctl
USER 1000:1000
WORKDIR /home/fn
# HTTP by default; OCI Functions sets FN_LISTENER and FN_FORMAT, which switch to the Fn socket.
ENV PORT=8080
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/fleetctl-function"]
