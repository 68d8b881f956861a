//! The Convex backend as a supervised process, for machines without a container engine
//! (`up --backend process`): which upstream release archive and its pinned checksum
//! (`release`, pure), fetching and caching it (`install`), the backend's arguments (`argv`,
//! pure) and the supervisor that runs it (`supervisor`).
//!
//! Pure: the room's index.

pub(crate) mod argv;
pub(crate) mod install;
pub mod release;
pub(crate) mod supervisor;
