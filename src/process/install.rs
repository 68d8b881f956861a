//! Fetching the upstream backend: the release archive for this platform from GitHub or a
//! mirror, its sha256 checked against the pin before anything is unpacked, the executable
//! cached per release tag (`${XDG_CACHE_HOME:-~/.cache}/coder-convex/backend/<tag>/`), so a
//! second start downloads nothing.
//!
//! I/O: HTTP, the cache directory.

use std::io::Read as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest as _, Sha256};

const USER_AGENT: &str = concat!("coder-convex/", env!("CARGO_PKG_VERSION"));
use crate::env_vars as ev;
use crate::error::{Error, Result};

use super::release;

/// The largest archive accepted (upstream's are about 100 MB).
const MAX_ARCHIVE: u64 = 1 << 30;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(600);

/// Where the archive comes from and what it must hash to.
pub(crate) struct Source<'a> {
    /// The release tag (checked with [`release::is_tag`]).
    pub tag: &'a str,
    pub base_url: &'a str,
    /// A `sha256sum` file replacing the built-in pins (a mirror's own archives, tests).
    pub checksum_file: Option<&'a Path>,
}

/// The cached executable, and whether it was downloaded by this call.
pub(crate) struct Installed {
    pub path: PathBuf,
    pub downloaded: bool,
}

/// The cache directory of a release tag under the cache base (`.../coder-convex/backend`).
pub(crate) fn tag_dir(cache_base: &Path, tag: &str) -> PathBuf {
    cache_base.join(tag)
}

/// The executable of the release `source.tag`, downloaded and checked when it is not cached.
pub(crate) async fn ensure(cache_base: &Path, source: &Source<'_>) -> Result<Installed> {
    let tag = source.tag;
    let dir = tag_dir(cache_base, tag);
    let path = dir.join(release::EXECUTABLE);
    if path.is_file() {
        return Ok(Installed {
            path,
            downloaded: false,
        });
    }
    let target =
        release::target(std::env::consts::OS, std::env::consts::ARCH).ok_or_else(|| {
            Error::runtime(format!(
                "upstream publishes no convex-local-backend for {}/{}",
                std::env::consts::OS,
                std::env::consts::ARCH
            ))
            .with_hint("run the backend in containers (`up --backend containers`)")
        })?;
    let checksums = match source.checksum_file {
        Some(file) => Some(fs_err::read_to_string(file)?),
        None => None,
    };
    let archive = release::archive_name(target);
    let Some(pin) = release::pinned(target, tag, checksums.as_deref()) else {
        return Err(Error::invalid(
            ev::CODER_CONVEX_BACKEND_CHECKSUMS,
            format!("no pinned sha256 for {archive} of {tag}"),
        )
        .with_hint(format!(
            "name a checksum file (`<sha256>  {archive}` lines, from the release page) with {}",
            ev::CODER_CONVEX_BACKEND_CHECKSUMS
        )));
    };
    let url = release::url(source.base_url, tag, &archive);
    let bytes = download(&url, tag).await?;
    let sum = hex::encode(Sha256::digest(&bytes));
    if sum != pin {
        return Err(Error::runtime(format!(
            "{url} has sha256 {sum}, not the pinned {pin}; nothing was unpacked"
        ))
        .with_hint("the archive was swapped or corrupted on the way: check the mirror (--download-base-url) and the checksum file"));
    }
    fs_err::create_dir_all(&dir)?;
    let temp = tempfile::Builder::new()
        .prefix(".download-")
        .tempfile_in(&dir)
        .map_err(|e| Error::runtime_from(format!("a temporary file in {}", dir.display()), e))?;
    unpack(&bytes, release::EXECUTABLE, temp.as_file())?;
    fs_err::set_permissions(temp.path(), std::fs::Permissions::from_mode(0o755))?;
    temp.persist(&path)
        .map_err(|e| Error::runtime_from(format!("writing {}", path.display()), e.error))?;
    Ok(Installed {
        path,
        downloaded: true,
    })
}

async fn download(url: &str, tag: &str) -> Result<Vec<u8>> {
    let failed = |e: reqwest::Error| Error::runtime_from(format!("downloading {url}"), e);
    let client = reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(DOWNLOAD_TIMEOUT)
        .build()
        .map_err(failed)?;
    let mut response = client.get(url).send().await.map_err(failed)?;
    if !response.status().is_success() {
        return Err(
            Error::runtime(format!("downloading {url}: HTTP {}", response.status())).with_hint(
                format!(
                    "check the release tag {tag} (--backend-release) and the mirror (--download-base-url)"
                ),
            ),
        );
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(failed)? {
        bytes.extend_from_slice(&chunk);
        if bytes.len() as u64 > MAX_ARCHIVE {
            return Err(Error::runtime(format!(
                "{url} is larger than {MAX_ARCHIVE} bytes"
            )));
        }
    }
    Ok(bytes)
}

/// Copy one file of a zip archive into `out`.
fn unpack(bytes: &[u8], name: &str, mut out: &std::fs::File) -> Result<()> {
    let bad = |e: zip::result::ZipError| Error::runtime_from("reading the backend archive", e);
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(bad)?;
    let mut file = archive.by_name(name).map_err(bad)?;
    let mut limited = (&mut file).take(MAX_ARCHIVE);
    std::io::copy(&mut limited, &mut out)
        .map_err(|e| Error::runtime_from("unpacking the backend archive", e))?;
    Ok(())
}
