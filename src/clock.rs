//! The wall clock, in one place: admin keys carry their issue time, deploy records and JWT-key
//! backups carry a timestamp, `status` shows ages.
//!
//! I/O: reads the system clock.

/// Seconds since the Unix epoch (0 if the clock is before it).
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub(crate) fn unix_now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// `42 s ago`, `5 min ago`, `3 h ago`, `2 d ago` for a time in Unix seconds.
pub(crate) fn ago(unix_s: u64) -> String {
    let secs = unix_now().saturating_sub(unix_s);
    match secs {
        0..60 => format!("{secs} s ago"),
        60..3600 => format!("{} min ago", secs / 60),
        3600..86400 => format!("{} h ago", secs / 3600),
        _ => format!("{} d ago", secs / 86400),
    }
}

/// [`ago`] for a time in Unix milliseconds.
pub(crate) fn ago_ms(unix_ms: u64) -> String {
    ago(unix_ms / 1000)
}
