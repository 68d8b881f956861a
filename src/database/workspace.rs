//! One shared Postgres server, one database per workspace (README "Shared Postgres"): the
//! database name derived from the Coder workspace, and the marker (`COMMENT ON DATABASE`)
//! that says which workspace a database belongs to, and what a marker found means for a
//! workspace (a claimed prebuild or a renamed one relabels its own). Pure: `postgres` does
//! the I/O.
//!
//! The marker also records when the workspace last ran `setup` and its connection budget
//! ([`Stamp`]), inside the `(owner/name, …)` group, so `db list` and `db prune` can read them
//! and a coder-convex that predates them still reads the workspace id right.
//!
//! The name is `convex_<owner>_<workspace>_<h>`, where `<h>` is 8 hex characters of the
//! SHA-256 of the workspace id: readable in `db list`, unique per workspace even when two
//! owner/name pairs sanitise to the same text, and at most 63 bytes (Postgres truncates
//! longer identifiers silently, which would merge two workspaces' databases).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sha2::{Digest as _, Sha256};

/// Postgres's identifier limit (NAMEDATALEN - 1), in bytes.
pub const MAX_NAME_BYTES: usize = 63;
const PREFIX: &str = "convex";
const HASH_HEX: usize = 8;
/// The start of every marker comment.
pub const MARKER_PREFIX: &str = "coder-convex: workspace ";

/// The workspace that owns a database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workspace {
    pub id: String,
    pub owner: String,
    pub name: String,
}

impl Workspace {
    /// The database name for this workspace: `[a-z0-9]+(_[a-z0-9]+)*`, ≤ 63 bytes.
    pub fn database_name(&self) -> String {
        let suffix = self.suffix();
        // convex_ + <owner>_<name> + _<hash>
        let budget = MAX_NAME_BYTES - PREFIX.len() - 1 - 1 - HASH_HEX;
        let owner = sanitise(&self.owner);
        let name = sanitise(&self.name);
        // The owner gets at most half, so a long owner name cannot hide the workspace name.
        let owner = truncate(&owner, budget / 2);
        let name = truncate(&name, budget - owner.len() - usize::from(!owner.is_empty()));
        let middle: Vec<&str> = [owner.as_str(), name.as_str()]
            .into_iter()
            .filter(|p| !p.is_empty())
            .collect();
        let mut out = PREFIX.to_owned();
        for part in middle {
            out.push('_');
            out.push_str(part);
        }
        out.push('_');
        out.push_str(&suffix);
        out
    }

    /// The instance name the backend is started with (`_` → `-`).
    pub fn instance_name(&self) -> String {
        self.database_name().replace('_', "-")
    }

    /// Whether `instance_name` was derived for this workspace id (possibly under an older
    /// owner or workspace name: a rename keeps the database).
    pub fn owns_instance_name(&self, instance_name: &str) -> bool {
        instance_name.starts_with(PREFIX) && instance_name.ends_with(&format!("-{}", self.suffix()))
    }

    /// The `COMMENT ON DATABASE` text: `coder-convex: workspace <id> (<owner>/<name>)`.
    pub fn marker(&self) -> String {
        format!("{MARKER_PREFIX}{} ({})", self.id, self.label())
    }

    /// `<owner>/<name>`: the marker's label, what `db list` shows.
    pub fn label(&self) -> String {
        format!("{}/{}", self.owner, self.name)
    }

    /// Whether `found`, this workspace's marker, names an older owner or workspace name: a
    /// claimed prebuild or a renamed workspace keeps its database, and the label follows.
    pub fn relabels(&self, found: &Marker<'_>) -> bool {
        found.workspace_id == self.id && found.label != self.label()
    }

    /// What the marker `comment` on a database means for this workspace.
    pub fn claim_of<'a>(&self, comment: Option<&'a str>) -> Claim<'a> {
        match comment.and_then(parse_marker) {
            None => Claim::Unmarked,
            Some(found) if self.relabels(&found) => Claim::Relabel,
            Some(found) if found.workspace_id == self.id => Claim::Ours,
            Some(found) => Claim::Other(found),
        }
    }

    /// The refusal (message, hint) when `database` on `who` carries another workspace's marker.
    pub fn refusal(
        &self,
        database: &str,
        who: &str,
        found: &Marker<'_>,
        external: bool,
    ) -> (String, String) {
        (
            format!(
                "database {database:?} on {who} belongs to another workspace ({} {}); refusing to attach workspace {} ({})",
                found.workspace_id,
                found.label,
                self.id,
                self.label()
            ),
            claimed_hint(database, found.workspace_id, external),
        )
    }

    /// [`Self::marker`] with the stamp: `coder-convex: workspace <id> (<owner>/<name>, last
    /// setup 2026-12-05T03:21:55Z, budget 8)`.
    pub fn stamped_marker(&self, stamp: Stamp) -> String {
        let mut label = format!("{}/{}", self.owner, self.name);
        if let Some(at) = stamp.last_setup {
            label.push_str(&format!(", {LAST_SETUP}{}", rfc3339(at)));
        }
        if let Some(budget) = stamp.budget {
            label.push_str(&format!(", {BUDGET}{budget}"));
        }
        format!("{MARKER_PREFIX}{} ({label})", self.id)
    }

    fn suffix(&self) -> String {
        let digest = Sha256::digest(self.id.as_bytes());
        hex::encode(digest)[..HASH_HEX].to_owned()
    }
}

const LAST_SETUP: &str = "last setup ";
const BUDGET: &str = "budget ";

/// What a preflight records beside the workspace: when it ran (Unix seconds) and the
/// connection budget the backend runs with.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stamp {
    pub last_setup: Option<u64>,
    pub budget: Option<u32>,
}

/// What a marker comment says: the workspace id, the `owner/name` it was last set up as,
/// and the stamp (empty in a marker written before stamps existed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marker<'a> {
    pub workspace_id: &'a str,
    pub label: &'a str,
    pub stamp: Stamp,
}

/// `2026-12-05T03:21:55Z` for a time in Unix seconds.
pub fn rfc3339(unix_s: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(unix_s)).to_string()
}

/// Unix seconds from `2026-12-05T03:21:55Z`; `None` for anything else.
pub fn parse_rfc3339(text: &str) -> Option<u64> {
    let at: SystemTime = humantime::parse_rfc3339(text).ok()?;
    at.duration_since(UNIX_EPOCH).ok().map(|d| d.as_secs())
}

/// A database's marker, seen from one workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim<'a> {
    /// No coder-convex marker: the workspace marks it.
    Unmarked,
    /// Its marker, as it would write it.
    Ours,
    /// Its marker under an older owner/name (a claim, a rename): the label is rewritten.
    Relabel,
    /// Another workspace's: refused.
    Other(Marker<'a>),
}

/// What to do about a database another workspace's marker claims. On a shared server two
/// workspaces derived one name; an external database was given to two workspaces.
pub fn claimed_hint(database: &str, owner_id: &str, external: bool) -> String {
    if external {
        format!(
            "give this workspace a database of its own (the database name in its DATABASE_URL); if workspace {owner_id} was deleted and this one takes over its data, clear the marker with `COMMENT ON DATABASE {database} IS NULL` (Postgres) or `DROP TABLE {database}.coder_convex_workspace` (MySQL)"
        )
    } else {
        format!(
            "two workspaces derived the same name: set INSTANCE_NAME to another name for this one; if workspace {owner_id} was deleted, remove its database with `coder-convex db drop {database} --yes`"
        )
    }
}

/// `None` for comments coder-convex did not write. The label is the last ` (…)` group (owner
/// and workspace names hold no blanks, commas or parentheses), up to its first `, `; the
/// stamp's fields follow, and fields this version does not know are ignored. The id is
/// everything before the group, so an id with a blank reads back whole. Every marker
/// written before reads the same.
pub fn parse_marker(comment: &str) -> Option<Marker<'_>> {
    let rest = comment.strip_prefix(MARKER_PREFIX)?;
    let (id, group) = rest
        .strip_suffix(')')
        .and_then(|r| r.rsplit_once(" ("))
        .unwrap_or((rest, ""));
    let mut fields = group.split(", ");
    let label = fields.next().unwrap_or_default();
    let mut stamp = Stamp::default();
    for field in fields {
        if let Some(at) = field.strip_prefix(LAST_SETUP) {
            stamp.last_setup = parse_rfc3339(at);
        } else if let Some(budget) = field.strip_prefix(BUDGET) {
            stamp.budget = budget.parse().ok();
        }
    }
    (!id.is_empty()).then_some(Marker {
        workspace_id: id,
        label,
        stamp,
    })
}

/// Lower-case ASCII letters and digits; every other run of characters (dashes, dots, spaces,
/// non-ASCII letters) becomes one `_`; no leading or trailing `_`.
fn sanitise(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('_') {
            out.push('_');
        }
    }
    out.trim_end_matches('_').to_owned()
}

/// At most `max` bytes (the text is ASCII), never ending in `_`.
fn truncate(text: &str, max: usize) -> String {
    text[..text.len().min(max)].trim_end_matches('_').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::instance::validate_instance_name;

    fn ws(owner: &str, name: &str, id: &str) -> Workspace {
        Workspace {
            id: id.to_owned(),
            owner: owner.to_owned(),
            name: name.to_owned(),
        }
    }

    const ID: &str = "8b1c7c3e-2f0a-4c6e-9d55-0123456789ab";

    #[test]
    fn names_are_valid_short_and_readable() {
        let suffix = &hex::encode(Sha256::digest(ID.as_bytes()))[..8];
        let cases = [
            ("alice", "ws", format!("convex_alice_ws_{suffix}")),
            ("Alice", "My-App", format!("convex_alice_my_app_{suffix}")),
            ("bob", "--x--", format!("convex_bob_x_{suffix}")),
            ("jörg", "café-dev", format!("convex_j_rg_caf_dev_{suffix}")),
            ("日本", "テスト", format!("convex_{suffix}")),
            (
                "a-very-long-owner-name-that-goes-on-and-on",
                "and-an-even-longer-workspace-name-for-demos",
                format!("convex_a_very_long_owner_name_and_an_even_longer_works_{suffix}"),
            ),
        ];
        for (owner, name, expected) in cases {
            let w = ws(owner, name, ID);
            let db = w.database_name();
            assert_eq!(db, expected, "{owner}/{name}");
            assert!(db.len() <= MAX_NAME_BYTES, "{db} is {} bytes", db.len());
            validate_instance_name(&db).unwrap();
            validate_instance_name(&w.instance_name()).unwrap();
            assert!(w.owns_instance_name(&w.instance_name()));
        }
    }

    #[test]
    fn names_are_distinct_per_workspace() {
        // Same text after sanitising, different workspaces.
        let a = ws("alice", "my-app", "id-1").database_name();
        let b = ws("alice", "my_app", "id-2").database_name();
        let c = ws("Alice", "My.App", "id-3").database_name();
        assert_ne!(a, b);
        assert_ne!(b, c);
        assert_ne!(a, c);
        // A rename keeps ownership (the hash is of the id).
        let renamed = ws("alice", "renamed", "id-1");
        assert!(renamed.owns_instance_name(&ws("alice", "my-app", "id-1").instance_name()));
        assert!(!renamed.owns_instance_name(&b.replace('_', "-")));
        assert!(!renamed.owns_instance_name("convex-self-hosted"));
    }

    #[test]
    fn markers_round_trip() {
        let w = ws("alice", "ws", ID);
        assert_eq!(
            w.marker(),
            format!("coder-convex: workspace {ID} (alice/ws)")
        );
        assert_eq!(
            parse_marker(&w.marker()),
            Some(Marker {
                workspace_id: ID,
                label: "alice/ws",
                stamp: Stamp::default(),
            })
        );
        assert_eq!(parse_marker("made by hand"), None);
        // An id with blanks (and parentheses) reads back whole.
        for id in ["my workspace id", "a (b) c", " lead"] {
            let w = ws("alice", "ws", id);
            assert_eq!(
                parse_marker(&w.marker()),
                Some(Marker {
                    workspace_id: id,
                    label: "alice/ws",
                    stamp: Stamp::default(),
                })
            );
        }
        // Markers as every earlier version wrote them.
        assert_eq!(
            parse_marker(&format!("coder-convex: workspace {ID} (alice/ws)")),
            Some(Marker {
                workspace_id: ID,
                label: "alice/ws",
                stamp: Stamp::default(),
            })
        );
        assert_eq!(
            parse_marker(&format!("coder-convex: workspace {ID}")),
            Some(Marker {
                workspace_id: ID,
                label: "",
                stamp: Stamp::default(),
            })
        );
        assert_eq!(parse_marker("coder-convex: workspace "), None);
    }

    #[test]
    fn a_claim_or_a_rename_relabels_the_marker_and_nothing_else_does() {
        let prebuild = ws("prebuilds", "brave-lion-42", ID);
        let claimed = ws("alice", "my-app", ID);
        let marker = prebuild.marker();
        let found = parse_marker(&marker).unwrap();
        assert!(claimed.relabels(&found));
        assert!(!prebuild.relabels(&found));
        // Another workspace's marker is never relabelled (it is refused instead).
        assert!(!ws("alice", "my-app", "other-id").relabels(&found));
        // A marker from before labels were written gets one.
        let bare = format!("{MARKER_PREFIX}{ID}");
        assert!(claimed.relabels(&parse_marker(&bare).unwrap()));
        assert_eq!(claimed.label(), "alice/my-app");

        let other = ws("bob", "api", "other-id").marker();
        assert_eq!(claimed.claim_of(None), Claim::Unmarked);
        assert_eq!(claimed.claim_of(Some("made by hand")), Claim::Unmarked);
        assert_eq!(claimed.claim_of(Some(&claimed.marker())), Claim::Ours);
        assert_eq!(claimed.claim_of(Some(&marker)), Claim::Relabel);
        assert_eq!(
            claimed.claim_of(Some(&other)),
            Claim::Other(Marker {
                workspace_id: "other-id",
                label: "bob/api",
                stamp: Stamp::default()
            })
        );
        let Claim::Other(found) = claimed.claim_of(Some(&other)) else {
            unreachable!()
        };
        assert_eq!(
            claimed.refusal("convex_x", "db:5432", &found, false).0,
            format!(
                "database \"convex_x\" on db:5432 belongs to another workspace (other-id bob/api); refusing to attach workspace {ID} (alice/my-app)"
            )
        );
    }

    #[test]
    fn stamped_markers_round_trip_and_old_readers_keep_the_id() {
        let w = ws("alice", "ws", ID);
        let stamp = Stamp {
            last_setup: Some(1_796_441_000),
            budget: Some(8),
        };
        let text = w.stamped_marker(stamp);
        assert_eq!(
            text,
            format!(
                "coder-convex: workspace {ID} (alice/ws, last setup 2026-12-05T03:23:20Z, budget 8)"
            )
        );
        assert_eq!(
            parse_marker(&text),
            Some(Marker {
                workspace_id: ID,
                label: "alice/ws",
                stamp
            })
        );
        // Without a stamp it is the marker every version wrote.
        assert_eq!(w.stamped_marker(Stamp::default()), w.marker());
        // Half a stamp, an unreadable time, fields from a later version.
        let odd = format!(
            "coder-convex: workspace {ID} (alice/ws, budget 3, colour blue, last setup soon)"
        );
        assert_eq!(
            parse_marker(&odd),
            Some(Marker {
                workspace_id: ID,
                label: "alice/ws",
                stamp: Stamp {
                    last_setup: None,
                    budget: Some(3)
                }
            })
        );
        // How an earlier coder-convex reads a stamped marker: the id is what it compares.
        let (old_id, _) = text
            .strip_prefix(MARKER_PREFIX)
            .and_then(|r| r.strip_suffix(')'))
            .and_then(|r| r.rsplit_once(" ("))
            .unwrap();
        assert_eq!(old_id, ID);
        assert_eq!(parse_rfc3339("2026-12-05T03:23:20Z"), Some(1_796_441_000));
        assert_eq!(parse_rfc3339("yesterday"), None);
    }
}
