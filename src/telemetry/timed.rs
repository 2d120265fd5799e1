//! Timed events: [`Timed`], [`TimedWith`].

use std::fmt;
use std::time::{Duration, Instant};

use super::Telemetry;

/// A timed event being set up: see [`Telemetry::timed`]. Its `Debug`
/// shows the attrs' keys, never their values (they are scrubbed only when
/// recorded).
pub struct Timed<'a> {
    pub(super) telemetry: &'a Telemetry,
    pub(super) name: String,
    pub(super) attrs: Vec<(String, String)>,
}

impl fmt::Debug for Timed<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys: Vec<&str> = self.attrs.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("Timed")
            .field("name", &self.name)
            .field("attr_keys", &keys)
            .finish_non_exhaustive()
    }
}

/// A [`Timed`] event that decides its outcome with `F`.
pub struct TimedWith<'a, F> {
    timed: Timed<'a>,
    outcome: F,
}

impl<F> fmt::Debug for TimedWith<'_, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimedWith")
            .field("timed", &self.timed)
            .finish_non_exhaustive()
    }
}

impl<'a> Timed<'a> {
    /// An attr of the timed event (scrubbed like every attr).
    #[must_use]
    pub fn attr(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.attrs.push((key.into(), value.into()));
        self
    }

    /// What `work`'s result says of the outcome: the `outcome` attr's value.
    #[must_use]
    pub fn outcome<T, O: Into<String>, F: FnOnce(&T) -> O>(self, outcome: F) -> TimedWith<'a, F> {
        TimedWith {
            timed: self,
            outcome,
        }
    }

    /// Runs `work`, timed; the outcome is `ok` for `Ok`, else `error`.
    ///
    /// # Errors
    ///
    /// `work`'s own error, untouched.
    pub fn run<T, E>(self, work: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
        let start = Instant::now();
        let result = work();
        let outcome = if result.is_ok() { "ok" } else { "error" };
        self.finish(start.elapsed(), outcome.to_owned());
        result
    }

    pub(super) fn finish(self, elapsed: Duration, outcome: String) {
        if self.telemetry.inner.recorder().is_none() {
            return;
        }
        let mut attrs = self.attrs;
        attrs.push(("duration_ms".to_owned(), milliseconds(elapsed)));
        attrs.push(("outcome".to_owned(), outcome));
        self.telemetry.record_with_attrs(&self.name, attrs);
    }
}

impl<F> TimedWith<'_, F> {
    /// Runs `work`, timed, and records the outcome the closure gives for
    /// its result.
    pub fn run<T, O: Into<String>>(self, work: impl FnOnce() -> T) -> T
    where
        F: FnOnce(&T) -> O,
    {
        let start = Instant::now();
        let result = work();
        let elapsed = start.elapsed();
        let outcome = (self.outcome)(&result).into();
        self.timed.finish(elapsed, outcome);
        result
    }
}

/// Milliseconds with three decimals (microseconds): `0.042`, `12.345`.
fn milliseconds(elapsed: Duration) -> String {
    let micros = elapsed.as_micros();
    format!("{}.{:03}", micros / 1000, micros % 1000)
}
