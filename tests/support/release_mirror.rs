//! A mirror of the backend's release downloads on 127.0.0.1: serves `/<tag>/<file>` from what
//! the test put there and counts the requests. Plus the release archive itself: a zip holding
//! a `convex-local-backend` script that starts the stand-in backend (the integration test
//! binary, test `process::stand_in_local_backend`) with the arguments it was given.

use std::collections::HashMap;
use std::io::{BufRead as _, BufReader, Write as _};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

pub struct Mirror {
    pub base_url: String,
    files: Arc<Mutex<HashMap<String, Vec<u8>>>>,
    hits: Arc<AtomicUsize>,
}

impl Mirror {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let files: Arc<Mutex<HashMap<String, Vec<u8>>>> = Arc::default();
        let hits: Arc<AtomicUsize> = Arc::default();
        let (f, h) = (files.clone(), hits.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    continue;
                }
                // The rest of the request head.
                let mut header = String::new();
                while reader.read_line(&mut header).is_ok_and(|n| n > 2) {
                    header.clear();
                }
                h.fetch_add(1, Ordering::SeqCst);
                let path = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
                let body = f.lock().unwrap().get(&path).cloned();
                let mut stream = stream;
                let _ = match body {
                    Some(body) => stream
                        .write_all(
                            format!(
                                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                                body.len()
                            )
                            .as_bytes(),
                        )
                        .and_then(|()| stream.write_all(&body)),
                    None => stream.write_all(
                        b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                    ),
                };
            }
        });
        Self {
            base_url,
            files,
            hits,
        }
    }

    /// Serve `body` at `/<path>`.
    pub fn put(&self, path: &str, body: Vec<u8>) {
        self.files.lock().unwrap().insert(format!("/{path}"), body);
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

/// A release zip holding `convex-local-backend`: a script that records its pid and argv in
/// `$STAND_IN_STATE` and execs the stand-in backend with the argv in `STAND_IN_ARGS`. `salt`
/// changes the bytes (a swapped archive).
pub fn release_zip(salt: &str) -> Vec<u8> {
    let script = format!(
        "#!/bin/sh\n# {salt}\necho \"$$\" >>\"$STAND_IN_STATE/starts\"\nprintf '%s\\n' \"$@\" >\"$STAND_IN_STATE/argv-$$\"\nSTAND_IN_ARGS=$(printf '%s\\n' \"$@\") STAND_IN_LOCAL_BACKEND=1 exec \"$STAND_IN_EXE\" --exact process::stand_in_local_backend --nocapture --test-threads=1\n"
    );
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .unix_permissions(0o755);
    zip.start_file("convex-local-backend", options).unwrap();
    zip.write_all(script.as_bytes()).unwrap();
    zip.finish().unwrap().into_inner()
}
