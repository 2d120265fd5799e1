//! Which records an upload sends: the current decision's, recorded since
//! the latest opt-in, for this collector, younger than the age bound; the
//! rest is deleted unsent.

use std::time::{Duration, SystemTime};

use crate::consent::HeldDecision;
use crate::pipeline::spool;
use crate::pipeline::spool::record::Record;

/// Which records may be sent: the current id's, recorded since the
/// latest opt-in, younger than the age bound.
#[derive(Clone)]
pub(crate) struct Filter {
    to: String,
    pub(super) machine_id: Option<String>,
    pub(super) since: Option<String>,
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
            cutoff: crate::timestamp::rfc3339_utc(cutoff),
        }
    }

    /// Whether an upload would send `record` (else it deletes it unsent).
    pub(crate) fn sends(&self, record: &Record) -> bool {
        matches!(self.judge(record), Verdict::Send)
    }

    pub(super) fn judge(&self, record: &Record) -> Verdict {
        let at = &record.event.timestamp_utc;
        // The crate's timestamps have one fixed width, so they compare as
        // text; anything else is not a record of ours to send.
        let comparable = |other: &str| at.len() == other.len();
        if spool::expire::expired(at, &self.cutoff) {
            return Verdict::Expired;
        }
        if self
            .machine_id
            .as_ref()
            .is_some_and(|id| *id != record.event.machine_id)
        {
            return Verdict::Discarded;
        }
        // Recorded for another collector (or key): never sent here.
        if record.to.as_ref().is_some_and(|to| *to != self.to) {
            return Verdict::Discarded;
        }
        if let Some(since) = &self.since
            && (!comparable(since) || at.as_str() < since.as_str())
        {
            return Verdict::Discarded;
        }
        Verdict::Send
    }
}
