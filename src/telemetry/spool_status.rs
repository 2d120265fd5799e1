//! The spool's part of `status` and `show` (with `upload`; the twin
//! without it says nothing).

use std::fmt::Write as _;
use std::time::Duration;

use crate::consent::{ConsentStore, StatusReport};
use crate::pipeline::plan::Plan;
use crate::pipeline::spool::Spool;

/// Whether the record `id` waits in the spool.
pub(super) fn waits(plan: &Plan, id: &str) -> bool {
    plan.spool()
        .is_some_and(|spool| spool.waiting_records().0.iter().any(|(r, _)| r.id == id))
}

/// The spool's part of `show`: what waits, exactly as it will be sent, and
/// the last uploads; `false` when no collector is configured.
pub(super) fn show(plan: &Plan, store: &ConsentStore, out: &mut String) -> bool {
    let (Some(collector), Some(spool)) = (plan.collector(), plan.spool()) else {
        return false;
    };
    let Some(pass) = store.pass(&plan.inputs.base_salt, Duration::from_secs(1)) else {
        // Turned off, or the decision is busy being changed.
        let _ = write!(out, "\nnothing to show: the decision is being changed");
        return true;
    };
    let filter = crate::pipeline::upload::Filter::new(&pass, spool.max_age, &collector.id());
    drop(pass);
    let (mut records, sealed, damaged) = spool.waiting_records();
    // As the upload sends them: sealed batches as they are, then the rest
    // with the panics of one place as one record.
    let rest = records.split_off(sealed);
    let (mut send, mut other): (Vec<_>, Vec<_>) = records
        .into_iter()
        .partition(|(record, _)| filter.sends(record));
    let (rest, rest_other): (Vec<_>, Vec<_>) = rest
        .into_iter()
        .partition(|(record, _)| filter.sends(record));
    send.extend(match plan.inputs.delivery.merge_panics {
        Some(merge) => merge(rest),
        None => rest,
    });
    other.extend(rest_other);
    if send.is_empty() {
        let _ = write!(out, "\nwaiting to be sent: nothing");
    } else {
        let _ = write!(out, "\n{}", next_upload(&spool));
        let how = if collector.is_otlp() {
            ": each event's record below becomes one OTLP log record (protobuf), as the \
                 README's \"Where events go\" maps it"
        } else {
            ", each exactly as it will be sent (a request's body is a JSON array of them)"
        };
        let _ = write!(
            out,
            "\nwaiting to be sent: {}{how}:",
            events(send.len() as u64)
        );
        let mut line = Vec::new();
        for (record, _) in send.iter().take(SHOWN) {
            line.clear();
            if record.write_line(&mut line, true).is_ok() {
                let _ = write!(out, "\n{}", String::from_utf8_lossy(&line).trim_end());
            }
        }
        if send.len() > SHOWN {
            let _ = write!(
                out,
                "\n… and {} more, oldest shown first (all in {})",
                send.len() - SHOWN,
                crate::text::shown(spool.dir())
            );
        }
    }
    if !other.is_empty() {
        let _ = write!(
            out,
            "\nnever to be sent: {} recorded before the latest opt-in, under another \
                 id, for another collector, or older than {}; the next upload deletes them",
            events(other.len() as u64),
            human(spool.max_age)
        );
    }
    if damaged > 0 {
        let _ = write!(out, "\ndamaged spool lines (never sent): {damaged}");
    }
    let uploads = spool.state().uploads;
    if uploads.is_empty() {
        let _ = write!(out, "\nlast uploads: none yet");
    } else {
        let _ = write!(out, "\nlast uploads (oldest first):");
        // The state file's text, escaped: anyone with the user's
        // rights can edit it, and none of it may drive the terminal.
        let shown = crate::text::printable;
        for up in &uploads {
            let _ = write!(
                out,
                "\n  {}  {}  {} event{} in {} request{}: {}",
                shown(&up.at),
                shown(&up.endpoint),
                up.delivered,
                plural(up.delivered),
                up.requests,
                plural(up.requests),
                shown(&up.result)
            );
        }
    }
    true
}

/// The spool's lines of `status`: what waits, the last and the next
/// upload, what was dropped, refused or could not be written.
pub(super) fn decorate(plan: &Plan, store: &ConsentStore, status: &mut StatusReport) {
    if !plan.may_deliver() {
        return;
    }
    let spool = match plan.spool() {
        Some(spool) => spool,
        // No collector now: an earlier run's spool may still hold events.
        None => Spool::new(store.data_dir()),
    };
    if status.enabled && plan.collector().is_some() {
        status.problems.extend(spool.health());
    }
    if !spool.dir().exists() {
        return;
    }
    let waiting = spool.waiting();
    let state = spool.state();
    let lines = &mut status.delivery;
    if waiting > 0 {
        lines.push(format!(
            "waiting to be sent: {} in {}",
            events(waiting),
            spool.dir().display()
        ));
    }
    match (&state.last_attempt, &state.last_error) {
        (Some(at), Some(error)) => {
            lines.push(format!("last upload attempt: {at}, failed: {error}"));
        }
        (Some(at), None) => lines.push(format!(
            "last upload: {at} ({} delivered in all)",
            events(state.delivered)
        )),
        _ => {}
    }
    if waiting > 0 {
        lines.push(next_upload(&spool));
    }
    let counted = [
        (state.dropped_full, "dropped, because the spool was full"),
        (
            state.write_errors,
            "not spooled, because the spool could not be written",
        ),
        (
            state.rejected,
            "set aside, refused for good by the collector",
        ),
        (
            state.discarded,
            "deleted unsent: recorded before the latest opt-in, under another id, or for another collector",
        ),
        (state.skipped, "skipped: damaged spool lines"),
    ];
    for (count, what) in counted {
        if count > 0 {
            lines.push(format!("{what}: {}", events(count)));
        }
    }
    if state.expired > 0 {
        lines.push(format!(
            "expired: {}, older than {} and never sent",
            events(state.expired),
            human(spool.max_age)
        ));
    }
    if let Some(error) = &state.last_write_error
        && state.write_errors > 0
    {
        lines.push(format!("last write error: {error}"));
    }
    if let Some(why) = &state.last_rejection
        && state.rejected > 0
    {
        lines.push(format!("last refusal: {why}"));
    }
}

/// When the waiting events go: an upload at work, or the next one's time
/// (uploads start with a run of the tool, at most once per interval while
/// the collector answers).
fn next_upload(spool: &Spool) -> String {
    if let Some(pid) = spool.uploader_at_work() {
        return format!("uploading now (process {pid})");
    }
    let now = crate::pipeline::spool::now_ms();
    match spool.schedule().next.filter(|&next| next > now) {
        Some(next) => format!(
            "next upload: with the first run of the tool in {} s or later (uploads run at most \
             once every {} while the collector answers, less often after it failed)",
            (next - now).div_ceil(1000),
            human(spool.interval)
        ),
        None => "next upload: due, with the next run of the tool".to_owned(),
    }
}

/// `n` events, in words: `1 event`, `2 events`.
fn events(n: u64) -> String {
    format!("{n} event{}", plural(n))
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// The most records `show` prints.
const SHOWN: usize = 100;

/// A duration as `status` says it: in days, hours, minutes or seconds,
/// whichever is whole.
fn human(d: std::time::Duration) -> String {
    let secs = d.as_secs();
    let (n, unit) = match secs {
        s if s >= 86_400 && s % 86_400 == 0 => (s / 86_400, "day"),
        s if s >= 3_600 && s % 3_600 == 0 => (s / 3_600, "hour"),
        s if s >= 60 && s % 60 == 0 => (s / 60, "minute"),
        s => (s, "second"),
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}
