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

use serde::Serialize;

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

/// What a server says about its connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// `max_connections`.
    pub max_connections: u32,
    /// Connections within `max_connections` only superusers (or `pg_use_reserved_connections`)
    /// may take: Postgres's `superuser_reserved_connections` + `reserved_connections` (16+).
    pub reserved: u32,
    /// Connections open now (client connections; this one included).
    pub in_use: u32,
}

/// Whether the budgets on the server fit its connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Load {
    /// Room for at least one more workspace at the budget.
    Fits,
    /// The budgets fit, but one more workspace would not.
    Full,
    /// The budgets add up to more than the usable connections.
    OverCommitted,
}

/// The capacity figures `db list` and `doctor` print.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Capacity {
    pub max_connections: u32,
    pub reserved: u32,
    /// `max_connections - reserved`: what the workspaces' backends may open.
    pub usable: u32,
    pub in_use: u32,
    /// The budget the figures are for (each workspace's pool size).
    pub budget: u32,
    /// How many workspaces the server holds at `budget`.
    pub holds: u32,
    /// Workspace databases on the server.
    pub workspaces: u32,
    /// Their budgets added up (a marker without one counts at `budget`).
    pub committed: u32,
    /// Workspace databases whose marker records no budget.
    pub unknown_budgets: u32,
    /// How many more workspaces fit at `budget`.
    pub room: u32,
    pub load: Load,
}

/// The figures for a server with `limits` holding workspaces with `budgets` (`None`: the
/// marker records none), asked about `budget`.
pub fn capacity(limits: Limits, budgets: &[Option<u32>], budget: u32) -> Capacity {
    let budget = budget.max(1);
    let usable = limits.max_connections.saturating_sub(limits.reserved);
    let committed = budgets
        .iter()
        .map(|b| b.unwrap_or(budget))
        .fold(0u32, u32::saturating_add);
    let free = usable.saturating_sub(committed);
    let load = if committed > usable {
        Load::OverCommitted
    } else if free < budget {
        Load::Full
    } else {
        Load::Fits
    };
    Capacity {
        max_connections: limits.max_connections,
        reserved: limits.reserved,
        usable,
        in_use: limits.in_use,
        budget,
        holds: usable / budget,
        workspaces: u32::try_from(budgets.len()).unwrap_or(u32::MAX),
        committed,
        unknown_budgets: u32::try_from(budgets.iter().filter(|b| b.is_none()).count())
            .unwrap_or(u32::MAX),
        room: free / budget,
        load,
    }
}

impl Capacity {
    /// One plain sentence with every figure.
    pub fn summary(&self) -> String {
        let unknown = match self.unknown_budgets {
            0 => String::new(),
            n => format!(
                ", {n} of them without a recorded budget, counted at {}",
                self.budget
            ),
        };
        let load = match self.load {
            Load::Fits => format!("room for {} more", self.room),
            Load::Full => "room for no more".to_owned(),
            Load::OverCommitted => format!(
                "over-committed by {} connections",
                self.committed - self.usable
            ),
        };
        format!(
            "max_connections {}, {} reserved, {} usable, {} in use now; at {} connections per workspace the server holds {} workspaces; workspace databases: {}, their budgets totalling {}{unknown}; {load}",
            self.max_connections,
            self.reserved,
            self.usable,
            self.in_use,
            self.budget,
            self.holds,
            self.workspaces,
            self.committed,
        )
    }

    /// The fixes, when the server is full or over-committed.
    pub fn hint(&self) -> Option<String> {
        // Room for the workspaces there are, plus one more when full.
        let wanted = match self.load {
            Load::Fits => return None,
            Load::Full => self.workspaces + 1,
            Load::OverCommitted => self.workspaces,
        };
        let needed = match self.load {
            Load::Full => self.committed + self.budget,
            _ => self.committed,
        } + self.reserved;
        let lower = match self.usable / wanted.max(1) {
            0 => String::new(),
            fits if fits < self.budget => format!(
                "lower the budget to {fits} (CODER_CONVEX_DB_CONNECTIONS; template variable shared_db_connections) in every workspace, or "
            ),
            _ => String::new(),
        };
        Some(format!(
            "{lower}raise max_connections on the server to at least {needed} (a restart of the server)"
        ))
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

    fn limits(max: u32, reserved: u32, in_use: u32) -> Limits {
        Limits {
            max_connections: max,
            reserved,
            in_use,
        }
    }

    #[test]
    fn capacity_figures() {
        // A stock server, nothing on it yet.
        let stock = capacity(limits(100, 3, 1), &[], 8);
        assert_eq!(
            (stock.usable, stock.holds, stock.room, stock.load),
            (97, 12, 12, Load::Fits)
        );
        assert_eq!(stock.hint(), None);
        // The README's example.
        let two = capacity(limits(30, 3, 1), &[Some(8), Some(8)], 8);
        assert_eq!(
            two.summary(),
            "max_connections 30, 3 reserved, 27 usable, 1 in use now; at 8 connections per workspace the server holds 3 workspaces; workspace databases: 2, their budgets totalling 16; room for 1 more"
        );
        // 30 with 3 reserved: 27 usable, three at 8 fit and leave 3: full.
        let full = capacity(limits(30, 3, 5), &[Some(8), Some(8), None], 8);
        assert_eq!(
            full,
            Capacity {
                max_connections: 30,
                reserved: 3,
                usable: 27,
                in_use: 5,
                budget: 8,
                holds: 3,
                workspaces: 3,
                committed: 24,
                unknown_budgets: 1,
                room: 0,
                load: Load::Full,
            }
        );
        assert_eq!(
            full.summary(),
            "max_connections 30, 3 reserved, 27 usable, 5 in use now; at 8 connections per workspace the server holds 3 workspaces; workspace databases: 3, their budgets totalling 24, 1 of them without a recorded budget, counted at 8; room for no more"
        );
        assert_eq!(
            full.hint().unwrap(),
            "lower the budget to 6 (CODER_CONVEX_DB_CONNECTIONS; template variable shared_db_connections) in every workspace, or raise max_connections on the server to at least 35 (a restart of the server)"
        );
        // Over-committed: 4 × 8 = 32 > 27.
        let over = capacity(limits(30, 3, 2), &[Some(8); 4], 8);
        assert_eq!(
            (over.load, over.room, over.holds),
            (Load::OverCommitted, 0, 3)
        );
        assert!(over.summary().ends_with("over-committed by 5 connections"));
        assert_eq!(
            over.hint().unwrap(),
            "lower the budget to 6 (CODER_CONVEX_DB_CONNECTIONS; template variable shared_db_connections) in every workspace, or raise max_connections on the server to at least 35 (a restart of the server)"
        );
        // Exactly full is not over-committed; a budget that cannot shrink is not offered.
        let exact = capacity(limits(30, 3, 0), &[Some(27)], 27);
        assert_eq!((exact.load, exact.holds), (Load::Full, 1));
        assert_eq!(
            exact.hint().unwrap(),
            "lower the budget to 13 (CODER_CONVEX_DB_CONNECTIONS; template variable shared_db_connections) in every workspace, or raise max_connections on the server to at least 57 (a restart of the server)"
        );
        let tiny = capacity(limits(4, 3, 0), &[Some(1), Some(1)], 1);
        assert_eq!((tiny.usable, tiny.load), (1, Load::OverCommitted));
        assert_eq!(
            tiny.hint().unwrap(),
            "raise max_connections on the server to at least 5 (a restart of the server)"
        );
        // A server with fewer connections than it reserves holds nothing.
        let none = capacity(limits(2, 3, 0), &[], 8);
        assert_eq!((none.usable, none.holds, none.load), (0, 0, Load::Full));
    }
}
