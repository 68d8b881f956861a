//! The app's dev server answers at the URL coder-convex derives: a real Vite dev server (from
//! `tests/node`) asked with the derived `Host` header. Vite (6.0.9+) refuses a host it does not
//! know with 403 "Blocked request"; it reads `__VITE_ADDITIONAL_SERVER_ALLOWED_HOSTS` from the
//! process environment only (its `loadEnv` copies nothing else from `.env` files into
//! `process.env`), so the project's `vite.config` reads the app URL coder-convex writes to
//! `.env.development.local` (`VITE_SITE_URL`) and allows its host: the README's recipe.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};

use crate::common::{Project, node_peers, require, wait_until};

/// The README's `vite.config.mjs` ("First day": the app's dev server).
const VITE_CONFIG: &str = r#"import { defineConfig, loadEnv } from "vite";

export default defineConfig(({ mode }) => {
  const env = loadEnv(mode, process.cwd());
  const app = env.VITE_SITE_URL ? new URL(env.VITE_SITE_URL).hostname : undefined;
  return { server: { allowedHosts: app ? [app] : [] } };
});
"#;

const PROXY_URI: &str = "https://{{port}}--main--ws--owner.apps.example.com";
const DERIVED_HOST: &str = "5173--main--ws--owner.apps.example.com";

struct DevServer {
    child: Child,
    port: u16,
}

impl Drop for DevServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `vite` on 127.0.0.1 in the project, with `env` added to its environment.
fn vite(p: &Project, env: &[(&str, &str)]) -> DevServer {
    let node = require("node");
    let port = crate::common::free_port();
    let vite = node_peers().join("node_modules/vite/bin/vite.js");
    let mut command = Command::new(node);
    command
        .arg(vite)
        .args([
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--strictPort",
        ])
        .current_dir(p.path())
        .env_remove("__VITE_ADDITIONAL_SERVER_ALLOWED_HOSTS")
        .env("CI", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (k, v) in env {
        command.env(k, v);
    }
    let server = DevServer {
        child: command.spawn().expect("start vite"),
        port,
    };
    wait_until("vite listening", || {
        TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    server
}

/// The status line and body of `GET /` with `host` as the Host header, over loopback.
fn get(port: u16, host: &str) -> (String, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to vite");
    write!(
        stream,
        "GET / HTTP/1.1\r\nHost: {host}\r\nAccept: text/html\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response.lines().next().unwrap_or_default().to_owned();
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// A Vite project configured by coder-convex as in a Coder workspace, with Vite itself linked in.
fn vite_project(config: Option<&str>) -> Project {
    let p = Project::new();
    p.write(
        "package.json",
        r#"{"type":"module","scripts":{"dev":"vite"},"dependencies":{"vite":"7.3.8"}}"#,
    );
    p.write(
        "index.html",
        "<!doctype html><title>app</title><p>hello</p>\n",
    );
    if let Some(config) = config {
        p.write("vite.config.mjs", config);
    }
    std::os::unix::fs::symlink(node_peers().join("node_modules"), p.file("node_modules"))
        .expect("link node_modules");
    p.run(
        &["configure"],
        &[
            ("CODER", "true"),
            ("VSCODE_PROXY_URI", PROXY_URI),
            ("CODER_WORKSPACE_NAME", "ws"),
            ("CODER_WORKSPACE_AGENT_NAME", "main"),
            ("CODER_WORKSPACE_OWNER_NAME", "owner"),
        ],
    )
    .ok();
    assert_eq!(
        p.env_values(".env.development.local")["VITE_SITE_URL"],
        format!("https://{DERIVED_HOST}")
    );
    p
}

#[test]
fn vite_blocks_the_derived_host_without_the_recipe() {
    let p = vite_project(None);
    let server = vite(&p, &[]);
    let (status, body) = get(server.port, DERIVED_HOST);
    assert!(status.contains(" 403 "), "{status}\n{body}");
    assert!(body.contains("Blocked request"), "{body}");
}

#[test]
fn vite_answers_the_derived_host_with_the_readme_config() {
    let p = vite_project(Some(VITE_CONFIG));
    let server = vite(&p, &[]);
    let (status, body) = get(server.port, DERIVED_HOST);
    assert!(status.contains(" 200 "), "{status}\n{body}");
    assert!(body.contains("<p>hello</p>"), "{body}");
    // Only that host: another workspace's is still refused.
    let (status, _) = get(server.port, "5173--main--other--owner.apps.example.com");
    assert!(status.contains(" 403 "), "{status}");
}

#[test]
fn vite_answers_the_derived_host_with_the_environment_variable() {
    // The variable Vite reads from its process environment (the templates' agent env, or
    // the `dev` script); a `.env` file cannot carry it.
    let p = vite_project(None);
    let server = vite(
        &p,
        &[("__VITE_ADDITIONAL_SERVER_ALLOWED_HOSTS", DERIVED_HOST)],
    );
    let (status, body) = get(server.port, DERIVED_HOST);
    assert!(status.contains(" 200 "), "{status}\n{body}");
}

#[test]
fn vite_ignores_the_variable_in_an_env_file() {
    let p = vite_project(None);
    let mut extra = p.read(".env.development.local");
    extra.push_str(&format!(
        "__VITE_ADDITIONAL_SERVER_ALLOWED_HOSTS={DERIVED_HOST}\n"
    ));
    p.write(".env.development.local", &extra);
    let server = vite(&p, &[]);
    let (status, _) = get(server.port, DERIVED_HOST);
    assert!(status.contains(" 403 "), "{status}");
}
