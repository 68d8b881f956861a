#!/bin/sh
# Install coder-convex. Safe to run on every workspace start: it does nothing when the wanted
# binary is already installed.
#
#   sh install.sh [--version X.Y.Z]
#
# Order:
#   1. a `coder-convex` on PATH or in the install directory, of the wanted version: nothing to do;
#   2. a prebuilt binary from CODER_CONVEX_RELEASE_URL, verified against CODER_CONVEX_SHA256;
#   3. `cargo install --path CODER_CONVEX_SOURCE_DIR` (a checkout of this repository);
#   4. `cargo install --git CODER_CONVEX_GIT_URL` (tag `v<version>` when a version is given);
#   5. by default: the platform package `coder-convex-<os>-<cpu>` from the npm registry this
#      machine uses (`npm config get registry`, so mirrors work; https://registry.npmjs.org/
#      without npm), its tarball checked against the registry's sha512 integrity before unpacking.
#
# Environment:
#   CODER_CONVEX_VERSION      wanted version (--version wins); npm installs default to the version
#                             below, the other sources to any installed version
#   CODER_CONVEX_NPM_REGISTRY registry URL for the npm source (default: npm's own setting)
#   CODER_CONVEX_RELEASE_URL  URL of the binary, or of a .tar.gz holding it
#   CODER_CONVEX_SHA256       sha256 of that download (required with the URL)
#   CODER_CONVEX_SOURCE_DIR   local checkout to build
#   CODER_CONVEX_GIT_URL      git repository to build
#   CODER_CONVEX_INSTALL_DIR  where the binary goes (default ~/.local/bin)
#   CODER_CONVEX_CONNECT_TIMEOUT  seconds to connect to a server (default 20)
#   CODER_CONVEX_DOWNLOAD_TIMEOUT seconds for one download, start to end (default 300)

set -eu

bin_name=coder-convex

say() { printf 'install: %s\n' "$*" >&2; }
die() {
    say "error: $1"
    if [ "$#" -ge 2 ]; then
        say "hint: $2"
    fi
    exit 1
}

# The release this script belongs to; a test keeps it equal to the crate version.
pinned_version=0.1.0

want=${CODER_CONVEX_VERSION:-}
while [ "$#" -gt 0 ]; do
    case $1 in
    --version)
        [ "$#" -ge 2 ] || die "--version needs a value, e.g. --version $pinned_version"
        want=$2
        shift 2
        ;;
    --version=*)
        want=${1#--version=}
        shift
        ;;
    -h | --help)
        sed -n '2,29s/^# \{0,1\}//p' "$0"
        exit 0
        ;;
    *) die "unknown argument: $1" "usage: sh install.sh [--version X.Y.Z]" ;;
    esac
done
want=${want#v}
case $want in
'' | [0-9]*.[0-9]*.[0-9]*) ;;
*) die "not a version: $want" "give a release version such as $pinned_version" ;;
esac
release_url=${CODER_CONVEX_RELEASE_URL:-}
release_sha=${CODER_CONVEX_SHA256:-}
source_dir=${CODER_CONVEX_SOURCE_DIR:-}
git_url=${CODER_CONVEX_GIT_URL:-}
install_dir=${CODER_CONVEX_INSTALL_DIR:-${HOME:?HOME is not set}/.local/bin}
npm_registry=${CODER_CONVEX_NPM_REGISTRY:-}
connect_timeout=${CODER_CONVEX_CONNECT_TIMEOUT:-20}
download_timeout=${CODER_CONVEX_DOWNLOAD_TIMEOUT:-300}
for seconds in "$connect_timeout" "$download_timeout"; do
    case $seconds in
    '' | *[!0-9]* | 0) die "not a number of seconds: $seconds" "set CODER_CONVEX_CONNECT_TIMEOUT and CODER_CONVEX_DOWNLOAD_TIMEOUT to whole seconds" ;;
    esac
done

# Which source an install would use; npm, the default, always installs a pinned version.
if [ -n "$release_url" ]; then
    source_kind=release
elif [ -n "$source_dir" ] || [ -n "$git_url" ]; then
    source_kind=cargo
else
    source_kind=npm
    want=${want:-$pinned_version}
fi

# URLs may carry credentials (user info, signed query strings): log scheme, host and path only.
# The user part ends at the last `@` before the path, so a raw `@` in a password goes with it.
# The same rule, word for word, in every script that logs a URL (a test keeps them equal).
redact_url() {
    printf '%s\n' "$1" | sed -e 's|^\([A-Za-z][A-Za-z0-9+.-]*://\)[^/]*@|\1|' -e 's|[?#].*||'
}

# `coder-convex 0.1.0` -> `0.1.0`
version_of() {
    "$1" --version 2>/dev/null | sed -n 's/^coder-convex[[:space:]][[:space:]]*v\{0,1\}\([^[:space:]]*\).*/\1/p'
}

# Succeeds when $1 is a working binary of the wanted version.
suitable() {
    found_version=
    [ -x "$1" ] || return 1
    found_version=$(version_of "$1")
    [ -n "$found_version" ] || return 1
    [ -z "$want" ] || [ "$found_version" = "$want" ]
}

tmp=
staged=
cleanup() {
    if [ -n "$staged" ]; then
        rm -f "$staged"
    fi
    if [ -n "$tmp" ]; then
        rm -rf "$tmp"
    fi
}
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

# Copy into place atomically: a running coder-convex keeps its old inode.
# $1 must be the regular file that was verified: not a symlink, nor a hard link (a tar entry of
# either kind can point outside the archive).
put_in_place() {
    if [ -L "$1" ] || [ ! -f "$1" ]; then
        die "$2 is not a regular file (a symlink or something else)" "the package is malformed or tampered with; nothing was installed"
    fi
    # shellcheck disable=SC2012 # the link count; ls -l is the portable way to it
    links=$(ls -ld "$1" | awk '{ print $2 }')
    if [ "$links" != 1 ]; then
        die "$2 is a hard link ($links names for one file)" "the package is malformed or tampered with; nothing was installed"
    fi
    target=$install_dir/$bin_name
    if [ -d "$target" ] && [ ! -L "$target" ]; then
        die "$target is a directory, not a file" "remove it (or set CODER_CONVEX_INSTALL_DIR to another directory), then run this again"
    fi
    mkdir -p "$install_dir" 2>/dev/null || die "cannot create $install_dir" "set CODER_CONVEX_INSTALL_DIR to a writable directory"
    staged=$install_dir/.$bin_name.new.$$
    if ! cp "$1" "$staged" 2>/dev/null || ! chmod 0755 "$staged"; then
        die "cannot write to $install_dir (read-only, or not yours?)" \
            "set CODER_CONVEX_INSTALL_DIR to a directory you can write to, e.g. \$HOME/.local/bin, and put it on PATH"
    fi
    if ! suitable "$staged"; then
        die "the new $bin_name does not run, or is not version ${want:-?} (it says: ${found_version:-nothing})" \
            "check CODER_CONVEX_VERSION against what the source provides; nothing was replaced"
    fi
    mv -f "$staged" "$target" || die "cannot replace $target" "check the permissions of $install_dir"
    staged=
    say "installed $bin_name $found_version to $install_dir"
    case ":$PATH:" in
    *":$install_dir:"*) ;;
    *) say "note: $install_dir is not on PATH; add it, e.g. in ~/.profile" ;;
    esac
}

# Every download is bounded: connecting, and start to end (a server that accepts and then goes
# quiet must not hold a workspace's start forever). wget has no overall limit of its own: it
# runs under `timeout` (coreutils or busybox) when there is one, with a read timeout anyway.
download() {
    if command -v curl >/dev/null 2>&1; then
        curl -fsSL --retry 2 --connect-timeout "$connect_timeout" --max-time "$download_timeout" -o "$2" "$1"
    elif command -v wget >/dev/null 2>&1; then
        if command -v timeout >/dev/null 2>&1; then
            timeout "$download_timeout" wget -q -T "$connect_timeout" -t 1 -O "$2" "$1"
        else
            wget -q -T "$connect_timeout" -t 1 -O "$2" "$1"
        fi
    else
        die "neither curl nor wget is installed" "install one of them, or build with cargo instead"
    fi
}

sha256_of() {
    if command -v sha256sum >/dev/null 2>&1; then
        sha256sum "$1" | cut -d ' ' -f 1
    elif command -v shasum >/dev/null 2>&1; then
        shasum -a 256 "$1" | cut -d ' ' -f 1
    elif command -v openssl >/dev/null 2>&1; then
        openssl dgst -sha256 "$1" | sed 's/^.*= *//'
    else
        die "no sha256 tool (sha256sum, shasum or openssl) to verify the download"
    fi
}

install_release() {
    shown=$(redact_url "$release_url")
    [ -n "$release_sha" ] ||
        die "CODER_CONVEX_RELEASE_URL is set but CODER_CONVEX_SHA256 is not" \
            "set CODER_CONVEX_SHA256 to the sha256 published with the release"
    say "downloading $shown"
    download "$release_url" "$tmp/download" ||
        die "download of $shown failed" "check the URL and the network, or unset CODER_CONVEX_RELEASE_URL to install from npm"
    expected=$(printf '%s' "$release_sha" | tr 'A-F' 'a-f')
    actual=$(sha256_of "$tmp/download")
    [ "$actual" = "$expected" ] ||
        die "sha256 mismatch for $shown (got $actual)" \
            "the file changed or CODER_CONVEX_SHA256 is wrong; nothing was installed"
    case $shown in
    *.tar.gz | *.tgz)
        mkdir "$tmp/unpacked"
        tar -xzf "$tmp/download" -C "$tmp/unpacked" ||
            die "cannot unpack $shown" "the release should be a .tar.gz holding $bin_name"
        found=$(find "$tmp/unpacked" -name "$bin_name" ! -type d | head -n 1)
        [ -n "$found" ] || die "$shown holds no file named $bin_name"
        ;;
    *)
        found=$tmp/download
        chmod 0755 "$found"
        ;;
    esac
    put_in_place "$found" "$bin_name in $shown"
}

find_cargo() {
    if command -v cargo >/dev/null 2>&1; then
        command -v cargo
    elif [ -x "$HOME/.cargo/bin/cargo" ]; then
        printf '%s\n' "$HOME/.cargo/bin/cargo"
    else
        return 1
    fi
}

install_with_cargo() {
    cargo=$(find_cargo) ||
        die "cargo is not installed, and CODER_CONVEX_SOURCE_DIR or CODER_CONVEX_GIT_URL asks for a build" \
            "install Rust (https://rustup.rs), or unset both to install the prebuilt binary from npm"
    # --root in a temp dir: the binary then goes to our install dir, wherever that is.
    if [ -n "$source_dir" ]; then
        [ -f "$source_dir/Cargo.toml" ] ||
            die "CODER_CONVEX_SOURCE_DIR=$source_dir has no Cargo.toml" "point it at a checkout of coder-convex"
        say "building $bin_name from $source_dir with cargo (a few minutes on first run)"
        "$cargo" install --quiet --locked --path "$source_dir" --root "$tmp/cargo" ||
            die "cargo install from $source_dir failed" "see the compiler output above"
    else
        shown=$(redact_url "$git_url")
        say "building $bin_name from $shown${want:+ (v$want)} with cargo (a few minutes on first run)"
        if [ -n "$want" ]; then
            "$cargo" install --quiet --locked --git "$git_url" --tag "v$want" --root "$tmp/cargo" "$bin_name"
        else
            "$cargo" install --quiet --locked --git "$git_url" --root "$tmp/cargo" "$bin_name"
        fi || die "cargo install from $shown failed" "see the output above; check CODER_CONVEX_GIT_URL and network access"
    fi
    put_in_place "$tmp/cargo/bin/$bin_name" "the $bin_name cargo built"
}

# The system's own C library, not whichever loaders happen to be installed: Debian's `musl`
# package (pulled in by musl-tools, common in Rust images) puts /lib/ld-musl-*.so.1 on a glibc
# system. glibc's getconf knows GNU_LIBC_VERSION and its ldd names GNU libc; musl's ldd says
# musl. Without either tool: musl when its loader is there and glibc's is not.
system_libc_is_musl() {
    if getconf GNU_LIBC_VERSION >/dev/null 2>&1; then
        return 1
    fi
    case $(ldd --version 2>&1 || true) in
    *musl*) return 0 ;;
    *GNU* | *GLIBC* | *glibc*) return 1 ;;
    esac
    for loader in /lib/ld-musl-*.so.1; do
        [ -e "$loader" ] || continue
        for glibc in /lib/ld-linux*.so.* /lib64/ld-linux*.so.*; do
            [ -e "$glibc" ] && return 1
        done
        return 0
    done
    return 1
}

# npm's name for this machine's platform: linux-x64, linux-arm64, darwin-x64, darwin-arm64.
npm_platform() {
    case $(uname -s) in
    Linux) os=linux ;;
    Darwin) os=darwin ;;
    *) die "no prebuilt $bin_name for $(uname -s)" "build it: set CODER_CONVEX_GIT_URL (needs Rust)" ;;
    esac
    case $(uname -m) in
    x86_64 | amd64) cpu=x64 ;;
    aarch64 | arm64) cpu=arm64 ;;
    *) die "no prebuilt $bin_name for $(uname -m)" "build it: set CODER_CONVEX_GIT_URL (needs Rust)" ;;
    esac
    if [ "$os" = linux ] && system_libc_is_musl; then
        die "the prebuilt $bin_name needs glibc, and this system's C library is musl" \
            "build it: set CODER_CONVEX_GIT_URL (needs Rust)"
    fi
    printf '%s-%s\n' "$os" "$cpu"
}

# A top-level string field of a JSON document, e.g. "integrity"; the version document of an
# npm package has exactly one of each field used here.
json_field() {
    # shellcheck disable=SC2020 # one newline per separator, on purpose
    tr ',{}' '\n\n\n' <"$2" | sed -n "s/^[[:space:]]*\"$1\"[[:space:]]*:[[:space:]]*\"\([^\"]*\)\".*/\1/p" | head -n 1
}

# sha512 of a file, lowercase hex.
sha512_of() {
    if command -v sha512sum >/dev/null 2>&1; then
        sha512sum "$1" | cut -d ' ' -f 1
    elif command -v shasum >/dev/null 2>&1; then
        shasum -a 512 "$1" | cut -d ' ' -f 1
    elif command -v openssl >/dev/null 2>&1; then
        openssl dgst -sha512 -r "$1" | cut -d ' ' -f 1
    else
        die "no sha512 tool (sha512sum, shasum or openssl) to verify the download"
    fi
}

# An npm integrity string (`sha512-<base64>`) as lowercase hex.
integrity_hex() {
    printf '%s' "${1#sha512-}" | { base64 -d 2>/dev/null || openssl base64 -d -A; } | od -An -v -tx1 | tr -d ' \n'
}

# `npm view` with the same bounds as a download.
npm_view() {
    npm view "$package@$want" "$1" --registry "$registry/" --fetch-retries 1 \
        --fetch-timeout "$((download_timeout * 1000))" 2>/dev/null
}

install_npm() {
    platform=$(npm_platform)
    package=$bin_name-$platform
    registry=$npm_registry
    if [ -z "$registry" ] && command -v npm >/dev/null 2>&1; then
        registry=$(npm config get registry 2>/dev/null || true)
    fi
    registry=${registry:-https://registry.npmjs.org/}
    registry=${registry%/}
    shown=$(redact_url "$registry")
    say "installing $package@$want from the npm registry $shown"
    # The version document (GET /<name>/<version>); registries without that route: npm view.
    if download "$registry/$package/$want" "$tmp/version.json" 2>/dev/null; then
        integrity=$(json_field integrity "$tmp/version.json")
        tarball=$(json_field tarball "$tmp/version.json")
    elif command -v npm >/dev/null 2>&1 &&
        integrity=$(npm_view dist.integrity) &&
        [ -n "$integrity" ]; then
        tarball=$(npm_view dist.tarball)
    else
        die "$package@$want is not available from $shown" \
            "check the version (--version), the registry (npm config get registry, or CODER_CONVEX_NPM_REGISTRY) and the network"
    fi
    case $integrity in
    sha512-?*) ;;
    *) die "the registry gave no sha512 integrity for $package@$want" "the registry at $shown is not a full npm registry" ;;
    esac
    [ -n "$tarball" ] || die "the registry gave no tarball URL for $package@$want"
    download "$tarball" "$tmp/package.tgz" || die "download of $(redact_url "$tarball") failed" "check the network and retry"
    expected=$(integrity_hex "$integrity")
    actual=$(sha512_of "$tmp/package.tgz")
    if [ -z "$expected" ] || [ "$actual" != "$expected" ]; then
        die "integrity check failed for $(redact_url "$tarball"): it is not the tarball the registry published as $package@$want" \
            "something between here and the registry changed it (a proxy or mirror?); nothing was installed"
    fi
    say "verified $package-$want.tgz against the registry's sha512 integrity"
    mkdir "$tmp/unpacked"
    tar -xzf "$tmp/package.tgz" -C "$tmp/unpacked" || die "cannot unpack $package-$want.tgz"
    for dir in "$tmp/unpacked/package" "$tmp/unpacked/package/bin"; do
        if [ -L "$dir" ]; then
            die "${dir#"$tmp/unpacked/"} in $package-$want.tgz is a symlink" "the package is malformed or tampered with; nothing was installed"
        fi
    done
    [ -e "$tmp/unpacked/package/bin/$bin_name" ] || [ -L "$tmp/unpacked/package/bin/$bin_name" ] ||
        die "$package@$want holds no bin/$bin_name"
    put_in_place "$tmp/unpacked/package/bin/$bin_name" "bin/$bin_name in $package-$want.tgz"
}

# 1. Already installed?
for candidate in "$(command -v "$bin_name" 2>/dev/null || true)" "$install_dir/$bin_name"; do
    [ -n "$candidate" ] || continue
    if suitable "$candidate"; then
        say "$bin_name $found_version is already installed ($candidate); nothing to do"
        exit 0
    elif [ -n "$found_version" ]; then
        say "found $candidate ($found_version), but version $want is wanted"
    fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/coder-convex-install.XXXXXX")

case $source_kind in
release) install_release ;;
cargo) install_with_cargo ;;
npm) install_npm ;;
esac
