//! The route-agnostic layers: a request id on every request, its log line, and every error
//! answer's body written with that id; a panic becomes a 500 of the same shape.

use std::any::Any;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, Response};
use axum::middleware::Next;
use fleetctl_api::http::ErrorCode;

use crate::error::ApiError;

/// The id of a request: the caller's `opc-request-id` or `x-request-id` when it is short and
/// plain (an API Gateway in front sets one), else a random one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

/// Gives the request an id, logs one line for it (method, path, status, time; never a
/// header's value), sets `x-request-id` on the answer and writes an error's body with the id.
pub async fn request_id(mut request: Request, next: Next) -> Response<Body> {
    let id = ["opc-request-id", "x-request-id"]
        .iter()
        .filter_map(|h| request.headers().get(*h))
        .filter_map(|v| v.to_str().ok())
        .find(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.:/".contains(&b))
        })
        .map(str::to_string)
        .or_else(|| crate::auth::random_hex(8))
        .unwrap_or_else(|| "-".to_string());
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    request.extensions_mut().insert(RequestId(id.clone()));
    let started = std::time::Instant::now();
    let mut response = next.run(request).await;
    if let Some(error) = response.extensions().get::<ApiError>().cloned() {
        response = error.to_response(Some(&id));
    }
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", v);
    }
    tracing::info!(
        request_id = %id,
        %method,
        path = %fleetctl_api::text::terminal_safe(&path),
        status = response.status().as_u16(),
        ms = started.elapsed().as_millis(),
        "request"
    );
    response
}

/// The answer to a handler that panicked: a 500 of the one error shape (the panic's message
/// goes to the log only).
pub fn panic_response(err: Box<dyn Any + Send + 'static>) -> Response<Body> {
    let message = err
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| err.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    tracing::error!(panic = %message, "a handler panicked");
    ApiError::new(
        ErrorCode::Internal,
        "internal error; the server's log has the details",
    )
    .to_response(None)
}
