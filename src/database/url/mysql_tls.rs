//! TLS parameters in a MySQL URL (pure). The backend ignores them: unless `DO_NOT_REQUIRE_SSL`
//! is set it appends `require_ssl=true&verify_ca=true` itself, and its root certificates come
//! from `MYSQL_CA_FILE`. So a `require_ssl=false` in the URL does not turn TLS off, and a
//! `verify_ca=false` does not stop verification. They are moved out of the URL into the
//! variables that really decide, with a note that says so.

/// What the URL's TLS parameters asked for.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct MysqlTls {
    /// `Some(true)`: TLS asked for; `Some(false)`: TLS turned off; `None`: nothing said.
    pub(super) require: Option<bool>,
    /// A CA file (`ssl-ca`), for `MYSQL_CA_FILE`.
    pub(super) ca_file: Option<String>,
    /// The parameters that were removed, as written (for the note).
    moved: Vec<String>,
    /// `verify_ca=false` or `verify_identity=false`: the backend verifies anyway.
    no_verify: bool,
}

/// A query parameter, split at its `=`.
type Param<'a> = (&'a str, &'a str);

/// Split the TLS parameters off `params`; the rest keep their order.
pub(super) fn split<'a>(params: &[Param<'a>]) -> Result<(Vec<Param<'a>>, MysqlTls), String> {
    let mut tls = MysqlTls::default();
    let mut kept = Vec::with_capacity(params.len());
    for &(k, v) in params {
        match k {
            "require_ssl" => tls.require = Some(v == "true"),
            "sslmode" | "ssl-mode" | "ssl_mode" => {
                tls.require = Some(match v.to_ascii_uppercase().as_str() {
                    "DISABLED" | "DISABLE" | "PREFERRED" | "PREFER" => false,
                    "REQUIRED" | "REQUIRE" | "VERIFY_CA" | "VERIFY_IDENTITY" => true,
                    _ => {
                        return Err(format!(
                            "{k}={v} is not an SSL mode (DISABLED, PREFERRED, REQUIRED, VERIFY_CA, VERIFY_IDENTITY)"
                        ));
                    }
                });
            }
            "verify_ca" | "verify_identity" => tls.no_verify |= v == "false",
            "built_in_roots" => {}
            "ssl-ca" | "ssl_ca" => {
                let path = percent_encoding::percent_decode_str(v)
                    .decode_utf8_lossy()
                    .into_owned();
                if path.is_empty() {
                    return Err(format!("{k}= names no file"));
                }
                tls.ca_file = Some(path);
            }
            _ => {
                kept.push((k, v));
                continue;
            }
        }
        tls.moved.push(format!("{k}={v}"));
    }
    Ok((kept, tls))
}

impl MysqlTls {
    /// The warning for `var`, given the TLS decision taken (`do_not_require_ssl`).
    pub(super) fn notes(&self, var: &str, do_not_require_ssl: bool) -> Vec<String> {
        if self.moved.is_empty() {
            return Vec::new();
        }
        let decision = if do_not_require_ssl {
            "DO_NOT_REQUIRE_SSL=1 (no TLS)"
        } else {
            "TLS with certificate verification (DO_NOT_REQUIRE_SSL unset)"
        };
        let mut note = format!(
            "{var}: moved {} out of the URL: the backend ignores TLS parameters in a MySQL URL and decides from DO_NOT_REQUIRE_SSL; using {decision}",
            self.moved.join(", ")
        );
        if let Some(ca) = &self.ca_file {
            note.push_str(&format!("; the CA file {ca} goes to MYSQL_CA_FILE"));
        }
        if self.no_verify && !do_not_require_ssl {
            note.push_str(
                "; the backend verifies the server certificate whatever verify_ca says: give the CA in MYSQL_CA_FILE",
            );
        }
        vec![note]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_parameters_are_moved_out() {
        let (kept, tls) = split(&[
            ("a", "1"),
            ("require_ssl", "false"),
            ("verify_ca", "true"),
            ("b", "2"),
        ])
        .unwrap();
        assert_eq!(kept, [("a", "1"), ("b", "2")]);
        assert_eq!(tls.require, Some(false));
        let notes = tls.notes("MYSQL_URL", true);
        assert_eq!(notes.len(), 1);
        assert!(
            notes[0].contains("require_ssl=false, verify_ca=true"),
            "{notes:?}"
        );
        assert!(notes[0].contains("DO_NOT_REQUIRE_SSL=1"), "{notes:?}");

        let (_, tls) = split(&[
            ("ssl-mode", "VERIFY_IDENTITY"),
            ("ssl-ca", "%2Fetc%2Fca.pem"),
        ])
        .unwrap();
        assert_eq!(tls.require, Some(true));
        assert_eq!(tls.ca_file.as_deref(), Some("/etc/ca.pem"));
        assert!(tls.notes("MYSQL_URL", false)[0].contains("MYSQL_CA_FILE"));

        let (_, tls) = split(&[("verify_ca", "false")]).unwrap();
        assert_eq!(tls.require, None);
        assert!(tls.notes("MYSQL_URL", false)[0].contains("whatever verify_ca says"));

        let (kept, tls) = split(&[("prefer_socket", "false")]).unwrap();
        assert_eq!(kept.len(), 1);
        assert!(tls.notes("MYSQL_URL", false).is_empty());
        assert!(split(&[("ssl-mode", "sometimes")]).is_err());
    }
}
