//! The connection-level server. It serves each TCP connection with hyper directly (not
//! `axum::serve`) so a fault can close a connection without any response: a handler that
//! returns [`Dropped`] makes hyper drop the connection, and the client sees a connection error.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use axum::body::Body;
use bytes::Bytes;
use futures::StreamExt as _;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::router::{Access, Operation, Route};
use super::{ApiError, SimRequest, SimResponse};
use crate::auth::{self, KeyId, KeyIdKind, SignedRequest, VerifyTime};
use crate::clock::rfc3339;
use crate::faults::{DropWhen, FaultAction};
use crate::reqlog::LogEntry;
use crate::state::Ctx;

/// The largest request body accepted (Object Storage puts arrive later; keep room).
pub const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;
/// How long shutdown waits for in-flight requests.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Returned to hyper to make it close the connection without a response.
#[derive(Debug)]
pub struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by an injected fault")
    }
}

impl std::error::Error for Dropped {}

/// Accepts connections until `shutdown` flips (or its sender is dropped).
pub async fn serve(listener: TcpListener, ctx: Arc<Ctx>, mut shutdown: watch::Receiver<bool>) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    conns.spawn(serve_connection(stream, ctx.clone(), shutdown.clone()));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            _ = shutdown.changed() => break,
        }
        while conns.try_join_next().is_some() {}
    }
    drop(listener);
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while conns.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        conns.abort_all();
    }
}

async fn serve_connection(stream: TcpStream, ctx: Arc<Ctx>, mut shutdown: watch::Receiver<bool>) {
    let svc = service_fn(move |req| handle(ctx.clone(), req));
    let conn = http1::Builder::new().serve_connection(TokioIo::new(stream), svc);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = shutdown.changed() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

fn request_id(headers: &HeaderMap) -> String {
    headers
        .get("opc-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty() && v.len() <= 98)
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string().to_uppercase())
}

/// The kind of key a request claims to be signed with (unverified; for the log only).
fn key_id_kind(headers: &HeaderMap) -> Option<KeyIdKind> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let params = auth::signature::parse_authorization(value).ok()?;
    Some(KeyId::parse(&params.key_id).kind())
}

async fn handle(ctx: Arc<Ctx>, req: Request<Incoming>) -> Result<Response<Body>, Dropped> {
    let started = Instant::now();
    let arrived = SystemTime::now();
    let (mut parts, incoming) = req.into_parts();
    // Authorization carries tokens: keep them out of any Debug output.
    if let Some(v) = parts.headers.get_mut(http::header::AUTHORIZATION) {
        v.set_sensitive(true);
    }
    let request_id = request_id(&parts.headers);
    let target = parts
        .uri
        .path_and_query()
        .map(|pq| pq.as_str().to_string())
        .unwrap_or_else(|| "/".to_string());
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_string(), Some(q.to_string())),
        None => (target.clone(), None),
    };
    let body = match axum::body::to_bytes(Body::new(incoming), MAX_BODY_BYTES).await {
        Ok(b) => b,
        Err(_) => {
            let resp = ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestEntityTooLarge",
                format!("the request body could not be read or exceeds {MAX_BODY_BYTES} bytes"),
            )
            .into_response();
            return Ok(finish(resp, &request_id));
        }
    };
    let sreq = SimRequest {
        method: parts.method.clone(),
        target,
        path,
        query,
        headers: parts.headers,
        body,
        request_id: request_id.clone(),
    };

    let route = ctx.registry.route(&sreq.method, &sreq.path);
    let (operation, is_admin) = match &route {
        Route::Found(op, _) => (Some(op.name), op.is_admin()),
        _ => (None, sreq.path.starts_with("/_sim/")),
    };
    let mut entry = LogEntry {
        seq: 0,
        time: rfc3339(arrived),
        method: sreq.method.to_string(),
        path: sreq.path.clone(),
        query: sreq.query.clone(),
        status: None,
        operation: operation.map(str::to_string),
        opc_request_id: request_id.clone(),
        key_id_kind: key_id_kind(&sreq.headers),
        fault_id: None,
        dropped: None,
        duration_ms: 0,
    };
    let log = |mut entry: LogEntry| {
        if !is_admin {
            entry.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
            ctx.log().push(entry);
        }
    };

    let fault = if is_admin {
        None
    } else {
        ctx.faults().take(operation, &sreq.method, &sreq.path)
    };
    if let Some(f) = &fault {
        entry.fault_id = Some(f.fault_id.clone());
        if let Some(ms) = f.latency_ms {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        if f.drop == Some(DropWhen::Before) {
            entry.dropped = Some("before".into());
            tracing::info!(method = %sreq.method, path = %sreq.path, "fault: dropping connection before the operation");
            log(entry);
            return Err(Dropped);
        }
    }

    let resp = match fault.as_ref().and_then(|f| f.error.clone()) {
        Some((status, code, message)) => ApiError::new(status, code, message).into_response(),
        None => match route {
            Route::Found(op, params) => dispatch(&ctx, op, params, &sreq),
            Route::MethodNotAllowed(allowed) => {
                let allow: Vec<&str> = allowed.iter().map(http::Method::as_str).collect();
                ApiError::new(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "MethodNotAllowed",
                    format!(
                        "{} is not allowed on {}; allowed: {}",
                        sreq.method,
                        sreq.path,
                        allow.join(", ")
                    ),
                )
                .into_response()
                .with_header("allow", &allow.join(", "))
            }
            Route::NotFound => ApiError::new(
                StatusCode::NOT_FOUND,
                "NotFound",
                format!("No API matches {} {}", sreq.method, sreq.path),
            )
            .into_response(),
        },
    };
    entry.status = Some(resp.status.as_u16());
    // What the request changed (an instance action, a forced health) is sampled at once.
    if ctx.world().health_history.enabled {
        drop(ctx.settled());
    }
    if fault.as_ref().and_then(|f| f.drop) == Some(DropWhen::After) {
        entry.dropped = Some("after".into());
        tracing::info!(method = %sreq.method, path = %sreq.path, "fault: dropping connection after the operation");
        log(entry);
        return Err(Dropped);
    }
    tracing::debug!(method = %sreq.method, path = %sreq.path, status = resp.status.as_u16(), operation = ?operation, "request");
    let body_fault = fault
        .filter(|f| f.drop == Some(DropWhen::MidBody) || f.pad_body_bytes.is_some() || f.chunked);
    match body_fault {
        Some(f) => {
            if f.drop == Some(DropWhen::MidBody) {
                entry.dropped = Some("midBody".into());
                tracing::info!(method = %sreq.method, path = %sreq.path, "fault: dropping connection in the middle of the body");
            }
            log(entry);
            Ok(finish_with_body_fault(resp, &request_id, &f))
        }
        None => {
            log(entry);
            Ok(finish(resp, &request_id))
        }
    }
}

/// How long a `drop: "midBody"` answer pauses after its first half before breaking off.
const MID_BODY_PAUSE: Duration = Duration::from_millis(20);

/// What `padBodyBytes` appends: JSON whitespace, streamed in slices of this.
static PADDING: [u8; 64 * 1024] = [b' '; 64 * 1024];

/// The response of a fault that changes the body: `padBodyBytes` spaces after it, no
/// `content-length` when `chunked`, and for `drop: "midBody"` only the first half of it
/// followed by a broken connection.
fn finish_with_body_fault(
    resp: SimResponse,
    request_id: &str,
    fault: &FaultAction,
) -> Response<Body> {
    let pad = fault.pad_body_bytes.unwrap_or(0);
    let total = resp.body.len() as u64 + pad;
    let mid_body = fault.drop == Some(DropWhen::MidBody);
    let sent = if mid_body { total / 2 } else { total };
    let first = resp.body.slice(
        ..resp
            .body
            .len()
            .min(usize::try_from(sent).unwrap_or(usize::MAX)),
    );
    let padding_sent = sent - first.len() as u64;
    let padding = futures::stream::unfold(padding_sent, |left| async move {
        (left > 0).then(|| {
            let n = left.min(PADDING.len() as u64);
            let chunk = Bytes::from_static(&PADDING[..usize::try_from(n).unwrap_or(PADDING.len())]);
            (Ok::<_, Dropped>(chunk), left - n)
        })
    });
    let head = futures::stream::iter([Ok::<_, Dropped>(first)]);
    // The break comes a moment after the first half, so hyper has flushed the status, the
    // headers and that half: the client sees an answer whose body breaks off, not a
    // connection closed before any answer.
    let tail = futures::stream::iter(mid_body.then_some(())).then(|()| async {
        tokio::time::sleep(MID_BODY_PAUSE).await;
        Err::<Bytes, _>(Dropped)
    });
    let stream = head.chain(padding).chain(tail);
    let mut out = Response::new(Body::from_stream(stream));
    *out.status_mut() = resp.status;
    *out.headers_mut() = resp.headers;
    out.headers_mut().remove(http::header::CONTENT_LENGTH);
    if !fault.chunked {
        out.headers_mut()
            .insert(http::header::CONTENT_LENGTH, HeaderValue::from(total));
    }
    if let Ok(v) = HeaderValue::from_str(request_id) {
        out.headers_mut().insert("opc-request-id", v);
    }
    out
}

fn dispatch(
    ctx: &Ctx,
    op: &Operation,
    params: std::collections::BTreeMap<&'static str, String>,
    req: &SimRequest,
) -> SimResponse {
    let principal = match op.access {
        Access::Signed(rule) => {
            let signed = SignedRequest {
                method: &req.method,
                target: &req.target,
                headers: &req.headers,
                body: &req.body,
            };
            let time = VerifyTime {
                real_now: SystemTime::now(),
                token_now: ctx.clock.now_unix(),
            };
            let verified = {
                let world = ctx.world();
                auth::verify(&signed, rule, time, &world.auth.keys)
            };
            match verified {
                Ok(p) => Some(p),
                Err(e) => {
                    tracing::info!(operation = op.name, reason = %e, "request not authenticated");
                    return ApiError::not_authenticated(e.to_string()).into_response();
                }
            }
        }
        Access::Imds => {
            if let Err(e) = check_imds(&req.headers) {
                return e.into_response();
            }
            None
        }
        Access::Open => None,
    };
    let call = super::router::Call {
        req,
        params,
        principal,
    };
    // A bug in a handler answers 500 instead of dropping the connection, so it can never be
    // mistaken for an injected `drop` fault.
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (op.handler)(ctx, &call))) {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => e.into_response(),
        Err(_) => {
            tracing::error!(operation = op.name, "handler panicked");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                format!("the simulator failed while handling {}", op.name),
            )
            .into_response()
        }
    }
}

/// IMDS v2 rules: `Authorization: Bearer Oracle`, and no proxy-forwarding headers.
fn check_imds(headers: &HeaderMap) -> Result<(), ApiError> {
    let forwarded = headers
        .keys()
        .find(|k| k.as_str() == "forwarded" || k.as_str().starts_with("x-forwarded-"));
    if let Some(name) = forwarded {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "Forbidden",
            format!("IMDS v2 rejects requests carrying a {name} header"),
        ));
    }
    let ok = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim() == "Bearer Oracle");
    if ok {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "NotAuthenticated",
            "IMDS v2 requires the header `Authorization: Bearer Oracle`",
        ))
    }
}

fn finish(resp: SimResponse, request_id: &str) -> Response<Body> {
    let mut out = Response::new(Body::from(resp.body));
    *out.status_mut() = resp.status;
    *out.headers_mut() = resp.headers;
    if let Ok(v) = HeaderValue::from_str(request_id) {
        out.headers_mut().insert("opc-request-id", v);
    }
    out
}
