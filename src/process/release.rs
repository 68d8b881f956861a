//! The upstream `convex-local-backend` release this build runs: its tag, the archive for this
//! platform (named as the Convex CLI names it), its download URL and the pinned sha256 of
//! every archive of the tag. A checksum file (`sha256sum` format) may replace the table, for a
//! mirror that repackages the archives.
//!
//! Pure.

/// The release tag: the same backend as the container image `up` runs
/// (`containers/compose/docker-compose.yml`).
pub const TAG: &str = "precompiled-2026-08-21-652b828";

/// Where the Convex CLI downloads release archives from; `--download-base-url` replaces it.
pub const DEFAULT_BASE_URL: &str = "https://github.com/get-convex/convex-backend/releases/download";

/// The executable inside the archive.
pub const EXECUTABLE: &str = "convex-local-backend";

/// The pinned sha256 of each archive of [`TAG`], by target. `None`: not pinned yet. The
/// values come from the release page and are filled in by a maintainer when the tag moves;
/// until then only a checksum file (`CODER_CONVEX_BACKEND_CHECKSUMS`) lets `up` use it.
pub const PINS: &[(&str, Option<&str>)] = &[
    ("x86_64-unknown-linux-gnu", None),
    ("aarch64-unknown-linux-gnu", None),
    ("x86_64-apple-darwin", None),
    ("aarch64-apple-darwin", None),
];

/// The Rust target triple of the archive for an OS and architecture (`std::env::consts`).
pub fn target(os: &str, arch: &str) -> Option<&'static str> {
    match (os, arch) {
        ("linux", "x86_64") => Some("x86_64-unknown-linux-gnu"),
        ("linux", "aarch64") => Some("aarch64-unknown-linux-gnu"),
        ("macos", "x86_64") => Some("x86_64-apple-darwin"),
        ("macos", "aarch64") => Some("aarch64-apple-darwin"),
        _ => None,
    }
}

/// `convex-local-backend-<target>.zip`.
pub fn archive_name(target: &str) -> String {
    format!("{EXECUTABLE}-{target}.zip")
}

/// `<base>/<tag>/<archive>`.
pub fn url(base: &str, tag: &str, archive: &str) -> String {
    format!("{}/{tag}/{archive}", base.trim_end_matches('/'))
}

/// Whether `tag` is an upstream release tag (`precompiled-…`, lowercase letters, digits and
/// `-`): it becomes a path segment of the URL and of the cache directory.
pub fn is_tag(tag: &str) -> bool {
    tag.strip_prefix("precompiled-").is_some_and(|rest| {
        !rest.is_empty()
            && rest.len() <= 80
            && rest
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    })
}

/// The pinned checksum of an archive of `tag`: from the checksum file when one is given (lines
/// `<sha256>  <archive name>`, `*` before the name allowed), else from [`PINS`] (which pin
/// [`TAG`] only).
pub fn pinned(target: &str, tag: &str, checksum_file: Option<&str>) -> Option<String> {
    let archive = archive_name(target);
    match checksum_file {
        Some(text) => text.lines().find_map(|line| {
            let mut parts = line.split_whitespace();
            let (sum, name) = (parts.next()?, parts.next()?);
            (name.trim_start_matches('*') == archive && is_sha256(sum))
                .then(|| sum.to_ascii_lowercase())
        }),
        None if tag != TAG => None,
        None => PINS
            .iter()
            .find(|(t, _)| *t == target)
            .and_then(|(_, sum)| sum.map(str::to_owned)),
    }
}

fn is_sha256(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_urls_follow_the_convex_cli() {
        assert_eq!(target("linux", "x86_64"), Some("x86_64-unknown-linux-gnu"));
        assert_eq!(target("macos", "aarch64"), Some("aarch64-apple-darwin"));
        assert_eq!(target("windows", "x86_64"), None);
        assert_eq!(
            url(
                DEFAULT_BASE_URL,
                TAG,
                &archive_name("x86_64-unknown-linux-gnu")
            ),
            format!(
                "https://github.com/get-convex/convex-backend/releases/download/{TAG}/convex-local-backend-x86_64-unknown-linux-gnu.zip"
            )
        );
        assert_eq!(url("http://m/x/", "t", "a.zip"), "http://m/x/t/a.zip");
    }

    #[test]
    fn a_tag_is_one_safe_path_segment() {
        assert!(is_tag(TAG));
        assert!(is_tag("precompiled-2026-09-01-abcdef0"));
        for bad in [
            "",
            "precompiled-",
            "latest",
            "precompiled-../x",
            "precompiled-2026/x",
            "precompiled-ABC",
            "precompiled-a b",
        ] {
            assert!(!is_tag(bad), "{bad:?}");
        }
    }

    #[test]
    fn a_checksum_file_replaces_the_table() {
        let sum = "ab".repeat(32);
        let file = format!(
            "# mirror\n{}  other.zip\n{sum} *convex-local-backend-x86_64-unknown-linux-gnu.zip\n",
            "cd".repeat(32)
        );
        assert_eq!(
            pinned("x86_64-unknown-linux-gnu", TAG, Some(&file)),
            Some(sum.clone())
        );
        assert_eq!(
            pinned(
                "x86_64-unknown-linux-gnu",
                "precompiled-2026-09-01-abcdef0",
                Some(&file)
            ),
            Some(sum)
        );
        assert_eq!(pinned("aarch64-apple-darwin", TAG, Some(&file)), None);
        assert_eq!(
            pinned(
                "x86_64-unknown-linux-gnu",
                TAG,
                Some("nothex  convex-local-backend-x86_64-unknown-linux-gnu.zip")
            ),
            None
        );
    }
}
