//! Talking to the backend over HTTP: the client and its admin API ([`client`]), one call's
//! failure modes and bounded body reads ([`call`]), the health wait ([`health`]), the probe
//! `setup`, `status` and `doctor` share ([`probe`]), and text the backend sent, made safe to
//! show ([`text`]). Every module here does network I/O except `text` and `call`'s types.

mod call;
mod client;
mod health;
pub(crate) mod probe;
pub(crate) mod text;

pub(crate) use call::{CallError, bounded, read_body};
pub(crate) use client::{
    BETTER_AUTH_OK_PATH, Backend, CanonicalUrls, Destination, EnvChange, PublicProbe,
    auth_discovery, better_auth_ok, loopback_client, probe_public,
};
pub(crate) use health::{WaitProgress, wait_healthy};
