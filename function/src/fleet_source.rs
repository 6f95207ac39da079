//! Where the function finds its fleet file: `FLEETCTL_CONFIG`, a path in the image or an
//! Object Storage URL `oci://bucket@namespace/fleet.yaml`, so the fleet can change without a
//! redeploy.
//!
//! [`FleetSource::current`] returns the parsed fleet and a generation number that changes when
//! the fleet file does. It reads again at most every [`SourceOptions::refresh_every`]: a file
//! when its modification time or size changed, an object with `if-none-match: <etag>` (a 304
//! costs no parse). Problems name the source as `oci://bucket@namespace/fleet.yaml:3:5: ...`
//! (or the path), like the CLI's. A fleet file that fails to parse stays failed until it
//! changes; a failed read (network, 5xx) is not remembered, so the next call tries again.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use fleetctl_core::config::{self, ConfigErrors, FleetConfig, Problem};
use fleetctl_core::fleet::{Overrides, connect_settings};
use fleetctl_core::oci::objectstorage::{self, Bucket, GetObjectOptions, ObjectStorageError};
use fleetctl_core::oci::{AuthMethod, AuthSettings, OciClient};
use fleetctl_core::urls::state::StoreUrl;

/// Where the fleet file is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FleetLocation {
    /// A file (a path, or a `file://` URL).
    File(PathBuf),
    /// An Object Storage object.
    Object {
        /// The bucket.
        bucket: Bucket,
        /// The object name.
        object: String,
    },
}

impl FleetLocation {
    /// `oci://bucket@namespace/object`, `file:///path`, or a path.
    ///
    /// # Errors
    /// [`SourceError::Location`] for an `oci://` URL without bucket, namespace or object, or
    /// another URL scheme.
    pub fn parse(text: &str) -> Result<FleetLocation, SourceError> {
        let text = text.trim();
        let bad = |why: &str| SourceError::Location(format!("FLEETCTL_CONFIG={text:?}: {why}"));
        if text.is_empty() {
            return Err(bad("empty"));
        }
        if let Some(path) = text.strip_prefix("file://") {
            return Ok(FleetLocation::File(PathBuf::from(path)));
        }
        if let Some(rest) = text.strip_prefix("oci://") {
            // The state URL's parser defaults the object name; a fleet file must be named.
            if rest
                .split_once('/')
                .is_none_or(|(_, object)| object.is_empty())
            {
                return Err(bad("expected oci://bucket@namespace/object"));
            }
            return match StoreUrl::parse(text) {
                Ok(StoreUrl::Oci {
                    bucket,
                    namespace,
                    object,
                }) if !object.is_empty() => Ok(FleetLocation::Object {
                    bucket: Bucket::new(namespace, bucket),
                    object,
                }),
                Ok(_) => Err(bad("expected oci://bucket@namespace/object")),
                Err(e) => Err(bad(&e.to_string())),
            };
        }
        if text.contains("://") {
            return Err(bad(
                "expected a path, file:///path or oci://bucket@namespace/object",
            ));
        }
        Ok(FleetLocation::File(PathBuf::from(text)))
    }
}

impl std::fmt::Display for FleetLocation {
    /// The name problems are reported under: the path, or `oci://bucket@namespace/object`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FleetLocation::File(path) => write!(f, "{}", path.display()),
            FleetLocation::Object { bucket, object } => {
                write!(f, "oci://{}@{}/{object}", bucket.name, bucket.namespace)
            }
        }
    }
}

/// How a [`FleetSource`] reads.
#[derive(Debug, Clone)]
pub struct SourceOptions {
    /// The auth method of the client that reads an `oci://` fleet file (`FLEETCTL_AUTH`);
    /// `None` detects it as the CLI does (resource principal when the Functions environment
    /// is there).
    pub auth: Option<AuthMethod>,
    /// The environment, endpoint override (`FLEETCTL_OCI_ENDPOINT` is read from the
    /// environment), clock and HTTP of that client.
    pub overrides: Overrides,
    /// Re-read at most this often (`FLEETCTL_CONFIG_REFRESH`, default 10 s); zero re-reads on
    /// every call.
    pub refresh_every: Duration,
}

/// The default of [`SourceOptions::refresh_every`].
pub const REFRESH_EVERY: Duration = Duration::from_secs(10);

/// Why the fleet could not be had.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// `FLEETCTL_CONFIG` is not a path or an `oci://` URL.
    #[error("{0}")]
    Location(String),
    /// The fleet file is missing, unreadable or invalid (problems name it and line:column).
    #[error(transparent)]
    Config(#[from] ConfigErrors),
    /// The client that reads the object could not be built (credentials, endpoint).
    #[error("cannot connect to read the fleet file {location}")]
    Connect {
        /// The fleet file.
        location: String,
        /// The cause.
        #[source]
        source: Box<fleetctl_core::Error>,
    },
    /// Object Storage failed (network, 5xx, throttling).
    #[error("cannot read the fleet file {location}")]
    Read {
        /// The fleet file.
        location: String,
        /// The cause.
        #[source]
        source: Box<ObjectStorageError>,
    },
}

impl SourceError {
    /// True when the user fixes it (exit code 1); false for infrastructure (exit code 2).
    pub fn is_configuration_problem(&self) -> bool {
        match self {
            SourceError::Location(_) | SourceError::Config(_) => true,
            SourceError::Connect { source, .. } => matches!(
                source.class(),
                fleetctl_core::ErrorClass::Configuration | fleetctl_core::ErrorClass::BadInput
            ),
            SourceError::Read { .. } => false,
        }
    }
}

/// The fleet as last read.
#[derive(Debug, Clone)]
pub struct Current {
    /// The fleet file.
    pub config: Arc<FleetConfig>,
    /// Changes (increases) whenever a different fleet file was read.
    pub generation: u64,
}

#[derive(Debug)]
struct Loaded {
    result: Result<Arc<FleetConfig>, ConfigErrors>,
    /// The object's ETag, or the file's modification time and size.
    version: String,
    checked: Instant,
    generation: u64,
}

/// The function's fleet file, read again when it changes (see the [module docs](self)).
#[derive(Debug)]
pub struct FleetSource {
    location: FleetLocation,
    client: Option<OciClient>,
    refresh_every: Duration,
    loaded: tokio::sync::Mutex<Option<Loaded>>,
}

impl FleetSource {
    /// Prepares to read `location`: for an object, builds the OCI client (no call is made).
    ///
    /// # Errors
    /// [`SourceError::Connect`] when the client cannot be built.
    pub async fn open(
        location: FleetLocation,
        options: SourceOptions,
    ) -> Result<FleetSource, SourceError> {
        let client = match &location {
            FleetLocation::File(_) => None,
            FleetLocation::Object { .. } => {
                let settings = AuthSettings {
                    method: options.auth,
                    ..AuthSettings::default()
                };
                let cloud = connect_settings(settings, &options.overrides)
                    .await
                    .map_err(|source| SourceError::Connect {
                        location: location.to_string(),
                        source: Box::new(source),
                    })?;
                Some(cloud.client)
            }
        };
        Ok(FleetSource {
            location,
            client,
            refresh_every: options.refresh_every,
            loaded: tokio::sync::Mutex::new(None),
        })
    }

    /// Where the fleet file is.
    pub fn location(&self) -> &FleetLocation {
        &self.location
    }

    /// The fleet, read again when [`SourceOptions::refresh_every`] has passed and it changed.
    ///
    /// # Errors
    /// [`SourceError::Config`] for a missing or invalid fleet file (until it changes),
    /// [`SourceError::Read`] when Object Storage failed.
    pub async fn current(&self) -> Result<Current, SourceError> {
        let mut loaded = self.loaded.lock().await;
        if let Some(l) = loaded.as_ref()
            && l.checked.elapsed() < self.refresh_every
        {
            return current_of(l);
        }
        let known = loaded.as_ref().map(|l| l.version.clone());
        let next_generation = loaded.as_ref().map_or(1, |l| l.generation + 1);
        match self.read(known.as_deref()).await? {
            None => {
                let l = loaded.as_mut().ok_or_else(|| {
                    SourceError::Location("internal: unchanged before read".into())
                })?;
                l.checked = Instant::now();
                current_of(l)
            }
            Some((version, result)) => {
                if let Err(e) = &result {
                    tracing::warn!(fleet = %self.location, problems = %e, "the fleet file is invalid");
                } else if known.is_some() {
                    tracing::info!(fleet = %self.location, %version, "the fleet file changed; reloaded");
                }
                let l = loaded.insert(Loaded {
                    result,
                    version,
                    checked: Instant::now(),
                    generation: next_generation,
                });
                current_of(l)
            }
        }
    }

    /// `None` when the version is still `known`; else the new version and the parse result.
    async fn read(
        &self,
        known: Option<&str>,
    ) -> Result<Option<(String, Result<Arc<FleetConfig>, ConfigErrors>)>, SourceError> {
        let name = self.location.to_string();
        match (&self.location, &self.client) {
            (FleetLocation::File(path), _) => {
                let version = match std::fs::metadata(path) {
                    Ok(m) => format!(
                        "{:?}/{}",
                        m.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                        m.len()
                    ),
                    Err(_) => "missing".to_string(),
                };
                if known == Some(version.as_str()) {
                    return Ok(None);
                }
                let result = config::load_file(path).map(Arc::new);
                Ok(Some((version, result)))
            }
            (FleetLocation::Object { bucket, object }, Some(client)) => {
                let options = GetObjectOptions {
                    if_none_match: known.map(str::to_string),
                    ..GetObjectOptions::default()
                };
                match objectstorage::get_object(client, bucket, object, &options).await {
                    Ok(out) => {
                        let result = match std::str::from_utf8(&out.body) {
                            Ok(text) => config::load_str(&name, text).map(Arc::new),
                            Err(e) => Err(one_problem(
                                &name,
                                format!("the object is not UTF-8 text: {e}"),
                            )),
                        };
                        Ok(Some((out.head.etag, result)))
                    }
                    Err(e) if e.is_not_modified() => Ok(None),
                    Err(
                        e @ (ObjectStorageError::ObjectNotFound { .. }
                        | ObjectStorageError::BucketNotFound { .. }),
                    ) => Ok(Some((
                        "missing".to_string(),
                        Err(one_problem(&name, format!("cannot read the object: {e}"))),
                    ))),
                    Err(source) => Err(SourceError::Read {
                        location: name,
                        source: Box::new(source),
                    }),
                }
            }
            (FleetLocation::Object { .. }, None) => Err(SourceError::Location(format!(
                "internal: no client to read {name}"
            ))),
        }
    }
}

fn current_of(l: &Loaded) -> Result<Current, SourceError> {
    match &l.result {
        Ok(config) => Ok(Current {
            config: config.clone(),
            generation: l.generation,
        }),
        Err(e) => Err(SourceError::Config(e.clone())),
    }
}

fn one_problem(file: &str, message: String) -> ConfigErrors {
    ConfigErrors {
        problems: vec![Problem {
            file: file.to_string(),
            line: 1,
            column: 1,
            path: String::new(),
            message,
        }],
    }
}

/// Builds the application for a fleet: called again when the fleet file changes.
pub type BuildApp = Arc<
    dyn Fn(Option<Current>) -> futures::future::BoxFuture<'static, Result<axum::Router, String>>
        + Send
        + Sync,
>;

/// The application in front of a [`FleetSource`]: each request takes the current fleet
/// ([`FleetSource::current`]) and is served by the router built for it, which is rebuilt
/// (by `build`) when the fleet file changed. Without a source (no `FLEETCTL_CONFIG`) the
/// router is built once, with no fleet. When the fleet cannot be had, the answer is 503 with
/// `{"message": ...}` naming the fleet file and what is wrong with it (no secret is in it:
/// problems quote the fleet file, which holds none, and OCI errors carry ids only).
///
/// `GET /healthz` is answered by [`crate::health_router`] without reading the fleet file or
/// opening the fleet: it says the process answers, and a health check must stay cheap
/// (the first request of a cold start, a load balancer's probe).
#[derive(Clone)]
pub struct FleetApp {
    source: Option<Arc<FleetSource>>,
    build: BuildApp,
    health: axum::Router,
    /// The router built for a generation of the fleet file. An async mutex: building opens
    /// the fleet (credentials, the store), and concurrent requests wait for one build.
    built: Arc<tokio::sync::Mutex<Option<(u64, axum::Router)>>>,
}

impl std::fmt::Debug for FleetApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FleetApp")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl FleetApp {
    pub fn new(source: Option<Arc<FleetSource>>, build: BuildApp) -> Self {
        Self {
            source,
            build,
            health: crate::health_router(),
            built: Arc::default(),
        }
    }

    /// This application as a router (everything goes to it as a fallback), for
    /// `axum::serve` or the Fn adapter.
    pub fn into_router(self) -> axum::Router {
        axum::Router::new().fallback_service(self)
    }

    async fn router(&self) -> Result<axum::Router, AppError> {
        let current = match &self.source {
            Some(source) => Some(source.current().await.map_err(AppError::Source)?),
            None => None,
        };
        let generation = current.as_ref().map_or(0, |c| c.generation);
        let mut built = self.built.lock().await;
        match built.as_ref() {
            Some((g, router)) if *g == generation => Ok(router.clone()),
            _ => {
                let router = (self.build)(current).await.map_err(AppError::Build)?;
                *built = Some((generation, router.clone()));
                Ok(router)
            }
        }
    }
}

impl tower::Service<axum::extract::Request> for FleetApp {
    type Response = axum::response::Response;
    type Error = std::convert::Infallible;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Self::Response, Self::Error>> + Send>,
    >;

    fn poll_ready(
        &mut self,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: axum::extract::Request) -> Self::Future {
        use tower::ServiceExt as _;
        if crate::is_health_check(&req) {
            return Box::pin(self.health.clone().oneshot(req));
        }
        let app = self.clone();
        Box::pin(async move {
            match app.router().await {
                Ok(router) => router.oneshot(req).await,
                Err(e) => {
                    let message = match &e {
                        AppError::Source(e) => error_chain(e),
                        AppError::Build(message) => message.clone(),
                    };
                    tracing::error!(error = %message, "the fleet cannot be served");
                    let body = serde_json::json!({ "message": message });
                    Ok((http::StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response())
                }
            }
        })
    }
}

use axum::response::IntoResponse as _;

/// The application of a process that serves before it has read its fleet file (the Fn
/// adapter: the platform's first call should not wait for it): `GET /healthz`
/// ([`crate::health_router`]) is answered at once; every other request waits until
/// [`Starter::ready`] hands over the application and is then served by it, or is answered
/// 503 when the start failed (the [`Starter`] was dropped; the process is then exiting).
#[derive(Clone)]
pub struct StartingApp {
    health: axum::Router,
    app: tokio::sync::watch::Receiver<Option<axum::Router>>,
}

impl std::fmt::Debug for StartingApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StartingApp")
            .field("started", &self.app.borrow().is_some())
            .finish_non_exhaustive()
    }
}

/// Hands the started application to its [`StartingApp`]; dropped without it, the start
/// failed.
#[derive(Debug)]
pub struct Starter(tokio::sync::watch::Sender<Option<axum::Router>>);

impl Starter {
    /// From now on every request goes to `app`.
    pub fn ready(self, app: axum::Router) {
        self.0.send_replace(Some(app));
    }
}

impl StartingApp {
    /// An application not started yet, and what starts it.
    pub fn new() -> (StartingApp, Starter) {
        let (tx, rx) = tokio::sync::watch::channel(None);
        let app = StartingApp {
            health: crate::health_router(),
            app: rx,
        };
        (app, Starter(tx))
    }

    /// This application as a router (everything goes to it as a fallback), for the Fn adapter
    /// or `axum::serve`.
    pub fn into_router(self) -> axum::Router {
        axum::Router::new().fallback_service(self)
    }
}

impl tower::Service<axum::extract::Request> for StartingApp {
    type Response = axum::response::Response;
    type Error = std::convert::Infallible;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Self::Response, Self::Error>> + Send>,
    >;

    fn poll_ready(
        &mut self,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: axum::extract::Request) -> Self::Future {
        use tower::ServiceExt as _;
        let started = self.app.borrow().clone();
        if let Some(app) = started {
            return Box::pin(app.oneshot(req));
        }
        if crate::is_health_check(&req) {
            return Box::pin(self.health.clone().oneshot(req));
        }
        let mut rx = self.app.clone();
        Box::pin(async move {
            let started = rx
                .wait_for(Option::is_some)
                .await
                .ok()
                .and_then(|app| app.clone());
            match started {
                Some(app) => app.oneshot(req).await,
                None => {
                    let body = serde_json::json!({
                        "message": "the function could not start; its log says why"
                    });
                    Ok((http::StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response())
                }
            }
        })
    }
}

/// Why [`FleetApp`] has no router to answer with.
enum AppError {
    /// The fleet file cannot be read or is invalid.
    Source(SourceError),
    /// The fleet could not be opened for it (credentials, the store): the build's message.
    Build(String),
}

/// `error: cause: cause`, one line (problems of a fleet file stay one per line).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use axum::body::Body;
    use http::{Request, StatusCode};
    use tower::ServiceExt as _;

    use super::*;

    fn get(path: &str) -> Request<Body> {
        Request::get(path).body(Body::empty()).unwrap()
    }

    async fn body(response: axum::response::Response) -> serde_json::Value {
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    fn app() -> axum::Router {
        axum::Router::new().route(
            "/metrics",
            axum::routing::get(|| async { axum::Json(serde_json::json!({"from": "app"})) }),
        )
    }

    #[tokio::test]
    async fn health_is_answered_before_the_start_and_other_requests_wait_for_it() {
        let (starting, starter) = StartingApp::new();
        let router = starting.into_router();
        let health = router.clone().oneshot(get("/healthz")).await.unwrap();
        assert_eq!(health.status(), StatusCode::OK);
        assert!(health.headers().contains_key("x-request-id"));
        assert_eq!(body(health).await["status"], "ok");
        // HEAD too; another method or path is not a health check.
        let head = Request::head("/healthz").body(Body::empty()).unwrap();
        assert_eq!(
            router.clone().oneshot(head).await.unwrap().status(),
            StatusCode::OK
        );
        let post = Request::post("/healthz").body(Body::empty()).unwrap();
        let waiting = tokio::spawn(router.clone().oneshot(post));
        let metrics = tokio::spawn(router.clone().oneshot(get("/metrics")));
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!metrics.is_finished(), "answered before the start");
        starter.ready(app());
        let metrics = metrics.await.unwrap().unwrap();
        assert_eq!(metrics.status(), StatusCode::OK);
        assert_eq!(body(metrics).await["from"], "app");
        // Waited, then served by the started app, which has no such route.
        let post = waiting.await.unwrap().unwrap();
        assert_eq!(post.status(), StatusCode::NOT_FOUND);
        // After the start, everything goes to the app (here: it has no /healthz).
        let health = router.oneshot(get("/healthz")).await.unwrap();
        assert_eq!(health.status(), StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn a_failed_start_answers_503_and_health_still_answers() {
        let (starting, starter) = StartingApp::new();
        let router = starting.into_router();
        let waiting = tokio::spawn(router.clone().oneshot(get("/metrics")));
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(starter);
        let answer = waiting.await.unwrap().unwrap();
        assert_eq!(answer.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(
            body(answer).await["message"]
                .as_str()
                .unwrap()
                .contains("could not start")
        );
        let later = router.clone().oneshot(get("/metrics")).await.unwrap();
        assert_eq!(later.status(), StatusCode::SERVICE_UNAVAILABLE);
        let health = router.oneshot(get("/healthz")).await.unwrap();
        assert_eq!(health.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn a_fleet_app_answers_health_without_its_fleet() {
        let build: BuildApp = Arc::new(|_| Box::pin(async { Err("never built".to_string()) }));
        let missing = FleetLocation::File(PathBuf::from("/nonexistent/fleet.yaml"));
        let options = SourceOptions {
            auth: None,
            overrides: Overrides::new(fleetctl_core::env::Env::from_process()),
            refresh_every: REFRESH_EVERY,
        };
        let source = FleetSource::open(missing, options).await.unwrap();
        let router = FleetApp::new(Some(Arc::new(source)), build).into_router();
        let health = router.clone().oneshot(get("/healthz")).await.unwrap();
        assert_eq!(health.status(), StatusCode::OK);
        let metrics = router.oneshot(get("/metrics")).await.unwrap();
        assert_eq!(metrics.status(), StatusCode::SERVICE_UNAVAILABLE);
    }
}
