//! oci-sim: a local OCI that speaks the REST API over HTTP on loopback.
