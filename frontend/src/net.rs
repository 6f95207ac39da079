//! Talking to fleetctl's HTTP API with `fetch`. Paths are relative (`metrics`, not
//! `/metrics`), so the dashboard also works under a gateway's path prefix.

use fleetctl_api::http::{ErrorBody, ErrorDetail};
use serde::de::DeserializeOwned;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

/// Why a request did not give what was asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The server could not be reached (down, network, CORS).
    Network(String),
    /// 401: no token, or not the right one.
    Unauthorized(String),
    /// Another error status, with the API's error when the body had one.
    Status {
        /// The HTTP status.
        status: u16,
        /// The API's error, if the body was one.
        error: Option<ErrorDetail>,
    },
    /// A success whose body is not what the API documents.
    Decode(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Network(e) => write!(f, "the server could not be reached ({e})"),
            Failure::Unauthorized(m) => write!(f, "not authorized: {m}"),
            Failure::Status {
                status,
                error: Some(e),
            } => {
                let code = serde_json::to_value(e.code).unwrap_or_default();
                write!(
                    f,
                    "{} (HTTP {status}, {})",
                    e.message,
                    code.as_str().unwrap_or("error")
                )?;
                if let Some(field) = &e.field {
                    write!(f, ", field {field}")?;
                }
                if let Some(id) = &e.request_id {
                    write!(f, ", request {id}")?;
                }
                Ok(())
            }
            Failure::Status {
                status,
                error: None,
            } => write!(f, "HTTP {status}"),
            Failure::Decode(e) => write!(f, "an answer this dashboard cannot read: {e}"),
        }
    }
}

fn js_text(e: &JsValue) -> String {
    e.dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| e.as_string())
        .unwrap_or_else(|| "unknown error".to_string())
}

async fn send(
    method: &str,
    path: &str,
    body: Option<&str>,
    token: Option<&str>,
) -> Result<(u16, String), Failure> {
    let net = |e: JsValue| Failure::Network(js_text(&e));
    let init = web_sys::RequestInit::new();
    init.set_method(method);
    let headers = web_sys::Headers::new().map_err(net)?;
    headers.set("Accept", "application/json").map_err(net)?;
    if let Some(body) = body {
        headers
            .set("Content-Type", "application/json")
            .map_err(net)?;
        init.set_body(&JsValue::from_str(body));
    }
    if let Some(token) = token {
        headers
            .set("Authorization", &format!("Bearer {token}"))
            .map_err(net)?;
    }
    init.set_headers(&headers);
    let request = web_sys::Request::new_with_str_and_init(path, &init).map_err(net)?;
    let window = web_sys::window().ok_or_else(|| Failure::Network("no window".into()))?;
    let response: web_sys::Response = JsFuture::from(window.fetch_with_request(&request))
        .await
        .map_err(net)?
        .dyn_into()
        .map_err(net)?;
    let text = JsFuture::from(response.text().map_err(net)?)
        .await
        .map_err(net)?
        .as_string()
        .unwrap_or_default();
    Ok((response.status(), text))
}

fn failure(status: u16, body: &str) -> Failure {
    let error = serde_json::from_str::<ErrorBody>(body)
        .ok()
        .map(|b| b.error);
    if status == 401 {
        return Failure::Unauthorized(
            error
                .map(|e| e.message)
                .unwrap_or_else(|| "the server wants a valid token".to_string()),
        );
    }
    Failure::Status { status, error }
}

/// `GET path` read as `T`.
pub async fn get<T: DeserializeOwned>(path: &str) -> Result<T, Failure> {
    let (status, body) = send("GET", path, None, None).await?;
    if !(200..300).contains(&status) {
        return Err(failure(status, &body));
    }
    serde_json::from_str(&body).map_err(|e| Failure::Decode(format!("{path}: {e}")))
}

/// `POST path` with a JSON body and the token; the status and body of a 2xx.
pub async fn post(path: &str, body: &str, token: Option<&str>) -> Result<(u16, String), Failure> {
    let (status, text) = send("POST", path, Some(body), token).await?;
    if (200..300).contains(&status) {
        Ok((status, text))
    } else {
        Err(failure(status, &text))
    }
}
