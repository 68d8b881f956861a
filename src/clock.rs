//! The wall clock, in one place: admin keys carry their issue time, deploy records and JWT-key
//! backups carry a timestamp, `status` shows ages.

/// Seconds since the Unix epoch (0 if the clock is before it).
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
