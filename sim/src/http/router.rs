//! The registry of operations by OCI name: method, path template, how the caller must
//! authenticate, and the handler. Routing, fault matching and the request log all key on it.

use std::collections::BTreeMap;

use http::Method;

use super::{ApiError, SimRequest, SimResponse, percent_decode};
use crate::auth::{Principal, SigningRule};
use crate::state::Ctx;

/// How a caller must prove who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// An OCI request signature under this rule.
    Signed(SigningRule),
    /// Instance metadata v2: `Authorization: Bearer Oracle`, no forwarding headers.
    Imds,
    /// No authentication (the simulator's own `/_sim` admin surface).
    Open,
}

/// What a handler gets. `Debug` is written out so that it never shows more than
/// [`SimRequest`]'s and [`Principal`]'s own redacted forms (no body, no token).
pub struct Call<'a> {
    pub req: &'a SimRequest,
    /// Path parameters, percent-decoded.
    pub params: BTreeMap<&'static str, String>,
    /// Set for [`Access::Signed`] operations.
    pub principal: Option<Principal>,
}

impl std::fmt::Debug for Call<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Call")
            .field("req", self.req)
            .field("params", &self.params)
            .field("principal", &self.principal.as_ref().map(Principal::kind))
            .finish()
    }
}

impl Call<'_> {
    /// A path parameter; the template guarantees it exists, so a miss is a 500.
    pub fn param(&self, name: &str) -> Result<&str, ApiError> {
        self.params.get(name).map(String::as_str).ok_or_else(|| {
            ApiError::new(
                http::StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                format!("route has no parameter {name}"),
            )
        })
    }

    /// The verified principal of a signed operation.
    pub fn principal(&self) -> Result<&Principal, ApiError> {
        self.principal
            .as_ref()
            .ok_or_else(|| ApiError::not_authenticated("this operation requires a signed request"))
    }
}

pub type Handler = fn(&Ctx, &Call<'_>) -> Result<SimResponse, ApiError>;

/// One operation of one service.
#[derive(Debug, Clone)]
pub struct Operation {
    /// OCI's operation name (`GetUser`, `LaunchInstance`), or a `Sim*` name for admin calls.
    pub name: &'static str,
    /// `identity`, `imds`, `auth`, `admin`, ...
    pub service: &'static str,
    pub method: Method,
    /// Segments separated by `/`; `{name}` matches one segment, `{name*}` the rest.
    pub path: &'static str,
    pub access: Access,
    pub handler: Handler,
}

impl Operation {
    pub fn is_admin(&self) -> bool {
        self.service == "admin"
    }

    fn matches_path(&self, path: &str) -> Option<BTreeMap<&'static str, String>> {
        let mut params = BTreeMap::new();
        let tmpl: Vec<&'static str> = self.path.split('/').collect();
        let segs: Vec<&str> = path.split('/').collect();
        for (i, t) in tmpl.iter().enumerate() {
            if let Some(name) = t.strip_prefix('{').and_then(|t| t.strip_suffix("*}")) {
                let rest = segs.get(i..)?.join("/");
                if rest.is_empty() {
                    return None;
                }
                params.insert(name, percent_decode(&rest));
                return Some(params);
            }
            let seg = segs.get(i)?;
            if let Some(name) = t.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
                if seg.is_empty() {
                    return None;
                }
                params.insert(name, percent_decode(seg));
            } else if t != seg {
                return None;
            }
        }
        (segs.len() == tmpl.len()).then_some(params)
    }
}

/// The outcome of routing a request.
#[derive(Debug)]
pub enum Route<'r> {
    Found(&'r Operation, BTreeMap<&'static str, String>),
    /// The path exists with other methods.
    MethodNotAllowed(Vec<Method>),
    NotFound,
}

/// Every operation the simulator serves.
#[derive(Debug, Default, Clone)]
pub struct Registry {
    ops: Vec<Operation>,
}

impl Registry {
    pub fn add(&mut self, ops: impl IntoIterator<Item = Operation>) {
        self.ops.extend(ops);
    }

    pub fn operations(&self) -> &[Operation] {
        &self.ops
    }

    pub fn by_name(&self, name: &str) -> Option<&Operation> {
        self.ops.iter().find(|o| o.name == name)
    }

    pub fn route(&self, method: &Method, path: &str) -> Route<'_> {
        let mut allowed = Vec::new();
        for op in &self.ops {
            if let Some(params) = op.matches_path(path) {
                if op.method == method {
                    return Route::Found(op, params);
                }
                allowed.push(op.method.clone());
            }
        }
        if allowed.is_empty() {
            Route::NotFound
        } else {
            Route::MethodNotAllowed(allowed)
        }
    }
}

/// Shorthand for building an [`Operation`].
pub fn op(
    name: &'static str,
    service: &'static str,
    method: Method,
    path: &'static str,
    access: Access,
    handler: Handler,
) -> Operation {
    Operation {
        name,
        service,
        method,
        path,
        access,
        handler,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(_: &Ctx, _: &Call<'_>) -> Result<SimResponse, ApiError> {
        Ok(SimResponse::no_content())
    }

    fn registry() -> Registry {
        let mut r = Registry::default();
        let signed = Access::Signed(SigningRule::Standard);
        r.add([
            op(
                "GetUser",
                "identity",
                Method::GET,
                "/20160918/users/{userId}",
                signed,
                h,
            ),
            op(
                "UpdateUser",
                "identity",
                Method::PUT,
                "/20160918/users/{userId}",
                signed,
                h,
            ),
            op(
                "PutObject",
                "os",
                Method::PUT,
                "/n/{ns}/b/{bucket}/o/{object*}",
                signed,
                h,
            ),
        ]);
        r
    }

    #[test]
    fn debug_of_a_call_shows_neither_its_body_nor_its_token() {
        let token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c2VyIn0.dG9rZW5zaWduYXR1cmU";
        let req = SimRequest {
            method: Method::POST,
            target: "/v1/authentication/refresh".into(),
            path: "/v1/authentication/refresh".into(),
            query: None,
            headers: http::HeaderMap::new(),
            body: bytes::Bytes::from(format!(r#"{{"currentToken":"{token}"}}"#)),
            request_id: "r".into(),
        };
        let call = Call {
            req: &req,
            params: BTreeMap::new(),
            principal: Some(Principal::Token {
                kind: crate::auth::KeyIdKind::Session,
                tenancy: "ocid1.tenancy.oc1..t".into(),
                subject: "ocid1.user.oc1..u".into(),
                claims: crate::jwt::Claims(serde_json::Map::new()),
                token: crate::crypto::Secret::new(token),
            }),
        };
        let shown = format!("{call:?}");
        assert!(!shown.contains(token), "{shown}");
        assert!(!shown.contains("dG9rZW5zaWduYXR1cmU"), "{shown}");
        assert!(shown.contains("Session"), "{shown}");
    }

    #[test]
    fn routes_by_method_and_template_and_decodes_params() {
        let r = registry();
        match r.route(&Method::GET, "/20160918/users/ocid1.user%3Ax") {
            Route::Found(op, params) => {
                assert_eq!(op.name, "GetUser");
                assert_eq!(params["userId"], "ocid1.user:x");
            }
            other => panic!("unexpected {other:?}"),
        }
        match r.route(&Method::PUT, "/n/ns/b/bk/o/dir/sub%2Ffile") {
            Route::Found(op, params) => {
                assert_eq!(op.name, "PutObject");
                assert_eq!(params["object"], "dir/sub/file");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn wrong_method_and_unknown_path_are_told_apart() {
        let r = registry();
        assert!(matches!(
            r.route(&Method::DELETE, "/20160918/users/x"),
            Route::MethodNotAllowed(_)
        ));
        assert!(matches!(
            r.route(&Method::GET, "/20160918/users"),
            Route::NotFound
        ));
        assert!(matches!(
            r.route(&Method::GET, "/20160918/users/x/y"),
            Route::NotFound
        ));
        assert!(matches!(
            r.route(&Method::GET, "/20160918/users/"),
            Route::NotFound
        ));
    }
}
