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
        sed -n '2,27s/^# \{0,1\}//p' "$0"
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
redact_url() {
    printf '%s\n' "${1%%[?#]*}" | sed 's#^\([A-Za-z][A-Za-z0-9+.-]*://\)[^/@]*@#\1#'
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
cleanup() {
    if [ -n "$tmp" ]; then
        rm -rf "$tmp"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Copy into place atomically: a running coder-convex keeps its old inode.
put_in_place() {
    mkdir -p "$install_dir" || die "cannot create $install_dir" "set CODER_CONVEX_INSTALL_DIR to a writable directory"
    staged=$install_dir/.$bin_name.new.$$
    cp "$1" "$staged"
    chmod 0755 "$staged"
    if ! suitable "$staged"; then
        rm -f "$staged"
        die "the new $bin_name does not run, or is not version ${want:-?} (it says: ${found_version:-nothing})" \
            "check CODER_CONVEX_VERSION against what the source provides; nothing was replaced"
    fi
    mv -f "$staged" "$install_dir/$bin_name"
    say "installed $bin_name $found_version to $install_dir"
    case ":$PATH:" in
    *":$install_dir:"*) ;;
    *) say "note: $install_dir is not on PATH; add it, e.g. in ~/.profile" ;;
    esac
}

download() {
    if command -v curl >/dev/null 2>&1; then
        curl -fsSL --retry 3 --connect-timeout 20 -o "$2" "$1"
    elif command -v wget >/dev/null 2>&1; then
        wget -q -T 20 -t 3 -O "$2" "$1"
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
        found=$(find "$tmp/unpacked" -type f -name "$bin_name" | head -n 1)
        [ -n "$found" ] || die "$shown holds no file named $bin_name"
        ;;
    *)
        found=$tmp/download
        chmod 0755 "$found"
        ;;
    esac
    put_in_place "$found"
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
    put_in_place "$tmp/cargo/bin/$bin_name"
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
    if [ "$os" = linux ]; then
        for loader in /lib/ld-musl-*.so.1; do
            [ -e "$loader" ] &&
                die "the prebuilt $bin_name needs glibc, and this system uses musl ($loader)" \
                    "build it: set CODER_CONVEX_GIT_URL (needs Rust)"
        done
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
        integrity=$(npm view "$package@$want" dist.integrity --registry "$registry/" 2>/dev/null) &&
        [ -n "$integrity" ]; then
        tarball=$(npm view "$package@$want" dist.tarball --registry "$registry/" 2>/dev/null)
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
    [ -f "$tmp/unpacked/package/bin/$bin_name" ] || die "$package@$want holds no bin/$bin_name"
    put_in_place "$tmp/unpacked/package/bin/$bin_name"
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
