//! The run-time half of the two-level opt-in: the user's decision, the
//! off switches, a first-run notice, and the `telemetry` verbs.
//!
//! The effective policy is decided in this order; the first that applies
//! wins ([`PolicySource`] names it, and `telemetry status` shows it):
//!
//! | # | rule | result |
//! |---|---|---|
//! | 1 | a build made with `--cfg rtb_telemetry_disabled` | off |
//! | 2 | `DO_NOT_TRACK` set to anything but empty, `0` or `false` | off |
//! | 3 | `<TOOL>_TELEMETRY_DISABLED` set (to anything) | off |
//! | 4 | the machine's switch: `<tool>/telemetry` saying `off` in a system configuration directory (`XDG_CONFIG_DIRS`, …) | off |
//! | 5 | the project's switch: `.<tool>-telemetry` saying `off` in the working directory or above (physical path and `$PWD`) | off |
//! | 6 | the tool's own setting ([`ConsentStore::off_by_setting`]) | off |
//! | 7 | the decision stored by `telemetry enable` / `disable` | on / off |
//! | 8 | a consent file that cannot be used (damaged, of a newer format, another user's or others can write it) | off |
//! | 9 | otherwise (no decision yet) | off |
//!
//! Only the user's own `enable` turns telemetry on; everything else only
//! turns it off. `<TOOL>` is the tool name upper-cased with every
//! non-alphanumeric character turned into `_` ([`env_prefix`]).
//! `<TOOL>_TELEMETRY_DEBUG=1` prints each event to stderr as one JSON line
//! instead of recording it.
//!
//! - `store.rs`: [`ConsentStore`], and what the user does to it;
//! - `file.rs`: the stored file and its lock;
//! - `decision.rs`: the decision — sources, precedence, the checks a run
//!   makes that it still stands;
//! - `switches.rs`: the project's and the machine's off switches;
//! - `cleanup.rs`: deleting what waits to be sent after an opt-out;
//! - `notice.rs`, `verbs.rs`, `status.rs`: the notice, the verbs, `status`.
//!
//! # Example
//!
//! ```
//! use rtb_telemetry::{FileSink, TelemetryContext};
//! use rtb_telemetry::consent::ConsentStore;
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! # let dir = tempfile::tempdir().unwrap();
//! // Real tools use `ConsentStore::new("mytool")?` (the platform directories).
//! let store = ConsentStore::at("mytool", dir.path().join("telemetry.json"), dir.path().join("data"));
//! store.show_notice_once(1, "mytool collects anonymous usage data if you opt in: `mytool telemetry enable`.")?;
//!
//! let telemetry = TelemetryContext::from_consent(
//!     &store,
//!     env!("CARGO_PKG_VERSION"),
//!     "mytool-telemetry-v1",
//!     FileSink::new(store.events_path()),
//! );
//! telemetry.record("run").await?; // nothing happens: the user has not opted in
//! assert!(!store.events_path().exists());
//! # Ok::<(), rtb_telemetry::TelemetryError>(()) }).unwrap();
//! ```

mod cleanup;
mod decision;
mod file;
mod naming;
mod notice;
mod status;
mod store;
pub(crate) mod switches;
mod verbs;

#[cfg(feature = "upload")]
pub(crate) use decision::HeldDecision;
pub use decision::{Effective, PolicySource, env_prefix};
pub use file::{Decision, StoredConsent};
pub use status::StatusReport;
pub use store::ConsentStore;
pub use verbs::{CommandReport, TelemetryCommand};

pub(crate) use naming::verb_as;
