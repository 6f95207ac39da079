# Thin wrappers for users of the earlier Go tool; cargo and `cargo xtask` do the work.
# make build | make run ARGS="--config fleet.yaml --status" | make test | make tidy | make clean

ARGS ?=

.PHONY: build run test tidy clean

build:
	cargo build --release --bin fleetctl --bin fleetctl-function --bin oci-sim

run:
	cargo run --bin fleetctl -- $(ARGS)

test:
	cargo xtask test

tidy:
	cargo fmt --all
	cargo clippy --all-targets --fix --allow-dirty --allow-staged -- -D warnings

clean:
	cargo clean
