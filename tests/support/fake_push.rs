//! The push protocol of the stand-in backend (README "Talking to the backend"), a route group of
//! its own so other parts of the fake can grow without touching it.
//!
//! It speaks what the real `convex deploy` (CLI 1.48) sends: `POST /api/get_config_hashes`,
//! `/api/deploy2/evaluate_schema` (404 when [`PushConfig::no_evaluate_schema`] is set, so the CLI
//! falls back to `evaluate_push`), `start_push`, `wait_for_schema`, `finish_push`,
//! `report_push_completed`. Bodies may be brotli-encoded (`Content-Encoding: br`, as the CLI
//! sends the large ones); the admin key is checked with the real algorithm both in the
//! `Authorization` header and in the body's `adminKey`. What `finish_push` commits is what
//! `get_config_hashes` reports afterwards, so the CLI's own diff and our skip logic see the
//! deployed code as a real backend would.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use coder_convex::config::secrets::{InstanceSecret, validate_admin_key};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

/// Faults and behaviours of the push routes.
#[derive(Debug, Clone, Default)]
pub struct PushConfig {
    /// `evaluate_schema` answers 404 (a backend from before the endpoint existed).
    pub no_evaluate_schema: bool,
    /// A backend from before 2025-11-04: neither `evaluate_push` nor `evaluate_schema` exists
    /// (404, as for any unknown route).
    pub no_evaluate_push: bool,
    /// The schema evaluation reports this index (`table.index`) as dropped on a table with
    /// this many documents (the CLI then asks for confirmation).
    pub dropped_index: Option<(String, u64)>,
    /// `start_push` fails with this message (400, as the backend reports a bad push).
    pub fail_start_push: Option<String>,
    /// `start_push` answers only after this long (a slow push, for signals and timeouts).
    pub start_push_delay: Duration,
    /// A keyless `evaluate_push` (the version probe) is answered only after this long.
    pub keyless_evaluate_push_delay: Duration,
}

/// What is deployed: what `get_config_hashes` reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Deployed {
    /// The `functions` directory from the push.
    pub functions: String,
    /// Module path → (environment, sha256 of source and source map).
    pub modules: BTreeMap<String, (String, String)>,
    pub udf_server_version: String,
}

/// What the push routes saw.
#[derive(Debug, Default)]
pub struct PushRecorded {
    /// `/api/...` path of every push-protocol request, in order.
    pub requests: Vec<String>,
    /// The `adminKey` of every body that carried one.
    pub body_keys: Vec<String>,
    /// `Content-Encoding` of every request (`""` when none).
    pub encodings: Vec<String>,
    /// What is deployed (`None`: nothing ever was, or it was wiped).
    pub deployed: Option<Deployed>,
    /// Pushes that reached `finish_push`.
    pub completed: usize,
    pending: Option<Deployed>,
}

pub(crate) struct PushShared {
    instance_name: String,
    secret: InstanceSecret,
    legacy_keys_only: bool,
    config: PushConfig,
    pub(crate) recorded: Mutex<PushRecorded>,
}

pub(crate) type PushState = Arc<PushShared>;

pub(crate) fn state(
    instance_name: &str,
    secret: &InstanceSecret,
    legacy_keys_only: bool,
    config: PushConfig,
) -> PushState {
    Arc::new(PushShared {
        instance_name: instance_name.to_owned(),
        secret: secret.clone(),
        legacy_keys_only,
        config,
        recorded: Mutex::new(PushRecorded::default()),
    })
}

/// The push routes, ready to merge into the API router.
pub(crate) fn router(state: PushState) -> Router {
    Router::new()
        .route("/api/get_config_hashes", post(get_config_hashes))
        .route("/api/deploy2/evaluate_schema", post(evaluate_schema))
        .route("/api/deploy2/evaluate_push", post(evaluate_push))
        .route("/api/deploy2/start_push", post(start_push))
        .route("/api/deploy2/wait_for_schema", post(wait_for_schema))
        .route("/api/deploy2/finish_push", post(finish_push))
        .route(
            "/api/deploy2/report_push_completed",
            post(report_push_completed),
        )
        .with_state(state)
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, Json(json!({ "code": code, "message": message }))).into_response()
}

fn key_ok(state: &PushShared, key: &str) -> bool {
    matches!(
        validate_admin_key(key, &state.secret, &state.instance_name),
        Ok(claims) if claims.legacy || !state.legacy_keys_only
    )
}

/// Record the request, decode the body, and check the key in the header and in the body.
/// (The error is the response to send: a test fake keeps it unboxed for plain `return r`.)
#[allow(clippy::result_large_err)]
fn accept(
    state: &PushShared,
    path: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Value, Response> {
    let encoding = headers
        .get("content-encoding")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let text = if encoding == "br" {
        let mut decoded = Vec::new();
        brotli::Decompressor::new(body, 4096)
            .read_to_end(&mut decoded)
            .map_err(|e| error(StatusCode::BAD_REQUEST, "BadBrotli", &e.to_string()))?;
        decoded
    } else {
        body.to_vec()
    };
    let body: Value = serde_json::from_slice(&text)
        .map_err(|e| error(StatusCode::BAD_REQUEST, "BadJson", &e.to_string()))?;
    let body_key = body
        .get("adminKey")
        .and_then(Value::as_str)
        .map(str::to_owned);
    {
        let mut r = state.recorded.lock().expect("push state");
        r.requests.push(path.to_owned());
        r.encodings.push(encoding);
        if let Some(key) = &body_key {
            r.body_keys.push(key.clone());
        }
    }
    let Some(header) = headers.get("authorization").and_then(|v| v.to_str().ok()) else {
        return Err(error(
            StatusCode::FORBIDDEN,
            "MissingAdminKey",
            "An admin key is required",
        ));
    };
    let header_key = header.strip_prefix("Convex ").unwrap_or_default();
    let body_ok = body_key.as_deref().is_none_or(|k| key_ok(state, k));
    if !key_ok(state, header_key) || !body_ok {
        return Err(error(
            StatusCode::UNAUTHORIZED,
            "BadAdminKey",
            "The provided admin key was invalid for this instance",
        ));
    }
    Ok(body)
}

async fn get_config_hashes(
    State(state): State<PushState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Err(r) = accept(&state, "/api/get_config_hashes", &headers, &body) {
        return r;
    }
    let deployed = state
        .recorded
        .lock()
        .expect("push state")
        .deployed
        .clone()
        .unwrap_or_else(|| Deployed {
            functions: "convex/".to_owned(),
            ..Deployed::default()
        });
    let module_hashes: Vec<Value> = deployed
        .modules
        .iter()
        .map(|(path, (environment, sha256))| {
            json!({ "path": path, "environment": environment, "sha256": sha256 })
        })
        .collect();
    Json(json!({
        "config": { "functions": deployed.functions, "authInfo": [] },
        "moduleHashes": module_hashes,
        "nodeDependencies": [],
        "udfServerVersion": if deployed.udf_server_version.is_empty() { Value::Null } else { json!(deployed.udf_server_version) },
    }))
    .into_response()
}

/// `table.index` → the index config the CLI's schemas expect.
fn index_config(name: &str) -> Value {
    json!({ "name": name, "type": "database", "fields": ["_creationTime"] })
}

async fn evaluate_schema(
    State(state): State<PushState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if state.config.no_evaluate_schema || state.config.no_evaluate_push {
        let _ = accept(&state, "/api/deploy2/evaluate_schema", &headers, &body);
        return error(StatusCode::NOT_FOUND, "NotFound", "no such route");
    }
    if let Err(r) = accept(&state, "/api/deploy2/evaluate_schema", &headers, &body) {
        return r;
    }
    let (tables, indexes) = match &state.config.dropped_index {
        Some((name, docs)) => {
            let table = name.split('.').next().unwrap_or_default();
            let mut index = index_config(name);
            index["change"] = json!("dropped");
            index["needsBackfill"] = json!(false);
            index["numDocs"] = json!(docs);
            (
                vec![
                    json!({ "name": table, "outcome": "notValidated", "numDocs": docs, "sizeBytes": docs * 100 }),
                ],
                vec![index],
            )
        }
        None => (vec![], vec![]),
    };
    Json(json!({
        "componentSchemaEvaluations": {
            "": { "definitionPath": "", "schemaValidation": true, "tables": tables, "indexes": indexes }
        },
        "newComponentDefinitions": [],
    }))
    .into_response()
}

fn schema_change(state: &PushShared) -> Value {
    let removed: Vec<Value> = state
        .config
        .dropped_index
        .iter()
        .map(|(name, _)| index_config(name))
        .collect();
    json!({
        "allocatedComponentIds": {},
        "schemaIds": {},
        "indexDiffs": { "": { "added_indexes": [], "removed_indexes": removed } },
    })
}

async fn evaluate_push(
    State(state): State<PushState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if state.config.no_evaluate_push {
        state
            .recorded
            .lock()
            .expect("push state")
            .requests
            .push("/api/deploy2/evaluate_push".to_owned());
        return StatusCode::NOT_FOUND.into_response();
    }
    if !headers.contains_key("authorization") && !state.config.keyless_evaluate_push_delay.is_zero()
    {
        tokio::time::sleep(state.config.keyless_evaluate_push_delay).await;
    }
    if let Err(r) = accept(&state, "/api/deploy2/evaluate_push", &headers, &body) {
        return r;
    }
    Json(json!({ "schemaChange": schema_change(&state) })).into_response()
}

/// sha256 of source then source map, as the CLI hashes a bundle.
fn module_hash(module: &Value) -> String {
    let mut hasher = Sha256::new();
    hasher.update(module["source"].as_str().unwrap_or_default());
    hasher.update(module["sourceMap"].as_str().unwrap_or_default());
    hex::encode(hasher.finalize())
}

async fn start_push(
    State(state): State<PushState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let request = match accept(&state, "/api/deploy2/start_push", &headers, &body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    tokio::time::sleep(state.config.start_push_delay).await;
    if let Some(message) = &state.config.fail_start_push {
        return error(StatusCode::BAD_REQUEST, "InvalidModules", message);
    }
    let app = &request["appDefinition"];
    let mut modules = BTreeMap::new();
    for unchanged in app["unchangedModuleHashes"]
        .as_array()
        .into_iter()
        .flatten()
    {
        modules.insert(
            unchanged["path"].as_str().unwrap_or_default().to_owned(),
            (
                unchanged["environment"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                unchanged["sha256"].as_str().unwrap_or_default().to_owned(),
            ),
        );
    }
    for changed in app["changedModules"].as_array().into_iter().flatten() {
        modules.insert(
            changed["path"].as_str().unwrap_or_default().to_owned(),
            (
                changed["environment"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                module_hash(changed),
            ),
        );
    }
    let udf_server_version = app["udfServerVersion"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    state.recorded.lock().expect("push state").pending = Some(Deployed {
        functions: request["functions"]
            .as_str()
            .unwrap_or("convex/")
            .to_owned(),
        modules,
        udf_server_version: udf_server_version.clone(),
    });
    let checked = json!({
        "definitionPath": "",
        "componentPath": "",
        "args": {},
        "childComponents": {},
        "httpRoutes": { "httpModuleRoutes": null, "mounts": [] },
        "exports": {},
    });
    let analysis = json!({
        "definition": {
            "path": "",
            "definitionType": { "type": "app" },
            "childComponents": [],
            "httpMounts": {},
            "exports": { "type": "branch", "branch": [] },
        },
        "schema": null,
        "functions": {},
        "udfConfig": {
            "serverVersion": udf_server_version,
            "importPhaseRngSeed": null,
            "importPhaseUnixTimestamp": null,
        },
    });
    Json(json!({
        "environmentVariables": {},
        "externalDepsId": null,
        "componentDefinitionPackages": {},
        "appAuth": [],
        "analysis": { "": analysis },
        "app": checked,
        "schemaChange": schema_change(&state),
    }))
    .into_response()
}

async fn wait_for_schema(
    State(state): State<PushState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Err(r) = accept(&state, "/api/deploy2/wait_for_schema", &headers, &body) {
        return r;
    }
    Json(json!({ "type": "complete" })).into_response()
}

async fn finish_push(
    State(state): State<PushState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let request = match accept(&state, "/api/deploy2/finish_push", &headers, &body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let dry_run = request["dryRun"].as_bool().unwrap_or(false);
    let mut r = state.recorded.lock().expect("push state");
    let Some(next) = r.pending.take() else {
        return error(
            StatusCode::BAD_REQUEST,
            "NoPush",
            "finish_push without start_push",
        );
    };
    let before = r.deployed.clone().unwrap_or_default();
    let added: Vec<&String> = next
        .modules
        .keys()
        .filter(|k| !before.modules.contains_key(*k))
        .collect();
    let removed: Vec<&String> = before
        .modules
        .keys()
        .filter(|k| !next.modules.contains_key(*k))
        .collect();
    let diff = json!({
        "authDiff": { "added": [], "removed": [] },
        "definitionDiffs": {},
        "componentDiffs": {
            "": {
                "diffType": { "type": if r.deployed.is_some() { "modify" } else { "create" } },
                "moduleDiff": { "added": added, "removed": removed },
                "udfConfigDiff": null,
                "cronDiff": { "added": [], "updated": [], "deleted": [] },
                "indexDiff": schema_change(&state)["indexDiffs"][""].clone(),
                "schemaDiff": null,
            }
        },
    });
    if !dry_run {
        r.deployed = Some(next);
        r.completed += 1;
    }
    Json(diff).into_response()
}

async fn report_push_completed(
    State(state): State<PushState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Err(r) = accept(
        &state,
        "/api/deploy2/report_push_completed",
        &headers,
        &body,
    ) {
        return r;
    }
    Json(json!({})).into_response()
}
