//! fleetctl's HTTP API: `router(state)` is the whole application.
