//! One deadline per command. `--wait` (`setup`, `env-set`, `deploy`) or `--timeout`
//! (`status`, `doctor`, `admin-key --check`) starts when the command starts and bounds the
//! project lock wait, every backend request and every retry: a request may take the smaller
//! of its own cap and what is left, and no retry starts after the deadline.
//!
//! Pure but for reading the monotonic clock.

use std::time::{Duration, Instant};

/// When the command must be done talking to the backend, and the flag that set it (for
/// messages such as "no answer before the deadline (--wait 3 s)").
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline {
    at: Instant,
    budget: Duration,
    flag: &'static str,
}

/// A budget too large for `Instant` (`--wait 18446744073709551615`) is a century.
const FOREVER: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

impl Deadline {
    /// `budget` from now; `flag` names the option that set it.
    pub(crate) fn after(budget: Duration, flag: &'static str) -> Self {
        let now = Instant::now();
        let at = now
            .checked_add(budget)
            .unwrap_or_else(|| now + budget.min(FOREVER));
        Self { at, budget, flag }
    }

    /// `secs` from now, as a flag gives it.
    pub(crate) fn after_secs(secs: u64, flag: &'static str) -> Self {
        Self::after(Duration::from_secs(secs), flag)
    }

    pub(crate) fn remaining(&self) -> Duration {
        self.at.saturating_duration_since(Instant::now())
    }

    pub(crate) fn expired(&self) -> bool {
        self.remaining().is_zero()
    }

    /// The whole budget, as given.
    pub(crate) fn budget(&self) -> Duration {
        self.budget
    }

    /// The option that set the deadline (`--wait`, `--timeout`).
    pub(crate) fn flag(&self) -> &'static str {
        self.flag
    }

    /// How long a step may take: its own cap, or less when the deadline is nearer.
    pub(crate) fn cap(&self, cap: Duration) -> Duration {
        cap.min(self.remaining())
    }
}

/// `--wait 3 s`.
impl std::fmt::Display for Deadline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} s", self.flag, self.budget.as_secs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_are_limited_by_what_is_left() {
        let d = Deadline::after_secs(10, "--wait");
        assert_eq!(d.cap(Duration::from_secs(1)), Duration::from_secs(1));
        assert!(d.cap(Duration::from_secs(60)) <= Duration::from_secs(10));
        assert!(d.cap(Duration::from_secs(60)) > Duration::from_secs(9));
        assert!(!d.expired());
        assert_eq!(d.to_string(), "--wait 10 s");
    }

    #[test]
    fn a_zero_budget_is_expired_and_a_huge_one_does_not_overflow() {
        let zero = Deadline::after_secs(0, "--timeout");
        assert!(zero.expired());
        assert_eq!(zero.cap(Duration::from_secs(3)), Duration::ZERO);
        let huge = Deadline::after_secs(u64::MAX, "--wait");
        assert!(!huge.expired());
        assert_eq!(huge.budget(), Duration::from_secs(u64::MAX));
    }
}
