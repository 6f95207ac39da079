# fleetctl-function as a container: any container host (PORT) today; the OCI Functions
# (Fn http-stream over FN_LISTENER) adapter arrives with the function issue.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin fleetctl-function --bin fleetctl

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 1000 fn && useradd --uid 1000 --gid fn --create-home fn
COPY --from=build /src/target/release/fleetctl-function /usr/local/bin/fleetctl-function
COPY --from=build /src/target/release/fleetctl /usr/local/bin/fleetctl
USER fn
ENV PORT=8080
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/fleetctl-function"]
