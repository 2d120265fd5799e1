//! When the next upload is due: the spool's `next-<ms>` file, claimed by
//! one run of many, moved on by the uploader.

use std::fs::{self, File};
use std::io;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{MAX_ENTRIES, NEXT, STATE_LOCK, Spool};

/// The default least time between two uploads while the collector answers.
pub(crate) const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);
/// The longest wait after failed uploads.
pub(crate) const MAX_BACKOFF: Duration = Duration::from_secs(3600);
/// The wait after the first failed upload (jittered down to half).
const FIRST_BACKOFF: Duration = Duration::from_secs(60);
/// How long a started uploader holds the schedule before its own result
/// replaces it (it lives at most 25 s).
const LEASE: Duration = Duration::from_secs(30);

/// When the next upload is due, as the spool's `next-<ms>` file says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Schedule {
    /// The earliest time found; `None`: no schedule yet (due now).
    pub(crate) next: Option<u64>,
    all: Vec<u64>,
}

impl Schedule {
    pub(super) fn note(&mut self, name: &str) {
        if let Some(at) = name.strip_prefix(NEXT).and_then(|n| n.parse::<u64>().ok()) {
            self.all.push(at);
            self.next = Some(self.next.map_or(at, |n| n.min(at)));
        }
    }
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Spool {
    /// The schedule, from the directory listing.
    pub(crate) fn schedule(&self) -> Schedule {
        let mut schedule = Schedule::default();
        if let Ok(entries) = fs::read_dir(&self.dir) {
            for entry in entries.filter_map(Result::ok).take(MAX_ENTRIES) {
                schedule.note(&entry.file_name().to_string_lossy());
            }
        }
        schedule
    }

    /// Takes the next upload for the caller, if `schedule` (as a run's
    /// append just read it) says one is due: the schedule file is renamed
    /// to the lease's time, and of many runs at once only one rename
    /// succeeds. `false` when none is due, or the schedule cannot be moved
    /// (then no uploader is started either).
    pub(crate) fn claim_upload(&self, schedule: &Schedule) -> bool {
        self.claim_upload_within(schedule, Duration::from_millis(50))
    }

    /// [`claim_upload`](Self::claim_upload), waiting at most `patience`
    /// for the state lock (the first upload ever is decided under it).
    pub(crate) fn claim_upload_within(&self, schedule: &Schedule, patience: Duration) -> bool {
        let now = now_ms();
        // A time further ahead than any schedule the crate writes (a clock
        // that was wrong, a planted file) counts as due, so it cannot stop
        // uploads for good.
        let furthest =
            now.saturating_add(millis(self.interval.max(MAX_BACKOFF).max(LEASE)) + 60_000);
        if schedule
            .next
            .is_some_and(|next| next > now && next <= furthest)
        {
            return false;
        }
        let lease = now.saturating_add(millis(self.interval.max(LEASE)));
        let Some(next) = schedule.next else {
            // The first upload ever (or the file was lost): decided under
            // the state lock, looking again, so one run creates it.
            let Ok(Some(_lock)) = crate::fs::lock(&self.path(STATE_LOCK), patience) else {
                return false;
            };
            return self.schedule().next.is_none()
                && create_marker(&self.path(&format!("{NEXT}{lease}")), true).is_ok();
        };
        let from = self.path(&format!("{NEXT}{next}"));
        // Of many runs that found the same schedule, one rename succeeds.
        crate::fs::rename(&from, &self.path(&format!("{NEXT}{lease}"))).is_ok()
    }

    /// Sets the next upload's time (the uploader, when it is done):
    /// renames the schedule file, or creates one.
    pub(crate) fn set_next_upload(&self, at: u64) {
        let target = self.path(&format!("{NEXT}{at}"));
        let mut names = self.schedule().all;
        names.sort_unstable();
        let renamed = names
            .first()
            .is_some_and(|n| crate::fs::rename(&self.path(&format!("{NEXT}{n}")), &target).is_ok());
        for n in names.iter().skip(usize::from(renamed)) {
            if *n != at {
                let _ = fs::remove_file(self.path(&format!("{NEXT}{n}")));
            }
        }
        if !renamed {
            let _ = create_marker(&target, false);
        }
    }

    /// The next upload's time after an upload that ended `ok` (the
    /// interval) or failed for the `failures`th time in a row (a backoff
    /// from a minute, doubling, at most an hour, jittered down to half).
    pub(crate) fn next_upload(&self, ok: bool, failures: u32) -> u64 {
        let wait = if ok {
            self.interval
        } else {
            let doubled = FIRST_BACKOFF.saturating_mul(1 << failures.saturating_sub(1).min(12));
            crate::pipeline::export::retry::jitter(doubled.min(MAX_BACKOFF))
        };
        now_ms().saturating_add(millis(wait))
    }
}

/// Creates the empty file at `path` (mode 0600, like every file of the
/// spool), failing if one is there when `new`.
fn create_marker(path: &Path, new: bool) -> io::Result<File> {
    let mut options = fs::OpenOptions::new();
    options.write(true);
    if new {
        options.create_new(true);
    } else {
        options.create(true).truncate(false);
    }
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spool() -> (tempfile::TempDir, Spool) {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::new(dir.path());
        fs::create_dir_all(spool.dir()).unwrap();
        (dir, spool)
    }

    fn next_files(spool: &Spool) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(spool.dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(NEXT))
            .collect();
        names.sort();
        names
    }

    #[test]
    fn of_many_runs_that_find_an_upload_due_one_claims_it() {
        let (_dir, spool) = spool();
        let seen = spool.usage().unwrap().schedule;
        assert_eq!(seen.next, None, "no schedule yet: due");
        let claims = (0..8).filter(|_| spool.claim_upload(&seen)).count();
        assert_eq!(claims, 1);
        let after = spool.usage().unwrap().schedule;
        assert!(after.next.unwrap() > now_ms(), "the lease moved it on");
        assert!(!spool.claim_upload(&after), "not due during the lease");
    }

    #[test]
    fn a_schedule_far_in_the_future_counts_as_due() {
        let (_dir, spool) = spool();
        fs::File::create(spool.path("next-99999999999999")).unwrap();
        let seen = spool.usage().unwrap().schedule;
        assert!(
            spool.claim_upload(&seen),
            "a clock that was wrong cannot stop uploads"
        );
        assert_eq!(next_files(&spool).len(), 1);
        assert_ne!(next_files(&spool), ["next-99999999999999"]);
    }

    #[test]
    fn set_next_upload_leaves_one_schedule() {
        let (_dir, spool) = spool();
        for n in ["next-5", "next-7", "next-x"] {
            fs::File::create(spool.path(n)).unwrap();
        }
        spool.set_next_upload(42);
        assert_eq!(next_files(&spool), ["next-42", "next-x"]);
    }
}
