//! One POST with timeouts, retries, exponential backoff and jitter.

use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use crate::TelemetryError;

/// How a remote sink retries a batch.
///
/// Network errors, HTTP 5xx and 429 are retried with exponential backoff and
/// jitter; a 429 or 503 `Retry-After` of whole seconds is honoured, up to
/// `max_delay`. Other 4xx answers are not retried.
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
    pub(crate) endpoint: String,
    pub(crate) headers: Headers,
    pub(crate) retry: Retry,
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
    },
    Fail {
        reason: String,
        status: Option<u16>,
    },
}

impl Transport {
    pub(crate) fn new(
        endpoint: String,
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
        let agent = ureq::Agent::config_builder()
            .tls_config(tls)
            .timeout_connect(Some(connect_timeout))
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
            agent: Agent(agent),
        }
    }

    /// POSTs `body`, retrying as [`Retry`] says.
    pub(crate) fn post(&self, content_type: &str, body: &[u8]) -> Result<(), TelemetryError> {
        let mut delay = self.retry.first_delay;
        let mut attempt = 1;
        loop {
            let (reason, status, after) = match self.post_once(content_type, body) {
                Outcome::Done => return Ok(()),
                Outcome::Fail { reason, status } => {
                    return Err(TelemetryError::delivery(&self.endpoint, status, reason));
                }
                Outcome::Retry {
                    reason,
                    status,
                    after,
                } => (reason, status, after),
            };
            if attempt >= self.retry.attempts {
                let reason = format!("{reason} (after {attempt} attempts)");
                return Err(TelemetryError::delivery(&self.endpoint, status, reason));
            }
            let wait = after
                .unwrap_or_else(|| jitter(delay))
                .min(self.retry.max_delay);
            std::thread::sleep(wait);
            delay = (delay * 2).min(self.retry.max_delay);
            attempt += 1;
        }
    }

    fn post_once(&self, content_type: &str, body: &[u8]) -> Outcome {
        let mut request = self
            .agent
            .0
            .post(&self.endpoint)
            .header("content-type", content_type);
        for (name, value) in &self.headers.0 {
            request = request.header(name.as_str(), value.as_str());
        }
        match request.send(body) {
            Ok(response) => {
                let status = response.status().as_u16();
                match status {
                    200..=299 => Outcome::Done,
                    429 | 500..=599 => Outcome::Retry {
                        reason: format!("HTTP {status}"),
                        status: Some(status),
                        after: retry_after(&response),
                    },
                    _ => Outcome::Fail {
                        reason: format!("HTTP {status}, not retried"),
                        status: Some(status),
                    },
                }
            }
            // Anything below HTTP (refused, reset, timed out, DNS, TLS):
            // worth another try. The error names no header.
            Err(e) => Outcome::Retry {
                reason: e.to_string(),
                status: None,
                after: None,
            },
        }
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
fn jitter(delay: Duration) -> Duration {
    // A fresh `RandomState` hashes to a value unpredictable enough for
    // spreading retries; no need for a random-number dependency.
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    let half = delay / 2;
    let spread = u64::try_from(half.as_micros()).unwrap_or(u64::MAX).max(1);
    half + Duration::from_micros(random % spread)
}
