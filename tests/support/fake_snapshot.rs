//! Snapshot export and import of the stand-in backend, a route group of its own (like
//! `fake_push.rs`), speaking what the real `convex export` and `convex import` (CLI 1.48,
//! `src/cli/lib/convexExport.ts` and `convexImport.ts`) call:
//!
//! - export: `POST /api/export/request/zip?includeStorage=…`, then a subscription to
//!   `_system/cli/exports:getLatest` over the sync WebSocket (`/api/<version>/sync`) until it
//!   reports `completed` with a `start_ts`, then `GET /api/export/zip/<start_ts>`;
//! - import: `POST /api/query` (`_system/cli/queryImport:list`), `/api/import/start_upload`,
//!   `upload_part`, `finish_upload`, a subscription to `_system/cli/queryImport` until
//!   `waiting_for_confirmation`, `POST /api/perform_import`, and the subscription again until
//!   `completed`.
//!
//! The data is tables of JSON documents and file storage blobs; the archive has the layout of
//! a real snapshot (`<table>/documents.jsonl`, `_storage/documents.jsonl`, `_storage/<id>`), so
//! a round trip through the real CLI gives back what was exported.

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use base64::Engine as _;
use coder_convex::config::secrets::{InstanceSecret, validate_admin_key};
use serde_json::{Value, json};

/// Behaviours of the snapshot routes.
#[derive(Debug, Clone, Default)]
pub struct SnapshotConfig {
    /// An export stays `in_progress` this long (a slow export, to interrupt a backup).
    pub export_delay: Duration,
}

/// The deployment's data: what an export writes and an import replaces.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Data {
    /// Table → documents (each with its `_id`).
    pub tables: BTreeMap<String, Vec<Value>>,
    /// Storage id → the file's bytes.
    pub files: BTreeMap<String, Vec<u8>>,
}

/// What the snapshot routes saw and hold.
#[derive(Debug, Default)]
pub struct SnapshotRecorded {
    /// `METHOD /path` of every request (the WebSocket's queries as `SUBSCRIBE <udf>`).
    pub requests: Vec<String>,
    pub data: Data,
    /// `includeStorage` of each export request.
    pub include_storage: Vec<bool>,
    /// `mode` of each finished upload.
    pub import_modes: Vec<String>,
    /// Every admin key the snapshot routes were given (header or WebSocket).
    pub keys: Vec<String>,
    latest_export: Option<Value>,
    exports: BTreeMap<u64, Vec<u8>>,
    uploads: BTreeMap<String, Vec<Vec<u8>>>,
    imports: BTreeMap<String, (Vec<u8>, Value)>,
    clock: u64,
}

pub(crate) struct SnapshotShared {
    instance_name: String,
    secret: InstanceSecret,
    config: SnapshotConfig,
    pub(crate) recorded: Mutex<SnapshotRecorded>,
}

pub(crate) type SnapshotState = Arc<SnapshotShared>;

pub(crate) fn state(
    instance_name: &str,
    secret: &InstanceSecret,
    config: SnapshotConfig,
) -> SnapshotState {
    Arc::new(SnapshotShared {
        instance_name: instance_name.to_owned(),
        secret: secret.clone(),
        config,
        recorded: Mutex::new(SnapshotRecorded {
            clock: 1_700_000_000_000_000_000,
            ..SnapshotRecorded::default()
        }),
    })
}

/// The snapshot routes, ready to merge into the API router.
pub(crate) fn router(state: SnapshotState) -> Router {
    Router::new()
        .route("/api/export/request/zip", post(request_export))
        .route("/api/export/zip/{ts}", get(download_export))
        .route("/api/query", post(query))
        .route("/api/import/start_upload", post(start_upload))
        .route("/api/import/upload_part", post(upload_part))
        .route("/api/import/finish_upload", post(finish_upload))
        .route("/api/perform_import", post(perform_import))
        .route("/api/{version}/sync", any(sync))
        .with_state(state)
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, Json(json!({ "code": code, "message": message }))).into_response()
}

/// Record the request and check `Authorization: Convex <key>`; `Some` is the rejection.
fn check(state: &SnapshotShared, line: String, headers: &HeaderMap) -> Option<Response> {
    let key = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Convex "))
        .unwrap_or_default()
        .to_owned();
    let mut r = state.recorded.lock().expect("snapshot state");
    r.requests.push(line);
    r.keys.push(key.clone());
    validate_admin_key(&key, &state.secret, &state.instance_name)
        .err()
        .map(|_| error(StatusCode::UNAUTHORIZED, "BadAdminKey", "bad admin key"))
}

/// A 64-bit integer as Convex's JSON encodes it (`{"$integer": base64 of 8 bytes LE}`).
fn integer(n: u64) -> Value {
    json!({ "$integer": base64::engine::general_purpose::STANDARD.encode(n.to_le_bytes()) })
}

fn encoded_ts(n: u64) -> String {
    base64::engine::general_purpose::STANDARD.encode(n.to_le_bytes())
}

#[derive(serde::Deserialize)]
struct ExportParams {
    #[serde(rename = "includeStorage")]
    include_storage: Option<bool>,
}

async fn request_export(
    State(state): State<SnapshotState>,
    headers: HeaderMap,
    Query(params): Query<ExportParams>,
) -> Response {
    if let Some(rejection) = check(&state, "POST /api/export/request/zip".into(), &headers) {
        return rejection;
    }
    let include_storage = params.include_storage.unwrap_or(false);
    let ts = {
        let mut r = state.recorded.lock().expect("snapshot state");
        r.include_storage.push(include_storage);
        r.latest_export = Some(json!({ "state": "in_progress" }));
        r.clock += 1_000;
        r.clock
    };
    let state = state.clone();
    tokio::spawn(async move {
        tokio::time::sleep(state.config.export_delay).await;
        let mut r = state.recorded.lock().expect("snapshot state");
        let zip = write_zip(&r.data, include_storage);
        r.exports.insert(ts, zip);
        r.latest_export = Some(json!({
            "state": "completed",
            "start_ts": integer(ts),
            "complete_ts": integer(ts + 1),
            "zip_object_key": format!("export-{ts}"),
        }));
    });
    Json(json!({})).into_response()
}

async fn download_export(
    State(state): State<SnapshotState>,
    headers: HeaderMap,
    Path(ts): Path<u64>,
) -> Response {
    if let Some(rejection) = check(&state, format!("GET /api/export/zip/{ts}"), &headers) {
        return rejection;
    }
    let zip = state
        .recorded
        .lock()
        .expect("snapshot state")
        .exports
        .get(&ts)
        .cloned();
    match zip {
        Some(zip) => (
            [
                ("content-type", "application/zip".to_owned()),
                (
                    "content-disposition",
                    format!("attachment; filename=snapshot_{ts}.zip"),
                ),
            ],
            zip,
        )
            .into_response(),
        None => error(StatusCode::NOT_FOUND, "NotFound", "no such export"),
    }
}

/// The archive of a snapshot export.
fn write_zip(data: &Data, include_storage: bool) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    let jsonl = |docs: &[Value]| {
        docs.iter()
            .map(|d| format!("{d}\n"))
            .collect::<String>()
            .into_bytes()
    };
    zip.start_file("README.md", options).expect("zip");
    zip.write_all(b"stand-in snapshot export\n").expect("zip");
    for (table, docs) in &data.tables {
        zip.start_file(format!("{table}/documents.jsonl"), options)
            .expect("zip");
        zip.write_all(&jsonl(docs)).expect("zip");
    }
    if include_storage {
        let docs: Vec<Value> = data
            .files
            .iter()
            .map(|(id, bytes)| json!({ "_id": id, "size": bytes.len() }))
            .collect();
        zip.start_file("_storage/documents.jsonl", options)
            .expect("zip");
        zip.write_all(&jsonl(&docs)).expect("zip");
        for (id, bytes) in &data.files {
            zip.start_file(format!("_storage/{id}"), options)
                .expect("zip");
            zip.write_all(bytes).expect("zip");
        }
    }
    zip.finish().expect("zip").into_inner()
}

/// The data in an archive (`None`: not a snapshot archive).
fn read_zip(bytes: &[u8]) -> Option<Data> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).ok()?;
    let mut data = Data::default();
    let mut storage = Vec::new();
    for i in 0..archive.len() {
        let mut file = archive.by_index(i).ok()?;
        let name = file.name().to_owned();
        let mut content = Vec::new();
        file.read_to_end(&mut content).ok()?;
        match name.split_once('/') {
            Some(("_storage", "documents.jsonl")) => {}
            Some(("_storage", id)) => storage.push((id.to_owned(), content)),
            Some((table, "documents.jsonl")) => {
                let docs = String::from_utf8(content)
                    .ok()?
                    .lines()
                    .map(serde_json::from_str)
                    .collect::<Result<Vec<Value>, _>>()
                    .ok()?;
                data.tables.insert(table.to_owned(), docs);
            }
            _ => {}
        }
    }
    data.files.extend(storage);
    Some(data)
}

fn rows(data: &Data) -> u64 {
    (data.tables.values().map(Vec::len).sum::<usize>() + data.files.len()) as u64
}

/// The `_system` queries the CLI reads (HTTP or WebSocket).
fn run_query(state: &SnapshotShared, path: &str, args: &Value) -> Value {
    let r = state.recorded.lock().expect("snapshot state");
    match path {
        "_system/cli/exports:getLatest" => r.latest_export.clone().unwrap_or(Value::Null),
        "_system/cli/queryImport:list" => {
            Value::Array(r.imports.values().map(|(_, job)| job.clone()).collect())
        }
        "_system/cli/queryImport" | "_system/cli/queryImport:default" => {
            let id = args["importId"].as_str().unwrap_or_default();
            r.imports
                .get(id)
                .map_or(Value::Null, |(_, job)| job.clone())
        }
        _ => Value::Null,
    }
}

async fn query(State(state): State<SnapshotState>, headers: HeaderMap, body: String) -> Response {
    let body: Value = serde_json::from_str(&body).unwrap_or_default();
    let path = body["path"].as_str().unwrap_or_default().to_owned();
    if let Some(rejection) = check(&state, format!("POST /api/query {path}"), &headers) {
        return rejection;
    }
    let value = run_query(&state, &path, &body["args"][0]);
    Json(json!({ "status": "success", "value": value, "logLines": [] })).into_response()
}

async fn start_upload(State(state): State<SnapshotState>, headers: HeaderMap) -> Response {
    if let Some(rejection) = check(&state, "POST /api/import/start_upload".into(), &headers) {
        return rejection;
    }
    let mut r = state.recorded.lock().expect("snapshot state");
    r.clock += 1;
    let token = format!("upload-{}", r.clock);
    r.uploads.insert(token.clone(), Vec::new());
    Json(json!({ "uploadToken": token })).into_response()
}

#[derive(serde::Deserialize)]
struct PartParams {
    #[serde(rename = "uploadToken")]
    upload_token: String,
    #[serde(rename = "partNumber")]
    part_number: usize,
}

async fn upload_part(
    State(state): State<SnapshotState>,
    headers: HeaderMap,
    Query(params): Query<PartParams>,
    body: Bytes,
) -> Response {
    if let Some(rejection) = check(&state, "POST /api/import/upload_part".into(), &headers) {
        return rejection;
    }
    let mut r = state.recorded.lock().expect("snapshot state");
    let Some(parts) = r.uploads.get_mut(&params.upload_token) else {
        return error(StatusCode::BAD_REQUEST, "BadToken", "no such upload");
    };
    parts.push(body.to_vec());
    Json(json!(format!("part-{}", params.part_number))).into_response()
}

async fn finish_upload(
    State(state): State<SnapshotState>,
    headers: HeaderMap,
    body: String,
) -> Response {
    if let Some(rejection) = check(&state, "POST /api/import/finish_upload".into(), &headers) {
        return rejection;
    }
    let body: Value = serde_json::from_str(&body).unwrap_or_default();
    let token = body["uploadToken"].as_str().unwrap_or_default();
    let mut r = state.recorded.lock().expect("snapshot state");
    let Some(parts) = r.uploads.remove(token) else {
        return error(StatusCode::BAD_REQUEST, "BadToken", "no such upload");
    };
    let mode = body["import"]["mode"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    r.import_modes.push(mode);
    let zip = parts.concat();
    let job = match read_zip(&zip) {
        Some(data) => json!({ "state": {
            "state": "waiting_for_confirmation",
            "message_to_confirm": format!("Import change summary: {} rows", rows(&data)),
            "require_manual_confirmation": true,
        }}),
        None => json!({ "state": { "state": "failed", "error_message": "not a ZIP snapshot" }}),
    };
    r.clock += 1;
    let id = format!("import-{}", r.clock);
    r.imports.insert(id.clone(), (zip, job));
    Json(json!({ "importId": id })).into_response()
}

async fn perform_import(
    State(state): State<SnapshotState>,
    headers: HeaderMap,
    body: String,
) -> Response {
    if let Some(rejection) = check(&state, "POST /api/perform_import".into(), &headers) {
        return rejection;
    }
    let body: Value = serde_json::from_str(&body).unwrap_or_default();
    let id = body["importId"].as_str().unwrap_or_default().to_owned();
    let mut r = state.recorded.lock().expect("snapshot state");
    let Some((zip, _)) = r.imports.get(&id) else {
        return error(StatusCode::BAD_REQUEST, "NotFound", "no such import");
    };
    let Some(data) = read_zip(zip) else {
        return error(StatusCode::BAD_REQUEST, "BadImport", "not a ZIP snapshot");
    };
    let written = rows(&data);
    // `--replace-all`: what the archive holds replaces everything. Files come back only
    // when the archive has them.
    let files = if data.files.is_empty() {
        std::mem::take(&mut r.data.files)
    } else {
        data.files.clone()
    };
    r.data = Data {
        tables: data.tables,
        files,
    };
    let job = json!({ "state": { "state": "completed", "num_rows_written": integer(written) }});
    r.imports.insert(id, (Vec::new(), job));
    Json(json!({})).into_response()
}

async fn sync(ws: WebSocketUpgrade, State(state): State<SnapshotState>) -> Response {
    ws.on_upgrade(move |socket| serve_sync(socket, state))
}

/// The sync protocol, as much as a CLI subscription needs: `Authenticate` (admin key),
/// `ModifyQuerySet` (`Add`/`Remove`), and a `Transition` whenever the query set, the identity
/// or a subscribed query's value changes (values polled every 50 ms).
async fn serve_sync(mut socket: WebSocket, state: SnapshotState) {
    let mut queries: BTreeMap<u64, (String, Value)> = BTreeMap::new();
    let mut values: BTreeMap<u64, Value> = BTreeMap::new();
    let mut removed: Vec<u64> = Vec::new();
    // (query set, ts, identity): the version last sent, and the one wanted.
    let mut sent = (0u64, 0u64, 0u64);
    let (mut query_set, mut identity) = (0u64, 0u64);
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    loop {
        tokio::select! {
            message = socket.recv() => match message {
                Some(Ok(Message::Text(text))) => {
                    let message: Value = serde_json::from_str(text.as_str()).unwrap_or_default();
                    match message["type"].as_str() {
                        Some("Authenticate") => {
                            let key = message["value"].as_str().unwrap_or_default();
                            state.recorded.lock().expect("snapshot state").keys.push(key.to_owned());
                            if validate_admin_key(key, &state.secret, &state.instance_name).is_err() {
                                let error = json!({"type": "AuthError", "error": "bad admin key",
                                    "baseVersion": message["baseVersion"], "authUpdateAttempted": true});
                                let _ = socket.send(Message::Text(error.to_string().into())).await;
                                return;
                            }
                            identity = message["baseVersion"].as_u64().unwrap_or(0) + 1;
                        }
                        Some("ModifyQuerySet") => {
                            query_set = message["newVersion"].as_u64().unwrap_or(query_set);
                            for change in message["modifications"].as_array().into_iter().flatten() {
                                let id = change["queryId"].as_u64().unwrap_or(0);
                                if change["type"] == "Add" {
                                    let path = change["udfPath"].as_str().unwrap_or_default().to_owned();
                                    state.recorded.lock().expect("snapshot state")
                                        .requests.push(format!("SUBSCRIBE {path}"));
                                    queries.insert(id, (path, change["args"][0].clone()));
                                } else {
                                    queries.remove(&id);
                                    values.remove(&id);
                                    removed.push(id);
                                }
                            }
                        }
                        _ => {}
                    }
                }
                Some(Ok(Message::Close(_)) | Err(_)) | None => return,
                Some(Ok(_)) => {}
            },
            _ = tick.tick() => {}
        }
        let mut modifications: Vec<Value> = removed
            .drain(..)
            .map(|id| json!({"type": "QueryRemoved", "queryId": id}))
            .collect();
        for (id, (path, args)) in &queries {
            let value = run_query(&state, path, args);
            if values.get(id) != Some(&value) {
                modifications.push(json!({"type": "QueryUpdated", "queryId": id,
                    "value": value, "logLines": [], "journal": null}));
                values.insert(*id, value);
            }
        }
        if modifications.is_empty() && (query_set, identity) == (sent.0, sent.2) {
            continue;
        }
        let next = (query_set, sent.1 + 1, identity);
        let version = |(qs, ts, id): (u64, u64, u64)| json!({"querySet": qs, "ts": encoded_ts(ts), "identity": id});
        let transition = json!({"type": "Transition", "startVersion": version(sent),
            "endVersion": version(next), "modifications": modifications});
        if socket
            .send(Message::Text(transition.to_string().into()))
            .await
            .is_err()
        {
            return;
        }
        sent = next;
    }
}
