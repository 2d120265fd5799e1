//! One POST with timeouts, retries, exponential backoff and jitter.

use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::time::{Duration, Instant};

use super::endpoint::Endpoint;
use crate::TelemetryError;

/// The longest connect or request timeout handed to the HTTP client; longer
/// settings (up to `Duration::MAX`) mean "this long".
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

#[derive(Debug, Clone)]
pub(crate) struct Transport {
    pub(crate) endpoint: Endpoint,
    pub(crate) headers: Headers,
    pub(crate) retry: Retry,
    request_timeout: Duration,
    agent: Agent,
}

/// `ureq::Agent` without its `Debug` (which is not ours to vouch for).
#[derive(Clone)]
struct Agent(ureq::Agent);

impl fmt::Debug for Agent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Agent")
    }
}

enum Outcome {
    Done,
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

/// How far a failed request got: what may be done with its events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reach {
    /// The request never reached the collector (no connection, no TLS
    /// session): nobody saw its idempotency key.
    NotReached,
    /// The collector may have received it (a timeout after sending, an
    /// error status that may pass): resend it as it is.
    MaybeReached,
    /// The collector answered a 4xx other than 408 and 429: this request
    /// will never be taken as it is.
    Refused,
    /// The gate closed before the request started (telemetry turned off).
    Stopped,
}

/// Why a POST did not deliver.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) error: TelemetryError,
    pub(crate) reach: Reach,
}

impl Transport {
    pub(crate) fn new(
        endpoint: Endpoint,
        headers: Vec<(String, String)>,
        retry: Retry,
        (connect_timeout, request_timeout): (Duration, Duration),
        roots: Vec<ureq::tls::Certificate<'static>>,
    ) -> Self {
        let roots = if roots.is_empty() {
            ureq::tls::RootCerts::WebPki
        } else {
            ureq::tls::RootCerts::from(roots)
        };
        let tls = ureq::tls::TlsConfig::builder().root_certs(roots).build();
        let request_timeout = request_timeout.min(MAX_TIMEOUT);
        let agent = ureq::Agent::config_builder()
            .tls_config(tls)
            .timeout_connect(Some(connect_timeout.min(MAX_TIMEOUT)))
            .timeout_global(Some(request_timeout))
            .http_status_as_error(false)
            .max_redirects(0)
            .build()
            .new_agent();
        Self {
            endpoint,
            headers: Headers(headers),
            retry: Retry {
                attempts: retry.attempts.max(1),
                ..retry
            },
            request_timeout,
            agent: Agent(agent),
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
    /// `gate` runs before every attempt: `None` stops at once (no request
    /// starts); what it returns is held while the attempt runs.
    pub(crate) fn post<P>(
        &self,
        content_type: &str,
        body: &[u8],
        key: &str,
        deadline: Option<Instant>,
        fate: &str,
        gate: &mut dyn FnMut() -> Option<P>,
    ) -> Result<(), Failure> {
        let fail = |status, reason: &str, reach| {
            let reason = reason.replace(self.endpoint.url(), self.endpoint.shown());
            Failure {
                error: TelemetryError::delivered_or(
                    self.endpoint.shown().to_owned(),
                    status,
                    &reason,
                    fate,
                ),
                reach,
            }
        };
        let mut delay = self.retry.first_delay;
        let mut attempt = 1;
        let mut reached_before = false;
        loop {
            let Some(permit) = gate() else {
                let reach = if reached_before {
                    Reach::MaybeReached
                } else {
                    Reach::Stopped
                };
                return Err(fail(None, "telemetry was turned off; not sent", reach));
            };
            let outcome = self.post_once(content_type, body, key, deadline);
            drop(permit);
            let (reason, status, after) = match outcome {
                Outcome::Done => return Ok(()),
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

    fn post_once(
        &self,
        content_type: &str,
        body: &[u8],
        key: &str,
        deadline: Option<Instant>,
    ) -> Outcome {
        let mut request = self
            .agent
            .0
            .post(self.endpoint.url())
            .header("content-type", content_type)
            .header("idempotency-key", key);
        if let Some(deadline) = deadline {
            let left = deadline.saturating_duration_since(Instant::now());
            request = request
                .config()
                .timeout_global(Some(left.min(self.request_timeout)))
                .build();
        }
        for (name, value) in &self.headers.0 {
            request = request.header(name.as_str(), value.as_str());
        }
        match request.send(body) {
            Ok(response) => {
                let status = response.status().as_u16();
                match status {
                    200..=299 => Outcome::Done,
                    408 | 429 | 500..=599 => Outcome::Retry {
                        reason: format!("HTTP {status}"),
                        status: Some(status),
                        after: retry_after(&response),
                        reached: true,
                    },
                    400..=499 => Outcome::Fail {
                        reason: format!("HTTP {status}, refused"),
                        status: Some(status),
                        reach: Reach::Refused,
                    },
                    // A redirect (never followed) or an informational
                    // answer: the configuration is wrong, not the events.
                    _ => Outcome::Fail {
                        reason: format!("HTTP {status}, not retried"),
                        status: Some(status),
                        reach: Reach::MaybeReached,
                    },
                }
            }
            Err(e) if heals(&e) => Outcome::Retry {
                reason: e.to_string(),
                status: None,
                after: None,
                reached: !never_sent(&e),
            },
            Err(e) => Outcome::Fail {
                reason: format!("{e} (not retried: waiting cannot fix it)"),
                status: None,
                reach: if never_sent(&e) {
                    Reach::NotReached
                } else {
                    Reach::MaybeReached
                },
            },
        }
    }
}

/// Whether `e` happened before any of the request could reach the
/// collector: no connection, or no TLS session.
fn never_sent(e: &ureq::Error) -> bool {
    use ureq::Error as E;
    use ureq::Timeout as T;
    match e {
        E::HostNotFound
        | E::ConnectionFailed
        | E::Tls(_)
        | E::Rustls(_)
        | E::Pem(_)
        | E::Timeout(T::Resolve | T::Connect) => true,
        E::Io(io) => matches!(
            io.kind(),
            std::io::ErrorKind::ConnectionRefused
                | std::io::ErrorKind::HostUnreachable
                | std::io::ErrorKind::NetworkUnreachable
                | std::io::ErrorKind::AddrNotAvailable
        ),
        _ => false,
    }
}

/// Whether waiting and trying again can fix `e`: the network and the
/// server's moods can change; a certificate, a header or a URL cannot.
fn heals(e: &ureq::Error) -> bool {
    use ureq::Error as E;
    match e {
        // TLS failures inside the stream surface as InvalidData.
        E::Io(io) => io.kind() != std::io::ErrorKind::InvalidData,
        E::Timeout(_) | E::HostNotFound | E::ConnectionFailed | E::Protocol(_) | E::BodyStalled => {
            true
        }
        _ => false,
    }
}

/// A `Retry-After` of whole seconds (an HTTP date is not honoured: backoff
/// applies then).
fn retry_after(response: &ureq::http::Response<ureq::Body>) -> Option<Duration> {
    let status = response.status().as_u16();
    if status != 429 && status != 503 {
        return None;
    }
    let value = response.headers().get("retry-after")?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
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
    use super::jitter;
    use std::time::Duration;

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
