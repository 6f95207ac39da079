//! Talking to OCI: credential providers, the request signer and the REST client.
