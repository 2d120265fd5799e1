//! The run-time half of the two-level opt-in: the user's decision, the
//! environment's opt-outs, a first-run notice, and the `telemetry` verbs.
//!
//! The effective policy is decided in this order; the first that applies wins:
//!
//! | # | rule | result |
//! |---|---|---|
//! | 1 | `DO_NOT_TRACK` set to anything but empty, `0` or `false` | off |
//! | 2 | `<TOOL>_TELEMETRY_DISABLED` set (to anything) | off |
//! | 3 | the decision stored by `telemetry enable` / `disable` | on / off |
//! | 4 | otherwise (no decision, or an unreadable file) | off |
//!
//! Environment variables only ever turn telemetry off. `<TOOL>` is the tool
//! name upper-cased with every non-alphanumeric character turned into `_`
//! ([`env_prefix`]). `<TOOL>_TELEMETRY_DEBUG=1` prints each event to stderr
//! as one JSON line instead of recording it.
//!
//! # Example
//!
//! ```
//! use rtb_telemetry::FileSink;
//! use rtb_telemetry::consent::ConsentStore;
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! # let dir = tempfile::tempdir().unwrap();
//! // Real tools use `ConsentStore::new("mytool")?` (the platform directories).
//! let store = ConsentStore::at("mytool", dir.path().join("telemetry.json"), dir.path().join("data"));
//! store.show_notice_once(1, "mytool collects anonymous usage data if you opt in: `mytool telemetry enable`.")?;
//!
//! let telemetry = store.context(
//!     env!("CARGO_PKG_VERSION"),
//!     "mytool-telemetry-v1",
//!     FileSink::new(store.events_path()),
//! );
//! telemetry.record("run").await?; // nothing happens: the user has not opted in
//! assert!(!store.events_path().exists());
//! # Ok::<(), rtb_telemetry::TelemetryError>(()) }).unwrap();
//! ```

mod env;
mod notice;
mod store;
pub(crate) mod switches;
mod verbs;

pub use env::{Effective, PolicySource, env_prefix};
#[cfg(feature = "upload")]
pub(crate) use store::Pass;
pub use store::{ConsentStore, Decision, StoredConsent};
pub use verbs::{CommandReport, StatusReport, TelemetryCommand};

/// `verb` as users of `tool` type it, in backticks: after `verbs` (how the
/// tool mounted the verbs, up to the verb), else `<tool> telemetry`.
pub(crate) fn verb_as(tool: &str, verbs: Option<&str>, verb: &str) -> String {
    match verbs.map(str::trim).filter(|v| !v.is_empty()) {
        Some(command) => format!("`{command} {verb}`"),
        None => format!("`{tool} telemetry {verb}`"),
    }
}
