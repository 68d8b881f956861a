//! The connection budget of a workspace on a shared server, and what a server can hold at
//! that budget (pure).
//!
//! Every backend keeps a pool of up to `POSTGRES_MAX_CONNECTIONS` (or `MYSQL_MAX_CONNECTIONS`)
//! connections, 128 by default (get-convex/convex-backend `crates/common/src/knobs.rs`), and
//! closes idle ones after 90 s. A stock Postgres allows 100 in all, so on a shared server the
//! pool must be sized per workspace. The default, 8, comes from what a development
//! workspace runs at once: one developer's queries and mutations (the backend admits up to
//! 16 of each, `APPLICATION_MAX_CONCURRENT_*`, but a pool connection is held only for one
//! database round trip, so a handful serve them), retention (`RETENTION_READ_PARALLEL` 4 +
//! `RETENTION_DELETE_PARALLEL` 1) and the scheduler. A smaller pool makes requests wait for
//! a connection, never fail; a stock server (97 usable connections) then holds 12
//! workspaces.

/// The budget when `CODER_CONVEX_DB_CONNECTIONS` is unset.
pub const DEFAULT_CONNECTIONS: u32 = 8;
/// The backend's own default; a larger budget is never useful.
pub const MAX_CONNECTIONS: u32 = 128;

/// `CODER_CONVEX_DB_CONNECTIONS` as given: a whole number 1–128, or the default when unset.
pub fn parse(raw: Option<&str>) -> Result<u32, String> {
    let Some(raw) = raw.map(str::trim).filter(|r| !r.is_empty()) else {
        return Ok(DEFAULT_CONNECTIONS);
    };
    match raw.parse::<u32>() {
        Ok(n) if (1..=MAX_CONNECTIONS).contains(&n) => Ok(n),
        _ => Err(format!(
            "{raw:?} is not a whole number from 1 to {MAX_CONNECTIONS}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets() {
        assert_eq!(parse(None), Ok(8));
        assert_eq!(parse(Some(" ")), Ok(8));
        assert_eq!(parse(Some("1")), Ok(1));
        assert_eq!(parse(Some(" 20 ")), Ok(20));
        assert_eq!(parse(Some("128")), Ok(128));
        for bad in ["0", "129", "-1", "8.5", "eight"] {
            assert!(parse(Some(bad)).is_err(), "{bad}");
        }
    }
}
