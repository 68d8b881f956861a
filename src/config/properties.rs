//! Property tests (proptest) over the parsers that take hostile input: the dotenv lexer and
//! merge, database URL normalisation, origin derivation, the Coder manifest and
//! `package.json` detection. Each runs a bounded number of cases in `cargo test`.
//!
//! Properties: nothing panics; a merge keeps every user entry byte for byte; the managed
//! keys read back by dotenvy (and bash, in a smaller batch) equal what was written; no
//! message contains the password of the input it came from. Every case asserts: an input
//! that is refused is refused for its reason (an unclosed quote, a URL that is not a clean
//! origin), with the invalid-input exit code.
//!
//! Tests only (pure but for one temp file per case).

use std::path::Path;

use proptest::prelude::*;

use crate::config::urls::{self, Manifest, PublicUrls, Slugs, UrlInputs};
use crate::database::url as db_url;
use crate::env_vars as ev;
use crate::error::{Error, Result};
use crate::project::dotenv::{self, Entry};

/// Bytes that stress an env file: quotes, `=`, `#`, `$`, backslashes, blanks, line endings.
fn env_text() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just("A=1".to_owned()),
            Just("export B = 'x'".to_owned()),
            Just("C=\"multi\nINSTANCE_SECRET=inside\nline\"".to_owned()),
            Just("# comment".to_owned()),
            Just("INSTANCE_SECRET=old".to_owned()),
            Just(String::new()),
            "[ -~]{0,30}",
            "[A-Z_]{1,8}=[ -~]{0,20}",
            "[A-Z_]{1,8}=['\"`][ -~\n]{0,20}",
        ],
        0..12,
    )
    .prop_flat_map(|lines| {
        prop_oneof![Just("\n"), Just("\r\n")].prop_map(move |eol| lines.join(eol) + eol)
    })
}

/// Values we would write: no quote, backslash or line break (render refuses those).
fn managed_value() -> impl Strategy<Value = String> {
    "[ -&(-\\[\\]-~]{0,40}"
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn lexing_keeps_every_byte(text in "[ -~\t\r\n]{0,200}") {
        let items = dotenv::lex(&text);
        prop_assert_eq!(items.iter().map(|i| i.text).collect::<String>(), text);
    }

    #[test]
    fn merge_keeps_user_entries_and_reads_back(
        existing in env_text(),
        secret in managed_value(),
        url in managed_value(),
    ) {
        let entries = [
            Entry::set("INSTANCE_SECRET", secret.clone()),
            Entry::set("CONVEX_CLOUD_ORIGIN", url.clone()),
            Entry::unset("CONVEX_DEPLOYMENT", "test"),
        ];
        let out = match dotenv::merge(Some(&existing), "# managed", &entries) {
            Ok(out) => out,
            Err(refused) => {
                // The one refusal these inputs can meet (their line endings are `\n` or
                // `\r\n`, our values need no escaping): a quoted value left open, which
                // lines added after it would land inside.
                let open = dotenv::lex(&existing).into_iter().find(|i| i.unterminated);
                prop_assert!(open.is_some(), "refused {:?}: {}", existing, refused);
                let open = open.expect("checked");
                prop_assert_eq!(
                    refused,
                    format!(
                        "line {}: the quoted value of {} is never closed",
                        open.line,
                        open.key.unwrap_or("?")
                    )
                );
                return Ok(());
            }
        };
        // Every entry that is not ours is still there, byte for byte (its line ending may be
        // added when it was the unterminated last line).
        for item in dotenv::lex(&existing) {
            if item.key.is_some_and(|k| ["INSTANCE_SECRET", "CONVEX_CLOUD_ORIGIN", "CONVEX_DEPLOYMENT"].contains(&k)) {
                continue;
            }
            prop_assert!(out.contains(item.body()), "lost {:?} in {:?}", item.text, out);
        }
        // When dotenvy can read the file at all, it reads our values exactly; when it cannot,
        // it could not read the user's file either (the merge made nothing unreadable).
        match dotenv::parse(Path::new("f"), &out) {
            Ok(values) => {
                prop_assert_eq!(values.get("INSTANCE_SECRET"), Some(&secret));
                prop_assert_eq!(values.get("CONVEX_CLOUD_ORIGIN"), Some(&url));
                prop_assert!(!values.contains_key("CONVEX_DEPLOYMENT"));
            }
            Err(e) => {
                prop_assert!(
                    dotenv::parse(Path::new("f"), &existing).is_err(),
                    "the merge made {:?} unreadable: {}", existing, e
                );
            }
        }
        // And a second merge changes nothing.
        prop_assert_eq!(dotenv::merge(Some(&out), "# managed", &entries).ok(), Some(out));
    }

    #[test]
    fn database_messages_never_hold_the_password(
        scheme in prop_oneof![Just("postgres://"), Just("postgresql://"), Just("mysql://"), Just("postgres//"), Just("postgres:/"), Just("")],
        user in "[a-z]{0,6}",
        host in "[a-z0-9.:\\[\\]%/-]{0,20}",
        rest in "[ -~]{0,20}",
    ) {
        let password = "Pw9s3cr3tXq";
        let raw = format!("{scheme}{user}:{password}@{host}{rest}");
        match db_url::normalise("DATABASE_URL", &raw) {
            Ok(db) => {
                prop_assert!(!db.masked().contains(password));
                let shown = format!("{:?}", db);
                prop_assert!(!shown.contains(password));
            }
            Err(e) => {
                prop_assert!(!e.to_string().contains(password), "{}", e);
                prop_assert_eq!(e.exit_code(), 2);
            }
        }
    }

    #[test]
    fn derived_origins_are_clean_or_refused(
        uri in "https://(\\{\\{port\\}\\}--)?[a-z@:/?#\\\\ .-]{0,30}(\\.example\\.com)?/?",
        agent in "[a-z@-]{0,6}",
        workspace in "[a-z@ -]{0,8}",
        owner in "[a-z.@-]{0,6}",
        short in any::<bool>(),
    ) {
        let inputs = UrlInputs {
            coder: true,
            vscode_proxy_uri: Some(&uri),
            agent_name: Some(&agent),
            workspace_name: Some(&workspace),
            owner_name: Some(&owner),
            slugs: Slugs::default(),
            short_labels: short,
            ..UrlInputs::default()
        };
        clean_or_refused(urls::derive(&inputs), ev::VSCODE_PROXY_URI)?;
        // Only the proxy template can be refused: without `{{port}}--` in its host the URI is
        // not Coder's, and the loopback URLs are used.
        if !uri.split('/').nth(2).is_some_and(|host| host.contains("{{port}}--")) {
            prop_assert!(urls::derive(&inputs).is_ok(), "{}", uri);
        }
    }

    #[test]
    fn manifests_and_package_json_never_panic(text in "[ -~]{0,200}") {
        if let Ok(manifest) = serde_json::from_str::<Manifest>(&text) {
            let inputs = UrlInputs { coder: true, manifest: Some(&manifest), ..UrlInputs::default() };
            clean_or_refused(urls::derive(&inputs), "the Coder agent manifest")?;
        }
        if let Ok(pkg) = serde_json::from_str::<serde_json::Value>(&text) {
            let _ = crate::project::Framework::detect(Some(&pkg));
        }
    }
}

/// Derived URLs are clean origins; a refusal is an invalid `input` (exit code 2) that says
/// which rule the URL broke.
fn clean_or_refused(
    derived: Result<PublicUrls>,
    input: &str,
) -> std::result::Result<(), TestCaseError> {
    match derived {
        Ok(found) => {
            for url in [&found.api, &found.site, &found.dashboard] {
                let parsed = url::Url::parse(url).expect("a derived URL parses");
                prop_assert!(parsed.username().is_empty() && parsed.password().is_none());
                prop_assert!(parsed.query().is_none() && parsed.fragment().is_none());
                prop_assert!(!url.contains(['@', '\\', ' ']));
            }
        }
        Err(e) => {
            prop_assert_eq!(e.exit_code(), 2, "{}", e);
            let Error::InvalidInput {
                input: named,
                message,
                ..
            } = &e
            else {
                return Err(TestCaseError::fail(format!("not an invalid input: {e:?}")));
            };
            prop_assert_eq!(named.as_str(), input);
            let reasons = [
                "which holds user info, a backslash or blanks",
                "which is not a bare origin (it has a path, query or fragment)",
                "which has an invalid host name",
                "is not a URL: ",
                "is not an absolute http(s) URL",
                "holds user info",
                "characters; DNS allows 63 and Coder fails silently beyond that",
            ];
            prop_assert!(
                reasons.iter().any(|r| message.contains(r)),
                "refused for no known reason: {}",
                message
            );
        }
    }
    Ok(())
}

/// Env files bash can source (fixed, harmless lines: bash runs what it reads).
fn bash_env_text() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just("A=1"),
            Just("C=\"multi\nINSTANCE_SECRET=inside\nline\""),
            Just("D='quoted # not a comment'"),
            Just("# comment"),
            Just("INSTANCE_SECRET=old"),
            Just("export INSTANCE_SECRET='older'"),
            Just(""),
        ],
        0..8,
    )
    .prop_map(|lines| lines.join("\n") + "\n")
}

proptest! {
    // Each case starts bash: a small batch.
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn bash_reads_what_we_write(existing in bash_env_text(), secret in managed_value()) {
        let entries = [Entry::set("INSTANCE_SECRET", secret.clone())];
        let out = dotenv::merge(Some(&existing), "# managed", &entries).expect("merge");
        let dir = tempfile::tempdir().expect("temp dir");
        fs_err::write(dir.path().join("f.env"), &out).expect("write");
        let run = std::process::Command::new("bash")
            .arg("-c")
            .arg("set -a; . ./f.env; printf %s \"$INSTANCE_SECRET\"")
            .current_dir(dir.path())
            .env_clear()
            .output()
            .expect("bash");
        prop_assert_eq!(String::from_utf8_lossy(&run.stdout).into_owned(), secret.clone());
        let parsed = dotenv::parse(Path::new("f"), &out).expect("dotenvy reads it");
        prop_assert_eq!(parsed.get("INSTANCE_SECRET"), Some(&secret));
    }
}
