//! Which records an upload sends: the current decision's, recorded since
//! the latest opt-in, for this collector, younger than the age bound; the
//! rest is deleted unsent.

use std::time::{Duration, SystemTime};

use crate::consent::HeldDecision;
use crate::pipeline::spool;
use crate::pipeline::spool::record::{Body, Record};

/// Which records may be sent: the current id's, recorded since the
/// latest opt-in, younger than the age bound.
#[derive(Clone)]
pub(crate) struct Filter {
    to: String,
    pub(super) machine_id: Option<String>,
    pub(super) since: Option<String>,
    /// The decision a report must have been counted under.
    counted_under: String,
    cutoff: String,
}

pub(super) enum Verdict {
    Send,
    Expired,
    Discarded,
}

impl Filter {
    pub(crate) fn new(pass: &HeldDecision, max_age: Duration, to: &str) -> Self {
        let cutoff = SystemTime::now()
            .checked_sub(max_age)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        Self {
            to: to.to_owned(),
            machine_id: pass.machine_id.clone(),
            since: pass.since.clone(),
            counted_under: crate::report::wire::decision_of(&pass.salt, pass.since.as_deref()),
            cutoff: crate::timestamp::rfc3339_utc(cutoff),
        }
    }

    /// Whether an upload would send `record` (else it deletes it unsent).
    pub(crate) fn sends(&self, record: &Record) -> bool {
        matches!(self.judge(record), Verdict::Send)
    }

    pub(super) fn judge(&self, record: &Record) -> Verdict {
        let at = record.at();
        // The crate's timestamps have one fixed width, so they compare as
        // text; anything else is not a record of ours to send.
        let comparable = |other: &str| at.len() == other.len();
        if spool::expire::expired(at, &self.cutoff) {
            return Verdict::Expired;
        }
        match &record.body {
            Body::Event(event) => {
                if self
                    .machine_id
                    .as_ref()
                    .is_some_and(|id| *id != event.machine_id)
                {
                    return Verdict::Discarded;
                }
            }
            // Counted under another decision (before the latest opt-in,
            // or a reset): never sent.
            Body::Report(spooled) => {
                if spooled.of != self.counted_under {
                    return Verdict::Discarded;
                }
            }
        }
        // Recorded for another collector (or key): never sent here.
        if record.to.as_ref().is_some_and(|to| *to != self.to) {
            return Verdict::Discarded;
        }
        if let Some(since) = &self.since
            && (!comparable(since) || at < since.as_str())
        {
            return Verdict::Discarded;
        }
        Verdict::Send
    }
}
