//! The test fake backend as a process, for benchmarks and manual runs:
//! `INSTANCE_SECRET=… cargo run --example fake_backend -- <instance-name> <api-port> <site-port>`.
//! It prints `ready <api-url> <site-url>` on stdout and serves until killed. On SIGUSR1 it
//! prints `pushes <writes> completed <n>`: the push-protocol requests other than the read
//! `get_config_hashes`, and the pushes that reached `finish_push` (for `bench/run.sh`).
//! `FAKE_START_DELAY_MS` opens the API port that long after `ready`.
#![allow(unreachable_pub, clippy::print_stdout)]

#[path = "../tests/support/fake_backend.rs"]
#[allow(dead_code)]
mod fake_backend;

use coder_convex::config::secrets::InstanceSecret;
use fake_backend::{FakeBackend, FakeConfig};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let name = args.first().map_or("convex-self-hosted", String::as_str);
    let port = |i: usize| args.get(i).and_then(|p| p.parse().ok()).unwrap_or(0);
    let secret = std::env::var("INSTANCE_SECRET").expect("INSTANCE_SECRET (64 hex) is required");
    let secret =
        InstanceSecret::from_hex(&secret).expect("INSTANCE_SECRET must be 64 hex characters");
    let mut config = FakeConfig::new(name, secret);
    if let Ok(origin) = std::env::var("CONVEX_CLOUD_ORIGIN") {
        config.cloud_origin = origin;
    }
    if let Ok(origin) = std::env::var("CONVEX_SITE_ORIGIN") {
        config.site_origin = origin;
    }
    // The API port opens this long after `ready` (a backend still starting).
    if let Some(ms) = std::env::var("FAKE_START_DELAY_MS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        config.start_delay = std::time::Duration::from_millis(ms);
    }
    let fake = FakeBackend::spawn_on(config, port(1), port(2)).await;
    println!("ready {} {}", fake.api_url, fake.site_url);
    let mut usr1 = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::user_defined1())
        .expect("SIGUSR1 handler");
    while usr1.recv().await.is_some() {
        let (writes, completed) = fake.pushes(|r| {
            let writes = r
                .requests
                .iter()
                .filter(|path| *path != "/api/get_config_hashes")
                .count();
            (writes, r.completed)
        });
        println!("pushes {writes} completed {completed}");
    }
}
