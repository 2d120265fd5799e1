//! One POST with timeouts, retries, exponential backoff and jitter.

use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::time::{Duration, Instant};

use std::sync::Arc;

use super::client::{Client, Failed, Proxy};
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

#[derive(Clone)]
pub(crate) struct Transport {
    pub(crate) endpoint: Endpoint,
    pub(crate) headers: Headers,
    pub(crate) retry: Retry,
    request_timeout: Duration,
    client: Client,
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transport")
            .field("endpoint", &self.endpoint)
            .field("headers", &self.headers)
            .field("retry", &self.retry)
            .field("request_timeout", &self.request_timeout)
            .finish_non_exhaustive()
    }
}

enum Outcome {
    Done,
    /// The gate closed before the request was written.
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
    /// The gate closed before the request started (telemetry turned off).
    Stopped,
}

/// Why a POST did not deliver.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) error: TelemetryError,
    pub(crate) reach: Reach,
}

/// The system's trusted roots where they are kept in files: `SSL_CERT_FILE`
/// and the PEM files in `SSL_CERT_DIR` when set (as OpenSSL reads them),
/// else the first bundle found at the usual places. Unreadable or
/// malformed entries are skipped. Read only for an `https://` collector.
fn system_roots(env: &crate::Env) -> Vec<rustls::pki_types::CertificateDer<'static>> {
    use rustls::pki_types::pem::PemObject as _;
    const BUNDLES: &[&str] = &[
        "/etc/ssl/certs/ca-certificates.crt", // Debian, Ubuntu, Arch, Gentoo
        "/etc/pki/tls/certs/ca-bundle.crt",   // Fedora, RHEL
        "/etc/ssl/ca-bundle.pem",             // openSUSE
        "/etc/ssl/cert.pem",                  // Alpine, macOS, OpenBSD
        "/usr/local/share/certs/ca-root-nss.crt", // FreeBSD
        "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem", // CentOS
    ];
    const FILES: usize = 4096;
    const BYTES: usize = 16 * 1024 * 1024;
    let mut files: Vec<std::path::PathBuf> = Vec::new();
    if let Some(file) = env.text("SSL_CERT_FILE") {
        files.push(file.into());
    }
    if let Some(dirs) = env.text("SSL_CERT_DIR") {
        for dir in std::env::split_paths(&dirs) {
            if let Ok(entries) = std::fs::read_dir(dir) {
                files.extend(entries.filter_map(Result::ok).map(|e| e.path()).take(FILES));
            }
        }
    }
    if files.is_empty()
        && let Some(bundle) = BUNDLES.iter().find(|p| std::path::Path::new(p).is_file())
    {
        files.push(bundle.into());
    }
    // Regular files only, looked at before opening (opening a device such
    // as a serial line has effects of its own); at most 4096 of them and
    // 16 MiB in all, whatever the variables point at.
    let mut budget = BYTES;
    let mut roots = Vec::new();
    for file in files.iter().take(FILES) {
        if budget == 0 || !std::fs::metadata(file).is_ok_and(|m| m.is_file()) {
            continue;
        }
        let limit = budget.min(4 * 1024 * 1024) as u64;
        let Ok(Some(pem)) = crate::fs::read_small(file, limit) else {
            continue;
        };
        budget = budget.saturating_sub(pem.len());
        roots
            .extend(rustls::pki_types::CertificateDer::pem_slice_iter(&pem).filter_map(Result::ok));
    }
    roots
}

/// On Windows and macOS the system's own verifier (`CryptoAPI`, the
/// Security framework: its stores, enterprise roots, revocation), with
/// `SSL_CERT_FILE`/`SSL_CERT_DIR` added; `None` (then the bundled roots and
/// the system's PEM files) when it cannot be made. Elsewhere the system's store *is* its PEM files, read by
/// [`system_roots`], so no second verifier is linked in (it would add
/// 0.14 MB to a Linux binary for the same roots).
#[cfg(any(windows, target_vendor = "apple"))]
fn platform_verifier(
    env: &crate::Env,
    provider: Arc<rustls::crypto::CryptoProvider>,
) -> Option<Arc<dyn rustls::client::danger::ServerCertVerifier>> {
    rustls_platform_verifier::Verifier::new_with_extra_roots(system_roots(env), provider)
        .ok()
        .map(|v| Arc::new(v) as Arc<dyn rustls::client::danger::ServerCertVerifier>)
}

#[cfg(not(any(windows, target_vendor = "apple")))]
fn platform_verifier(
    _env: &crate::Env,
    _provider: Arc<rustls::crypto::CryptoProvider>,
) -> Option<Arc<dyn rustls::client::danger::ServerCertVerifier>> {
    None
}

impl Transport {
    pub(crate) fn new(
        endpoint: Endpoint,
        headers: Vec<(String, String)>,
        retry: Retry,
        (connect_timeout, request_timeout): (Duration, Duration),
        roots: Vec<rustls::pki_types::CertificateDer<'static>>,
        env: &crate::Env,
    ) -> Result<Self, TelemetryError> {
        let custom = !roots.is_empty();
        let mut store = rustls::RootCertStore::empty();
        for root in roots {
            store.add(root).map_err(|e| {
                TelemetryError::config(
                    format!(
                        "a root certificate for `{}` is not usable: {e}",
                        endpoint.shown()
                    ),
                    "pass the collector's CA certificate in PEM form (-----BEGIN CERTIFICATE-----)",
                )
            })?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| TelemetryError::config(format!("TLS: {e}"), "report this as a bug"))?;
        let verifier = if custom || !endpoint.is_https() {
            None
        } else {
            platform_verifier(env, provider)
        };
        let tls = if let Some(verifier) = verifier {
            builder
                .dangerous()
                .with_custom_certificate_verifier(verifier)
        } else {
            if !custom {
                // The bundled web roots, and the system's own store where it
                // is a file (Linux, the BSDs; `SSL_CERT_FILE`/`SSL_CERT_DIR`
                // anywhere): a company CA an administrator added there (TLS
                // inspection) is trusted as the system trusts it.
                store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
                if endpoint.is_https() {
                    let _ = store.add_parsable_certificates(system_roots(env));
                }
            }
            builder.with_root_certificates(store)
        }
        .with_no_client_auth();
        let proxy = Proxy::from_env(env, &endpoint);
        Ok(Self {
            client: Client::new(Arc::new(tls), connect_timeout.min(MAX_TIMEOUT), proxy),
            endpoint,
            headers: Headers(headers),
            retry: Retry {
                attempts: retry.attempts.max(1),
                ..retry
            },
            request_timeout: request_timeout.min(MAX_TIMEOUT),
        })
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
    /// `gate` runs before every attempt, and again once the connection is
    /// up, just before the request is written: `None` stops at once (no
    /// request starts). What it returns is held while the request is
    /// written (not while the answer is awaited), so whoever it locks out
    /// waits at most that long.
    #[expect(
        clippy::too_many_arguments,
        reason = "what one request is, what to say on failure, and two hooks: each distinct"
    )]
    pub(crate) fn post<P: 'static>(
        &self,
        content_type: &str,
        body: &[u8],
        key: &str,
        deadline: Option<Instant>,
        fate: &str,
        gate: &mut dyn FnMut() -> Option<P>,
        requests: &mut u64,
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
        let stopped = |reached_before: bool| {
            let reach = if reached_before {
                Reach::MaybeReached
            } else {
                Reach::Stopped
            };
            fail(None, "telemetry was turned off; not sent", reach)
        };
        loop {
            // Checked (and let go) before connecting; checked again, and
            // held, while the request is written.
            if gate().is_none() {
                return Err(stopped(reached_before));
            }
            let mut hold = || gate().map(|p| Box::new(p) as Box<dyn std::any::Any>);
            let outcome = self.post_once(content_type, body, key, deadline, &mut hold);
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

    fn post_once(
        &self,
        content_type: &str,
        body: &[u8],
        key: &str,
        deadline: Option<Instant>,
        gate: &mut dyn FnMut() -> Option<Box<dyn std::any::Any>>,
    ) -> Outcome {
        let by = Instant::now() + self.request_timeout;
        let by = deadline.map_or(by, |d| d.min(by));
        let mut headers: Vec<(&str, &str)> =
            vec![("Content-Type", content_type), ("Idempotency-Key", key)];
        headers.extend(self.headers.0.iter().map(|(n, v)| (n.as_str(), v.as_str())));
        match self.client.post(&self.endpoint, &headers, body, by, gate) {
            Ok(response) => {
                let status = response.status;
                match status {
                    200..=299 => Outcome::Done,
                    408 | 429 | 500..=599 => Outcome::Retry {
                        reason: format!("HTTP {status}"),
                        status: Some(status),
                        after: retry_after(status, response.retry_after.as_deref()),
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
                    // A redirect (never followed) or an informational
                    // answer: the configuration is wrong, not the events.
                    _ => Outcome::Fail {
                        reason: format!("HTTP {status}, not retried"),
                        status: Some(status),
                        reach: Reach::MaybeReached,
                    },
                }
            }
            Err(Failed::Before {
                message,
                heals: true,
            }) => Outcome::Retry {
                reason: message,
                status: None,
                after: None,
                reached: false,
            },
            Err(Failed::Before {
                message,
                heals: false,
            }) => Outcome::Fail {
                reason: format!("{message} (not retried: waiting cannot fix it)"),
                status: None,
                reach: Reach::NotReached,
            },
            Err(Failed::Stopped) => Outcome::Stopped,
            Err(Failed::After { message }) => Outcome::Retry {
                reason: message,
                status: None,
                after: None,
                reached: true,
            },
        }
    }
}

/// A `Retry-After` of whole seconds on a 429 or 503 (an HTTP date is not
/// honoured: backoff applies then).
fn retry_after(status: u16, value: Option<&str>) -> Option<Duration> {
    if status != 429 && status != 503 {
        return None;
    }
    value?.trim().parse::<u64>().ok().map(Duration::from_secs)
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
