//! A stateful stand-in for a self-hosted Convex backend (the admin API in README "Talking to the backend"), for tests and benchmarks:
//! the admin API on one port and the site proxy on another, admin keys checked with the real
//! algorithm, an environment-variable store, and injectable faults. The real `convex` CLI's
//! `env set` works against it (a test proves it).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use coder_convex::config::secrets::{AdminKeyClaims, InstanceSecret, validate_admin_key};
use serde_json::{Value, json};

#[path = "fake_push.rs"]
mod fake_push;
#[allow(unused_imports)]
pub use fake_push::{Deployed, PushConfig, PushRecorded};
#[path = "fake_snapshot.rs"]
mod fake_snapshot;
#[allow(unused_imports)]
pub use fake_snapshot::{Data, SnapshotConfig, SnapshotRecorded};

/// How the fake behaves.
#[derive(Debug, Clone)]
pub struct FakeConfig {
    pub instance_name: String,
    pub secret: InstanceSecret,
    /// What `/api/v1/get_canonical_urls` reports (the backend's CONVEX_*_ORIGIN).
    pub cloud_origin: String,
    pub site_origin: String,
    /// The API port only starts listening after this long.
    pub start_delay: Duration,
    /// The first N `/version` calls answer 500.
    pub fail_version: usize,
    /// The first N connections are reset without a response.
    pub reset_connections: usize,
    /// Reject current-format keys (a backend image from before 2025-05-30).
    pub legacy_keys_only: bool,
    /// `/api/v1/list_environment_variables` answers 404 (backends before 2025-08).
    pub no_list_endpoint: bool,
    /// The first N env updates answer 500.
    pub fail_updates: usize,
    /// The site proxy's auth discovery reports this issuer instead of the site origin.
    pub issuer_override: Option<String>,
    /// Serve Better Auth's `/api/auth/ok` on the site proxy, as a deployed
    /// `@convex-dev/better-auth` app does (500 until `BETTER_AUTH_SECRET` is set).
    pub better_auth_routes: bool,
    /// `/api/v1/update_canonical_url` answers 404 (backends before 2025-08).
    pub no_canonical_update: bool,
    /// Initial deployment variables.
    pub env: BTreeMap<String, String>,
    /// The push protocol's faults (`fake_push.rs`).
    pub push: PushConfig,
    /// What `/version` answers (a release tag, or `unknown` as a source build reports).
    pub version: String,
    /// The snapshot export/import behaviours (`fake_snapshot.rs`).
    pub snapshot: SnapshotConfig,
}

impl FakeConfig {
    pub fn new(instance_name: &str, secret: InstanceSecret) -> Self {
        Self {
            instance_name: instance_name.to_owned(),
            secret,
            cloud_origin: "http://127.0.0.1:3210".to_owned(),
            site_origin: "http://127.0.0.1:3211".to_owned(),
            start_delay: Duration::ZERO,
            fail_version: 0,
            reset_connections: 0,
            legacy_keys_only: false,
            no_list_endpoint: false,
            fail_updates: 0,
            issuer_override: None,
            better_auth_routes: false,
            no_canonical_update: false,
            env: BTreeMap::new(),
            push: PushConfig::default(),
            version: "unknown".to_owned(),
            snapshot: SnapshotConfig::default(),
        }
    }
}

/// What the fake saw and holds.
#[derive(Debug, Default)]
pub struct Recorded {
    pub env: BTreeMap<String, String>,
    /// Each accepted update, as sent.
    pub updates: Vec<Vec<(String, Option<String>)>>,
    /// `METHOD /path` of every request, in order.
    pub requests: Vec<String>,
    /// Every `Authorization` header value seen (to check what keys were used).
    pub auth_headers: Vec<String>,
    /// The canonical cloud and site URLs (start as the configured origins; changed by
    /// `update_canonical_url`).
    pub canonical: (String, String),
    /// Each accepted `update_canonical_url` body, as sent.
    pub canonical_updates: Vec<Value>,
    /// What `/version` answers (starts as [`FakeConfig::version`]).
    pub version: String,
}

struct Shared {
    config: FakeConfig,
    recorded: Mutex<Recorded>,
    version_calls: AtomicUsize,
    update_calls: AtomicUsize,
}

type AppState = Arc<Shared>;

/// A running fake; dropping it stops the servers.
pub struct FakeBackend {
    pub api_url: String,
    pub site_url: String,
    shared: AppState,
    push: fake_push::PushState,
    snapshot: fake_snapshot::SnapshotState,
    runtime: Option<tokio::runtime::Runtime>,
}

impl FakeBackend {
    /// Start on free loopback ports, on a runtime of its own.
    pub fn start(config: FakeConfig) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime");
        let mut fake = runtime.block_on(Self::spawn(config));
        fake.runtime = Some(runtime);
        fake
    }

    /// Start on the current runtime (ports 0 = any free port).
    pub async fn spawn(config: FakeConfig) -> Self {
        Self::spawn_on(config, 0, 0).await
    }

    pub async fn spawn_on(config: FakeConfig, api_port: u16, site_port: u16) -> Self {
        let api_addr = free_addr(api_port);
        let site_listener = tokio::net::TcpListener::bind(("127.0.0.1", site_port))
            .await
            .expect("bind site port");
        let site_addr = site_listener.local_addr().expect("site addr");
        let push = fake_push::state(
            &config.instance_name,
            &config.secret,
            config.legacy_keys_only,
            config.push.clone(),
        );
        let snapshot = fake_snapshot::state(
            &config.instance_name,
            &config.secret,
            config.snapshot.clone(),
        );
        let shared = Arc::new(Shared {
            recorded: Mutex::new(Recorded {
                env: config.env.clone(),
                canonical: (config.cloud_origin.clone(), config.site_origin.clone()),
                version: config.version.clone(),
                ..Recorded::default()
            }),
            config,
            version_calls: AtomicUsize::new(0),
            update_calls: AtomicUsize::new(0),
        });
        let api = Router::new()
            .route("/version", get(version))
            .route("/instance_name", get(instance_name))
            .route("/api/check_admin_key", get(check_admin_key))
            .route("/api/v1/update_environment_variables", post(update_env))
            .route("/api/update_environment_variables", post(update_env))
            .route("/api/v1/list_environment_variables", get(list_env))
            .route("/api/v1/get_canonical_urls", get(canonical_urls))
            .route("/api/v1/update_canonical_url", post(update_canonical_url))
            .fallback(not_found)
            .with_state(shared.clone())
            .merge(fake_push::router(push.clone()))
            .merge(fake_snapshot::router(snapshot.clone()));
        let site = Router::new()
            .route(
                "/.well-known/openid-configuration",
                get(openid_configuration),
            )
            .route("/.well-known/jwks.json", get(jwks))
            .route("/api/auth/ok", get(better_auth_ok))
            .fallback(not_found)
            .with_state(shared.clone());
        let (delay, resets) = (shared.config.start_delay, shared.config.reset_connections);
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let listener = tokio::net::TcpListener::bind(api_addr)
                .await
                .expect("bind api port");
            let listener = ResettingListener {
                inner: listener,
                resets_left: resets,
            };
            let _ = axum::serve(listener, api).await;
        });
        tokio::spawn(async move {
            let _ = axum::serve(site_listener, site).await;
        });
        Self {
            api_url: format!("http://{api_addr}"),
            site_url: format!("http://{site_addr}"),
            shared,
            push,
            snapshot,
            runtime: None,
        }
    }

    /// What the snapshot routes recorded and the data they hold, under the lock.
    pub fn snapshots<T>(&self, f: impl FnOnce(&mut SnapshotRecorded) -> T) -> T {
        f(&mut self.snapshot.recorded.lock().expect("snapshot state"))
    }

    /// The deployment's tables and files.
    pub fn data(&self) -> Data {
        self.snapshots(|r| r.data.clone())
    }

    /// Replace the deployment's tables and files (`Data::default()` wipes them).
    pub fn set_data(&self, data: Data) {
        self.snapshots(|r| r.data = data);
    }

    /// A snapshot of what the push routes recorded, under the lock.
    pub fn pushes<T>(&self, f: impl FnOnce(&PushRecorded) -> T) -> T {
        f(&self.push.recorded.lock().expect("push state"))
    }

    /// Push-protocol requests seen so far (`/api/get_config_hashes`, `/api/deploy2/...`).
    pub fn push_requests(&self) -> Vec<String> {
        self.pushes(|p| p.requests.clone())
    }

    /// Answer `/version` with this from now on (the same instance on another image).
    pub fn set_version(&self, version: &str) {
        self.shared.recorded.lock().expect("fake state").version = version.to_owned();
    }

    /// Forget the deployed code, like a backend whose data was wiped.
    pub fn wipe_deployed_code(&self) {
        self.push.recorded.lock().expect("push state").deployed = None;
    }

    /// A snapshot of what was recorded, under the lock.
    pub fn recorded<T>(&self, f: impl FnOnce(&Recorded) -> T) -> T {
        f(&self.shared.recorded.lock().expect("fake state"))
    }

    pub fn env(&self) -> BTreeMap<String, String> {
        self.recorded(|r| r.env.clone())
    }

    /// Change a deployment variable behind coder-convex's back (a fault for doctor).
    pub fn set_env(&self, name: &str, value: &str) {
        self.shared
            .recorded
            .lock()
            .expect("fake state")
            .env
            .insert(name.to_owned(), value.to_owned());
    }

    pub fn update_count(&self) -> usize {
        self.recorded(|r| r.updates.len())
    }
}

impl Drop for FakeBackend {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// A free loopback address (bound and released; the fake binds it again later).
fn free_addr(port: u16) -> SocketAddr {
    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).expect("find a free port");
    listener.local_addr().expect("local addr")
}

/// Resets the first N connections (SO_LINGER 0 then close), like a backend mid-restart.
struct ResettingListener {
    inner: tokio::net::TcpListener,
    resets_left: usize,
}

impl axum::serve::Listener for ResettingListener {
    type Io = tokio::net::TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((stream, addr)) = self.inner.accept().await else {
                continue;
            };
            if self.resets_left > 0 {
                self.resets_left -= 1;
                let _ = stream.set_zero_linger();
                drop(stream);
                continue;
            }
            return (stream, addr);
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

fn record(state: &Shared, line: String, headers: &HeaderMap) {
    let mut r = state.recorded.lock().expect("fake state");
    r.requests.push(line);
    if let Some(auth) = headers.get("authorization").and_then(|v| v.to_str().ok()) {
        r.auth_headers.push(auth.to_owned());
    }
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, Json(json!({ "code": code, "message": message }))).into_response()
}

/// Like [`authorize`], for calls that change the deployment: a read-only key (protobuf
/// field 5) is refused with 403 `ReadOnlyAdminKey`, as the backend's
/// `must_be_admin_with_write_access` does.
fn authorize_write(state: &Shared, headers: &HeaderMap) -> Option<Response> {
    if let Some(rejection) = authorize(state, headers) {
        return Some(rejection);
    }
    key_claims(state, headers)
        .filter(|claims| claims.read_only)
        .map(|_| {
            error(
                StatusCode::FORBIDDEN,
                "ReadOnlyAdminKey",
                "You do not have permission to perform this operation.",
            )
        })
}

fn key_claims(state: &Shared, headers: &HeaderMap) -> Option<AdminKeyClaims> {
    let value = headers.get("authorization")?.to_str().ok()?;
    let key = value.strip_prefix("Convex ")?;
    validate_admin_key(key, &state.config.secret, &state.config.instance_name).ok()
}

/// `Authorization: Convex <key>` checked like the backend does; `Some` is the rejection.
fn authorize(state: &Shared, headers: &HeaderMap) -> Option<Response> {
    let Some(value) = headers.get("authorization").and_then(|v| v.to_str().ok()) else {
        return Some(error(
            StatusCode::FORBIDDEN,
            "MissingAdminKey",
            "An admin key is required",
        ));
    };
    let key = value.strip_prefix("Convex ").unwrap_or_default();
    match validate_admin_key(key, &state.config.secret, &state.config.instance_name) {
        Ok(claims) if claims.legacy || !state.config.legacy_keys_only => None,
        _ => Some(error(
            StatusCode::UNAUTHORIZED,
            "BadAdminKey",
            "The provided admin key was invalid for this instance",
        )),
    }
}

async fn version(State(state): State<AppState>, headers: HeaderMap) -> Response {
    record(&state, "GET /version".into(), &headers);
    if state.version_calls.fetch_add(1, Ordering::SeqCst) < state.config.fail_version {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerError",
            "starting up",
        );
    }
    let version = state.recorded.lock().expect("fake state").version.clone();
    version.into_response()
}

async fn instance_name(State(state): State<AppState>, headers: HeaderMap) -> Response {
    record(&state, "GET /instance_name".into(), &headers);
    state.config.instance_name.clone().into_response()
}

async fn check_admin_key(State(state): State<AppState>, headers: HeaderMap) -> Response {
    record(&state, "GET /api/check_admin_key".into(), &headers);
    if let Some(rejection) = authorize(&state, &headers) {
        return rejection;
    }
    let read_only = key_claims(&state, &headers).is_some_and(|c| c.read_only);
    Json(json!({ "success": true, "isReadOnly": read_only })).into_response()
}

async fn canonical_urls(State(state): State<AppState>, headers: HeaderMap) -> Response {
    record(&state, "GET /api/v1/get_canonical_urls".into(), &headers);
    if let Some(response) = authorize(&state, &headers) {
        return response;
    }
    let (cloud, site) = state.recorded.lock().expect("fake state").canonical.clone();
    Json(json!({ "convexCloudUrl": cloud, "convexSiteUrl": site })).into_response()
}

/// `{"requestDestination": "convexCloud" | "convexSite", "url": "…" | null}`, one
/// destination per call (upstream `UpdateCanonicalUrlRequest`); `null` resets to the origin
/// the backend was started with. Needs write access.
async fn update_canonical_url(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: String,
) -> Response {
    record(&state, "POST /api/v1/update_canonical_url".into(), &headers);
    if state.config.no_canonical_update {
        return not_found().await;
    }
    if let Some(response) = authorize_write(&state, &headers) {
        return response;
    }
    let Ok(body) = serde_json::from_str::<Value>(&body) else {
        return error(StatusCode::BAD_REQUEST, "BadJson", "body is not JSON");
    };
    let url = match body.get("url") {
        Some(Value::String(url)) => Some(url.clone()),
        None | Some(Value::Null) => None,
        Some(_) => return error(StatusCode::BAD_REQUEST, "BadJson", "url must be a string"),
    };
    let mut r = state.recorded.lock().expect("fake state");
    match body.get("requestDestination").and_then(Value::as_str) {
        Some("convexCloud") => {
            r.canonical.0 = url.unwrap_or_else(|| state.config.cloud_origin.clone());
        }
        Some("convexSite") => {
            r.canonical.1 = url.unwrap_or_else(|| state.config.site_origin.clone());
        }
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                "BadJson",
                "requestDestination must be convexCloud or convexSite",
            );
        }
    }
    r.canonical_updates.push(body);
    StatusCode::OK.into_response()
}

async fn list_env(State(state): State<AppState>, headers: HeaderMap) -> Response {
    record(
        &state,
        "GET /api/v1/list_environment_variables".into(),
        &headers,
    );
    if state.config.no_list_endpoint {
        return not_found().await;
    }
    if let Some(response) = authorize(&state, &headers) {
        return response;
    }
    let env = state.recorded.lock().expect("fake state").env.clone();
    Json(json!({ "environmentVariables": env })).into_response()
}

const RESERVED: [&str; 2] = ["CONVEX_SITE_URL", "CONVEX_CLOUD_URL"];

async fn update_env(State(state): State<AppState>, headers: HeaderMap, body: String) -> Response {
    record(
        &state,
        "POST /api/v1/update_environment_variables".into(),
        &headers,
    );
    if let Some(response) = authorize_write(&state, &headers) {
        return response;
    }
    if state.update_calls.fetch_add(1, Ordering::SeqCst) < state.config.fail_updates {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerError",
            "try again",
        );
    }
    let Ok(Value::Object(body)) = serde_json::from_str::<Value>(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "BadJson",
            "body is not a JSON object",
        );
    };
    let Some(Value::Array(changes)) = body.get("changes") else {
        return error(StatusCode::BAD_REQUEST, "BadJson", "missing `changes`");
    };
    let mut parsed = Vec::new();
    for change in changes {
        let Some(name) = change.get("name").and_then(Value::as_str) else {
            return error(StatusCode::BAD_REQUEST, "BadJson", "change without a name");
        };
        let valid_name = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && name.len() <= 256;
        if !valid_name {
            return error(StatusCode::BAD_REQUEST, "EnvVarNameInvalid", name);
        }
        if RESERVED.contains(&name) {
            return error(StatusCode::BAD_REQUEST, "EnvVarNameReserved", name);
        }
        let value = match change.get("value") {
            Some(Value::String(v)) if v.len() <= 8192 => Some(v.clone()),
            Some(Value::String(_)) => {
                return error(StatusCode::BAD_REQUEST, "EnvVarValueTooLarge", name);
            }
            None | Some(Value::Null) => None,
            Some(_) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "BadJson",
                    "value must be a string or null",
                );
            }
        };
        parsed.push((name.to_owned(), value));
    }
    // All or nothing: validated above, applied here under one lock.
    let mut r = state.recorded.lock().expect("fake state");
    for (name, value) in &parsed {
        match value {
            Some(v) => r.env.insert(name.clone(), v.clone()),
            None => r.env.remove(name),
        };
    }
    r.updates.push(parsed);
    StatusCode::OK.into_response()
}

/// What a deployed `@convex-dev/auth` app serves through the site proxy.
async fn openid_configuration(State(state): State<AppState>, headers: HeaderMap) -> Response {
    record(
        &state,
        "GET /.well-known/openid-configuration".into(),
        &headers,
    );
    // Convex Auth's routes answer with CONVEX_SITE_URL: the canonical site URL, which
    // `update_canonical_url` changes (a claimed or renamed workspace).
    let site = state
        .recorded
        .lock()
        .expect("fake state")
        .canonical
        .1
        .clone();
    let issuer = state
        .config
        .issuer_override
        .clone()
        .unwrap_or_else(|| site.clone());
    Json(json!({
        "issuer": issuer,
        "jwks_uri": format!("{site}/.well-known/jwks.json"),
        "authorization_endpoint": format!("{site}/oauth/authorize"),
    }))
    .into_response()
}

async fn jwks(State(state): State<AppState>, headers: HeaderMap) -> Response {
    record(&state, "GET /.well-known/jwks.json".into(), &headers);
    let jwks = state
        .recorded
        .lock()
        .expect("fake state")
        .env
        .get("JWKS")
        .cloned();
    match jwks {
        Some(jwks) => ([("content-type", "application/json")], jwks).into_response(),
        None => error(StatusCode::NOT_FOUND, "NotFound", "JWKS is not set"),
    }
}

/// Better Auth's health route; `createAuth` needs its secret, so it fails without one.
async fn better_auth_ok(State(state): State<AppState>, headers: HeaderMap) -> Response {
    record(&state, "GET /api/auth/ok".into(), &headers);
    if !state.config.better_auth_routes {
        return not_found().await;
    }
    let has_secret = state
        .recorded
        .lock()
        .expect("fake state")
        .env
        .contains_key("BETTER_AUTH_SECRET");
    if has_secret {
        Json(json!({"ok": true})).into_response()
    } else {
        error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Error",
            "BETTER_AUTH_SECRET is not set",
        )
    }
}

async fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "NotFound", "no such route")
}
