//! The HTTP client (network I/O): the backend's admin API, the site proxy's auth discovery,
//! the public-URL probe and the Coder agent's debug manifest. One client per kind of peer:
//! loopback calls skip loading TLS roots, public probes verify against the system roots.
//! Every call is bounded by the command's [`Deadline`] and reads at most a size limit;
//! text from the backend is [`sanitize`]d before anyone sees it.

use std::collections::BTreeMap;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable as _};
use reqwest::{Client, StatusCode};
use serde::{Deserialize, Serialize};

use crate::backend::text::sanitize;
use crate::deadline::Deadline;
use crate::error::{Error, Result};

use super::call::{CallError, JSON_LIMIT, TEXT_LIMIT, bounded, read_body, status_error, transport};

pub(crate) const USER_AGENT: &str = concat!("coder-convex/", env!("CARGO_PKG_VERSION"));
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// Auth discovery on the site proxy.
const DISCOVERY_TIMEOUT: Duration = Duration::from_secs(5);
/// The version check's route probe: one try, short, whatever the command's deadline.
const ROUTE_PROBE_TIMEOUT: Duration = Duration::from_secs(3);
/// Public URLs go through DNS, TLS and Coder's proxy.
const PUBLIC_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const PUBLIC_TIMEOUT: Duration = Duration::from_secs(6);

pub(crate) fn loopback_client(timeout: Duration) -> reqwest::Result<Client> {
    Client::builder()
        .user_agent(USER_AGENT)
        .connect_timeout(CONNECT_TIMEOUT.min(timeout))
        .timeout(timeout)
        .tls_built_in_root_certs(false)
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
}

/// Retries for transient failures (connection errors, resets, timeouts, 5xx), never past
/// the deadline: a retry whose back-off would end after it is not made.
fn retry_policy() -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(50))
        .with_max_delay(Duration::from_millis(800))
        .with_max_times(4)
}

/// The backend's deployment URLs as it reports them.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CanonicalUrls {
    pub convex_cloud_url: String,
    pub convex_site_url: String,
}

/// One change of `update_environment_variables`: `None` deletes.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub(crate) struct EnvChange {
    pub name: String,
    pub value: Option<String>,
}

/// Values may be secrets (`JWT_PRIVATE_KEY`): `Debug` shows the name only.
impl std::fmt::Debug for EnvChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = if self.value.is_some() {
            "set"
        } else {
            "delete"
        };
        write!(f, "EnvChange({} {what})", self.name)
    }
}

/// The admin API of one backend, with one admin key.
#[derive(Clone)]
pub(crate) struct Backend {
    client: Client,
    url: String,
    admin_key: String,
    deadline: Deadline,
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backend")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl Backend {
    /// The backend at `url`; every call it makes ends by `deadline`.
    pub(crate) fn new(url: &str, admin_key: &str, deadline: Deadline) -> Result<Self> {
        Ok(Self {
            client: loopback_client(REQUEST_TIMEOUT)
                .map_err(|e| Error::runtime_from("cannot build the HTTP client", e))?,
            url: url.to_owned(),
            admin_key: admin_key.to_owned(),
            deadline,
        })
    }

    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    pub(crate) fn deadline(&self) -> &Deadline {
        &self.deadline
    }

    /// The admin key this client sends (the one the backend accepted, after a fallback).
    pub(crate) fn admin_key(&self) -> &str {
        &self.admin_key
    }

    /// The same backend with another key (the legacy-format fallback).
    pub(crate) fn with_key(&self, admin_key: &str) -> Self {
        Self {
            admin_key: admin_key.to_owned(),
            ..self.clone()
        }
    }

    /// One request: sent, answered and its body read within [`REQUEST_TIMEOUT`] and the
    /// deadline; a 2xx body is read up to `limit`, anything else is [`CallError::Status`].
    async fn send_once(
        &self,
        request: reqwest::RequestBuilder,
        endpoint: &str,
        url: &str,
        limit: usize,
    ) -> Result<String, CallError> {
        bounded(&self.deadline, REQUEST_TIMEOUT, async {
            let response = request.send().await.map_err(transport(url))?;
            if !response.status().is_success() {
                return Err(status_error(response).await);
            }
            read_body(response, endpoint, url, limit).await
        })
        .await
    }

    async fn get_once(&self, path: &str, auth: bool, limit: usize) -> Result<String, CallError> {
        let url = format!("{}{path}", self.url);
        let mut request = self.client.get(&url);
        if auth {
            request = request.header("Authorization", format!("Convex {}", self.admin_key));
        }
        self.send_once(request, &format!("GET {path}"), &url, limit)
            .await
    }

    /// Retry `call` on transient failures while the deadline allows.
    async fn retrying<T, F: Future<Output = Result<T, CallError>>>(
        &self,
        what: &str,
        call: impl FnMut() -> F,
    ) -> Result<T, CallError> {
        let deadline = self.deadline;
        call.retry(retry_policy())
            .when(CallError::transient)
            .adjust(move |_, delay| delay.filter(|d| *d < deadline.remaining()))
            .notify(|e, after| tracing::debug!(what, error = %e, ?after, "retrying"))
            .await
    }

    /// GET with retries on transient failures; any non-2xx is an error.
    async fn get(&self, path: &str, auth: bool, limit: usize) -> Result<String, CallError> {
        self.retrying(path, || self.get_once(path, auth, limit))
            .await
    }

    /// `GET /version` once, no retries (the wait loop polls); the version [`sanitize`]d.
    pub(crate) async fn version_once(&self) -> Result<String, CallError> {
        self.get_once("/version", false, TEXT_LIMIT)
            .await
            .map(|v| sanitize(&v))
    }

    /// The instance name as the backend sends it (compare it, then [`sanitize`] to show it).
    pub(crate) async fn instance_name(&self) -> Result<String, CallError> {
        self.get("/instance_name", false, TEXT_LIMIT)
            .await
            .map(|b| b.trim().to_owned())
    }

    /// `Ok(true)` accepted, `Ok(false)` rejected (401/403), `Err` for anything else.
    pub(crate) async fn check_admin_key(&self) -> Result<bool, CallError> {
        match self.get("/api/check_admin_key", true, JSON_LIMIT).await {
            Ok(_) => Ok(true),
            Err(CallError::Status {
                status: StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN,
                ..
            }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    pub(crate) async fn canonical_urls(&self) -> Result<CanonicalUrls, CallError> {
        let body = self
            .get("/api/v1/get_canonical_urls", true, JSON_LIMIT)
            .await?;
        serde_json::from_str(&body).map_err(|source| CallError::Decode {
            what: "canonical URLs",
            source,
        })
    }

    /// The deployment's variables; `None` on backends without the list endpoint (404).
    pub(crate) async fn list_env(&self) -> Result<Option<BTreeMap<String, String>>, CallError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct List {
            environment_variables: BTreeMap<String, String>,
        }
        match self
            .get("/api/v1/list_environment_variables", true, JSON_LIMIT)
            .await
        {
            Ok(body) => serde_json::from_str::<List>(&body)
                .map(|l| Some(l.environment_variables))
                .map_err(|source| CallError::Decode {
                    what: "environment variable list",
                    source,
                }),
            Err(CallError::Status {
                status: StatusCode::NOT_FOUND,
                ..
            }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// One transactional update. Retried on transient failures: the backend applies all
    /// changes or none, and re-sending the same values is harmless.
    pub(crate) async fn update_env(&self, changes: &[EnvChange]) -> Result<(), CallError> {
        let body = serde_json::json!({ "changes": changes });
        self.post("/api/v1/update_environment_variables", &body)
            .await
    }

    /// Set one canonical URL without a restart (`POST /api/v1/update_canonical_url`, backends
    /// from 2025-08). `Ok(false)`: the backend has no such endpoint (404).
    pub(crate) async fn update_canonical_url(
        &self,
        destination: Destination,
        url: &str,
    ) -> Result<bool, CallError> {
        let body = serde_json::json!({ "requestDestination": destination, "url": url });
        match self.post("/api/v1/update_canonical_url", &body).await {
            Ok(()) => Ok(true),
            Err(CallError::Status {
                status: StatusCode::NOT_FOUND,
                ..
            }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Whether the backend routes `POST path`, asked once with an empty JSON object and no
    /// key, within [`ROUTE_PROBE_TIMEOUT`]: a real handler refuses that before doing anything
    /// (400/401/403/405/415/422) and only a missing route answers 404. Anything else (a 5xx,
    /// a redirect, no answer) cannot tell and is an error.
    pub(crate) async fn route_exists(&self, path: &str) -> Result<bool, CallError> {
        let url = format!("{}{path}", self.url);
        let request = self.client.post(&url).json(&serde_json::json!({}));
        let response = bounded(&self.deadline, ROUTE_PROBE_TIMEOUT, async {
            request.send().await.map_err(transport(&url))
        })
        .await?;
        match response.status().as_u16() {
            404 => Ok(false),
            200..=299 | 400 | 401 | 403 | 405 | 415 | 422 => Ok(true),
            _ => Err(status_error(response).await),
        }
    }

    /// POST JSON with the admin key, bounded and retried on transient failures (callers send
    /// idempotent bodies only).
    async fn post(&self, path: &str, body: &serde_json::Value) -> Result<(), CallError> {
        let url = format!("{}{path}", self.url);
        let what = format!("POST {path}");
        let call = || {
            let request = self
                .client
                .post(&url)
                .header("Authorization", format!("Convex {}", self.admin_key))
                .json(body);
            self.send_once(request, &what, &url, JSON_LIMIT)
        };
        self.retrying(path, call).await.map(drop)
    }

    /// `POST /api/get_config_hashes`: what the backend says is deployed (the Convex CLI asks
    /// the same before a push). Read-only; the key travels in the header and the body, as the
    /// CLI sends it.
    pub(crate) async fn config_hashes(
        &self,
        version: &str,
    ) -> Result<serde_json::Value, CallError> {
        let body = serde_json::json!({ "version": version, "adminKey": self.admin_key });
        let url = format!("{}/api/get_config_hashes", self.url);
        let request = self
            .client
            .post(&url)
            .header("Authorization", format!("Convex {}", self.admin_key))
            .json(&body);
        let text = self
            .send_once(request, "POST /api/get_config_hashes", &url, JSON_LIMIT)
            .await?;
        serde_json::from_str(&text).map_err(|source| CallError::Decode {
            what: "get_config_hashes",
            source,
        })
    }
}

/// Which canonical URL an update changes (upstream's `RequestDestination`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) enum Destination {
    ConvexCloud,
    ConvexSite,
}

/// What the site proxy serves for Convex Auth discovery.
#[derive(Debug, Clone)]
pub(crate) struct AuthDiscovery {
    pub issuer: Option<String>,
    pub jwks: Option<serde_json::Value>,
}

/// `GET <site proxy><path>` as JSON, within [`DISCOVERY_TIMEOUT`] and `deadline` (no
/// redirects followed: a redirect is an answer).
async fn site_json(
    site_url: &str,
    path: &'static str,
    deadline: &Deadline,
) -> Result<serde_json::Value, CallError> {
    let client = loopback_client(DISCOVERY_TIMEOUT).map_err(transport(site_url))?;
    let url = format!("{site_url}{path}");
    bounded(deadline, DISCOVERY_TIMEOUT, async move {
        let response = client.get(&url).send().await.map_err(transport(&url))?;
        if !response.status().is_success() {
            return Err(status_error(response).await);
        }
        let body = read_body(response, &format!("GET {path}"), &url, JSON_LIMIT).await?;
        serde_json::from_str::<serde_json::Value>(&body)
            .map_err(|source| CallError::Decode { what: path, source })
    })
    .await
}

/// Better Auth's health route through the site proxy (`registerRoutes` mounts Better Auth
/// under `/api/auth`; its `/ok` answers `{"ok":true}`).
pub(crate) const BETTER_AUTH_OK_PATH: &str = "/api/auth/ok";

pub(crate) async fn better_auth_ok(
    site_url: &str,
    deadline: &Deadline,
) -> Result<serde_json::Value, CallError> {
    site_json(site_url, BETTER_AUTH_OK_PATH, deadline).await
}

/// `GET <site>/.well-known/openid-configuration` and `/.well-known/jwks.json`. The issuer is
/// as served: [`sanitize`] it to show it.
pub(crate) async fn auth_discovery(
    site_url: &str,
    deadline: &Deadline,
) -> Result<AuthDiscovery, CallError> {
    let config = site_json(site_url, "/.well-known/openid-configuration", deadline).await?;
    let jwks = site_json(site_url, "/.well-known/jwks.json", deadline)
        .await
        .ok();
    Ok(AuthDiscovery {
        issuer: config
            .get("issuer")
            .and_then(|v| v.as_str())
            .map(str::to_owned),
        jwks,
    })
}

/// What a public URL answers to an anonymous request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PublicProbe {
    /// Reachable without a Coder session.
    Open(u16),
    /// Coder redirected to its login: the app is not `share = "public"`.
    CoderLogin,
    Unreachable(String),
}

/// Probe a public URL the way the backend (or a webhook sender) would reach it.
pub(crate) async fn probe_public(url: &str, deadline: &Deadline) -> PublicProbe {
    let client = match Client::builder()
        .user_agent(USER_AGENT)
        .connect_timeout(PUBLIC_CONNECT_TIMEOUT)
        .timeout(PUBLIC_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
    {
        Ok(c) => c,
        Err(e) => return PublicProbe::Unreachable(e.to_string()),
    };
    let send = async { client.get(url).send().await.map_err(transport(url)) };
    match bounded(deadline, PUBLIC_TIMEOUT, send).await {
        Ok(response) => {
            let status = response.status();
            let location = response
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            if status.is_redirection() && location.contains("/api/v2/applications/auth-redirect") {
                PublicProbe::CoderLogin
            } else {
                PublicProbe::Open(status.as_u16())
            }
        }
        Err(e) => PublicProbe::Unreachable(e.summary()),
    }
}
