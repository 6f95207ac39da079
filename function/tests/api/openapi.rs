//! The OpenAPI document: checked in, current, valid for standard tooling, and matching the
//! router route for route.

use std::path::{Path, PathBuf};

use axum::body::Body;
use axum::http::{Method, Request};

use crate::support::Api;

fn checked_in() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/openapi.json")
}

/// `FLEETCTL_UPDATE_OPENAPI=1` (what `cargo xtask openapi` sets) writes the file instead.
#[test]
fn the_checked_in_document_is_current() {
    let generated = fleetctl_function::openapi::document_json();
    let path = checked_in();
    if std::env::var_os("FLEETCTL_UPDATE_OPENAPI").is_some_and(|v| v == "1") {
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == generated,
        "docs/openapi.json is stale: run `cargo xtask openapi` and commit it"
    );
}

#[tokio::test]
async fn the_router_serves_the_document_and_every_operation_in_it() {
    let api = Api::start().await;
    let served = api.get("/openapi.json").await;
    assert_eq!(served.status, 200);
    assert!(served.content_type().starts_with("application/json"));
    let doc = served.json();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    let mut operations = 0;
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            let method: Method = method.to_uppercase().parse().unwrap();
            let r = Request::builder()
                .method(method.clone())
                .uri(path)
                .body(Body::empty())
                .unwrap();
            let a = api.send(r).await;
            assert!(
                a.status != 404 && a.status != 405,
                "{method} {path} is documented but answers {}",
                a.status
            );
            let secured = op.get("security").is_some();
            assert_eq!(secured, method == Method::POST, "{method} {path}");
            if secured {
                assert_eq!(a.status, 401, "{method} {path} without a token");
            }
            operations += 1;
        }
    }
    assert_eq!(operations, 16, "{:?}", paths.keys().collect::<Vec<_>>());
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
}

/// The project's Python (`FLEETCTL_TEST_PYTHON`, else `<workspace>/.venv/bin/python`), with
/// openapi-spec-validator from `tests/python/requirements.txt` (`cargo xtask setup`).
pub(crate) fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("FLEETCTL_TEST_PYTHON") {
        return PathBuf::from(p);
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
    assert!(
        venv.exists(),
        "no Python for the OpenAPI validator: {} is missing and FLEETCTL_TEST_PYTHON is not \
         set. Run `cargo xtask setup`.",
        venv.display()
    );
    venv
}

#[test]
fn the_document_is_valid_openapi() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, fleetctl_function::openapi::document_json()).unwrap();
    let out = std::process::Command::new(python())
        .args(["-m", "openapi_spec_validator"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openapi-spec-validator refused the document:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
