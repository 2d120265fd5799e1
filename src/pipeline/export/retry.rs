//! One `POST`, tried again while that may help: exponential backoff with
//! jitter, `Retry-After`, a deadline, and the user's decision checked
//! before every try and while each is written.

use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::client::{Body, ClientError, Gate, HttpClient, Post};
use super::endpoint::Endpoint;
use crate::TelemetryError;

/// The longest request timeout; longer settings (up to `Duration::MAX`)
/// mean "this long".
const MAX_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

/// How a remote sink retries a batch.
///
/// Network errors (refused, reset, timed out, DNS), HTTP 5xx and 429 are
/// retried with exponential backoff and jitter; a 429 or 503 `Retry-After`
/// of whole seconds is honoured, up to `max_delay`. Errors that cannot heal
/// by waiting — other 4xx answers, a TLS certificate the client does not
/// trust, a malformed request — are not retried. No setting panics, from
/// zero to `Duration::MAX`.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use rtb_telemetry::remote::Retry;
///
/// let retry = Retry { attempts: 3, ..Retry::default() };
/// assert_eq!(retry.first_delay, Duration::from_millis(200));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    /// Tries in all, the first included (at least 1).
    pub attempts: u32,
    /// The delay before the first retry; it doubles each time.
    pub first_delay: Duration,
    /// The longest delay, also the cap on `Retry-After`.
    pub max_delay: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Self {
            attempts: 4,
            first_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
        }
    }
}

/// Header values are secrets (API keys): they never appear in `Debug`.
#[derive(Clone)]
pub(crate) struct Headers(pub(crate) Vec<(String, String)>);

impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|(name, _)| (name, "<redacted>")))
            .finish()
    }
}

/// How far a failed request got: what may be done with its events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reach {
    /// The request never reached the collector (no connection, no TLS
    /// session): nobody saw its idempotency key.
    NotReached,
    /// The collector may have received it (a timeout after sending, an
    /// error status that may pass): resend it as it is.
    MaybeReached,
    /// The collector answered 400, 413 or 422: what this request carries
    /// will never be taken as it is.
    Refused,
    /// Telemetry was turned off before or while the request was written.
    Stopped,
}

/// Why a POST did not deliver.
#[derive(Debug)]
pub(crate) struct NotDelivered {
    pub(crate) error: TelemetryError,
    pub(crate) reach: Reach,
}

enum Outcome {
    Done,
    /// The gate closed before or while the request was written.
    Stopped,
    Retry {
        reason: String,
        status: Option<u16>,
        after: Option<Duration>,
        reached: bool,
    },
    Fail {
        reason: String,
        status: Option<u16>,
        reach: Reach,
    },
}

/// Sends requests to one collector through an [`HttpClient`], retrying as
/// [`Retry`] says.
#[derive(Clone)]
pub(crate) struct Sender {
    pub(crate) endpoint: Endpoint,
    pub(crate) headers: Headers,
    pub(crate) retry: Retry,
    request_timeout: Duration,
    client: Arc<dyn HttpClient>,
}

impl fmt::Debug for Sender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("endpoint", &self.endpoint)
            .field("headers", &self.headers)
            .field("retry", &self.retry)
            .field("request_timeout", &self.request_timeout)
            .finish_non_exhaustive()
    }
}

impl Sender {
    pub(crate) fn new(
        endpoint: Endpoint,
        headers: Vec<(String, String)>,
        retry: Retry,
        request_timeout: Duration,
        client: Arc<dyn HttpClient>,
    ) -> Self {
        Self {
            endpoint,
            headers: Headers(headers),
            retry: Retry {
                attempts: retry.attempts.max(1),
                ..retry
            },
            request_timeout: request_timeout.min(MAX_TIMEOUT),
            client,
        }
    }

    /// Credentials would cross the network in clear text: an auth header
    /// (or user info) over plain `http://`.
    pub(crate) fn sends_credentials_in_clear(&self) -> bool {
        super::endpoint::credentials_in_clear(
            &self.endpoint,
            self.headers.0.iter().map(|(name, _)| name.as_str()),
        )
    }

    /// POSTs `body` with `key` as its `Idempotency-Key`, retrying as
    /// [`Retry`] says; gives up when the next try could not finish before
    /// `deadline`. On failure, `fate` says what becomes of the events.
    ///
    /// `gate` is asked before every try, before the client connects:
    /// `None` stops at once (nothing is written, not even the request's
    /// head). What it returns is held from then until the body is written
    /// (through name resolution, connecting and TLS; not while the answer
    /// is awaited), and between the body's chunks it is asked whether the
    /// decision still stands: an opt-out while a large body is written
    /// stops it unfinished.
    #[expect(
        clippy::too_many_arguments,
        reason = "what one request is, what to say on failure, and two hooks: each distinct"
    )]
    pub(crate) fn post(
        &self,
        content_type: &str,
        body: &[u8],
        key: &str,
        deadline: Option<Instant>,
        fate: &str,
        gate: &mut dyn Gate,
        requests: &mut u64,
    ) -> Result<(), NotDelivered> {
        if crate::env::BUILT_WITHOUT_TELEMETRY {
            return Err(self.built_without_telemetry(fate));
        }
        let fail = |status, reason: &str, reach| NotDelivered {
            error: TelemetryError::delivered_or(
                self.endpoint.shown().to_owned(),
                status,
                &crate::text::printable(reason),
                fate,
            ),
            reach,
        };
        let mut headers: Vec<(String, String)> = vec![
            ("content-type".into(), content_type.into()),
            ("idempotency-key".into(), key.into()),
        ];
        if let Some(credentials) = self.endpoint.credentials() {
            use base64::Engine as _;
            let encoded = base64::engine::general_purpose::STANDARD.encode(credentials);
            headers.push(("authorization".into(), format!("Basic {encoded}")));
        }
        headers.extend(self.headers.0.iter().cloned());
        let mut delay = self.retry.first_delay;
        let mut attempt = 1;
        let mut reached_before = false;
        let stopped = |reached_before: bool| {
            let reach = if reached_before {
                Reach::MaybeReached
            } else {
                Reach::Stopped
            };
            fail(None, "telemetry was turned off; not sent", reach)
        };
        loop {
            let by = Instant::now() + self.request_timeout;
            let by = deadline.map_or(by, |d| d.min(by));
            let outcome = self.post_once(&headers, body, by, gate);
            // A request made: one that was written (whatever came back).
            if matches!(
                outcome,
                Outcome::Done
                    | Outcome::Retry { reached: true, .. }
                    | Outcome::Fail {
                        reach: Reach::Refused | Reach::MaybeReached,
                        ..
                    }
            ) {
                *requests += 1;
            }
            let (reason, status, after) = match outcome {
                Outcome::Done => return Ok(()),
                Outcome::Stopped => return Err(stopped(reached_before)),
                Outcome::Fail {
                    reason,
                    status,
                    reach,
                } => {
                    let reach = if reach == Reach::NotReached && reached_before {
                        Reach::MaybeReached
                    } else {
                        reach
                    };
                    return Err(fail(status, &reason, reach));
                }
                Outcome::Retry {
                    reason,
                    status,
                    after,
                    reached,
                } => {
                    reached_before |= reached;
                    (reason, status, after)
                }
            };
            let reach = if reached_before {
                Reach::MaybeReached
            } else {
                Reach::NotReached
            };
            let wait = after
                .unwrap_or_else(|| jitter(delay))
                .min(self.retry.max_delay);
            let out_of_time =
                deadline.is_some_and(|d| Instant::now().checked_add(wait).is_none_or(|t| t >= d));
            if attempt >= self.retry.attempts || out_of_time {
                return Err(fail(
                    status,
                    &format!("{reason} (after {attempt} attempts)"),
                    reach,
                ));
            }
            std::thread::sleep(wait);
            delay = delay.saturating_mul(2).min(self.retry.max_delay);
            attempt += 1;
        }
    }

    /// A packager's build sends nothing, even through a sink a tool built
    /// by hand; and this way no HTTP code is in its binary.
    fn built_without_telemetry(&self, fate: &str) -> NotDelivered {
        NotDelivered {
            error: TelemetryError::delivered_or(
                self.endpoint.shown().to_owned(),
                None,
                "this build has no telemetry (built with `--cfg rtb_telemetry_disabled`): \
                 nothing is sent",
                fate,
            ),
            reach: Reach::Stopped,
        }
    }

    fn post_once(
        &self,
        headers: &[(String, String)],
        body: &[u8],
        deadline: Instant,
        gate: &mut dyn Gate,
    ) -> Outcome {
        let mut post = Post::new(
            self.endpoint.url(),
            headers,
            Body::new(body, gate),
            deadline,
        );
        // The decision is checked, and held, before the client connects: a
        // client writes the request's head (its headers, credentials
        // among them) before it reads the body.
        if !post.body().hold() {
            return Outcome::Stopped;
        }
        let result = self.client.post(&mut post);
        if post.stopped() {
            return Outcome::Stopped;
        }
        match result {
            Ok(answer) => {
                let status = answer.status();
                match status {
                    200..=299 => Outcome::Done,
                    408 | 429 | 500..=599 => Outcome::Retry {
                        reason: format!("HTTP {status}"),
                        status: Some(status),
                        after: answer
                            .retry_after_secs()
                            .filter(|_| status == 429 || status == 503),
                        reached: true,
                    },
                    // What the events carry was refused: split and set
                    // aside, down to the event at fault.
                    400 | 413 | 422 => Outcome::Fail {
                        reason: format!("HTTP {status}, refused"),
                        status: Some(status),
                        reach: Reach::Refused,
                    },
                    // Who or where we are was refused (credentials, path,
                    // method): the events are fine; keep them.
                    401..=499 => Outcome::Fail {
                        reason: format!(
                            "HTTP {status}: the collector refuses this tool's requests (check the \
                             endpoint and its credentials); not retried"
                        ),
                        status: Some(status),
                        reach: Reach::MaybeReached,
                    },
                    // A redirect (never followed) or an interim answer: the
                    // configuration is wrong, not the events.
                    _ => Outcome::Fail {
                        reason: format!("HTTP {status}, not retried"),
                        status: Some(status),
                        reach: Reach::MaybeReached,
                    },
                }
            }
            Err(e) => outcome_of(&e),
        }
    }
}

fn outcome_of(e: &ClientError) -> Outcome {
    match (e.may_have_reached(), e.heals()) {
        (false, true) => Outcome::Retry {
            reason: e.message().to_owned(),
            status: None,
            after: None,
            reached: false,
        },
        (false, false) => Outcome::Fail {
            reason: format!("{} (not retried: waiting cannot fix it)", e.message()),
            status: None,
            reach: Reach::NotReached,
        },
        (true, _) => Outcome::Retry {
            reason: e.message().to_owned(),
            status: None,
            after: None,
            reached: true,
        },
    }
}

/// "Equal jitter": a random delay between half of `delay` and all of it.
pub(crate) fn jitter(delay: Duration) -> Duration {
    // A fresh `RandomState` hashes to a value unpredictable enough for
    // spreading retries; no need for a random-number dependency.
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    let half = delay / 2;
    let spread = u64::try_from(half.as_micros()).unwrap_or(u64::MAX).max(1);
    half.saturating_add(Duration::from_micros(random % spread))
}

#[cfg(test)]
mod tests {
    use std::any::Any;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::super::client::{Answer, ClientError, Gate, HttpClient, Post};
    use super::super::endpoint::Endpoint;
    use super::{Retry, Sender, jitter};

    /// A client that counts the requests it was handed.
    struct Counting(Arc<AtomicUsize>);

    impl HttpClient for Counting {
        fn post(&self, post: &mut Post<'_>) -> Result<Answer, ClientError> {
            self.0.fetch_add(1, Ordering::SeqCst);
            let _ = post.body().all_at_once();
            Ok(Answer::new(200))
        }
    }

    /// Open for its first `passes` asks, closed after (an opt-out).
    struct ClosesAfter(usize);

    impl Gate for ClosesAfter {
        fn pass(&mut self) -> Option<Box<dyn Any>> {
            if self.0 == 0 {
                return None;
            }
            self.0 -= 1;
            Some(Box::new(()))
        }
    }

    /// An opt-out between two checks of the decision: the client is never
    /// handed the request (it would write the head, credentials and all,
    /// before reading the body).
    #[test]
    fn no_request_reaches_the_client_once_the_gate_is_closed() {
        for (passes, handed) in [(0, 0), (1, 1)] {
            let count = Arc::new(AtomicUsize::new(0));
            let sender = Sender::new(
                Endpoint::parse("https://user:pw@collector.example/v1").unwrap(),
                vec![],
                Retry::default(),
                Duration::from_secs(1),
                Arc::new(Counting(count.clone())),
            );
            let result = sender.post(
                "application/json",
                b"[]",
                "KEY",
                None,
                "kept",
                &mut ClosesAfter(passes),
                &mut 0,
            );
            assert_eq!(count.load(Ordering::SeqCst), handed, "{passes} passes");
            assert_eq!(result.is_ok(), handed == 1, "{passes} passes");
        }
    }

    #[test]
    fn jitter_never_panics_and_stays_in_range() {
        for delay in [
            Duration::ZERO,
            Duration::from_nanos(1),
            Duration::from_millis(200),
            Duration::MAX,
        ] {
            let wait = jitter(delay);
            assert!(wait >= delay / 2 && wait <= delay, "{delay:?} -> {wait:?}");
        }
    }
}
