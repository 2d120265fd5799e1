//! Where a tool's events go, and the uploader that takes spooled events
//! there off the command's path.

use std::path::{Path, PathBuf};
#[cfg(feature = "http")]
use std::time::{Duration, Instant, SystemTime};

use crate::Env;
#[cfg(feature = "http")]
use crate::TelemetryError;
#[cfg(feature = "http")]
use crate::remote::batch::{Core, Encoding, Options};
#[cfg(feature = "http")]
use crate::spool::Spool;

/// Endpoints the tool author built in; the environment can override them.
#[derive(Debug, Clone, Default)]
pub(crate) struct Defaults {
    pub(crate) json: Option<String>,
    pub(crate) otlp: Option<String>,
}

/// Where events go.
#[derive(Debug)]
pub(crate) enum Target {
    /// Spooled, then uploaded to a collector.
    #[cfg(feature = "http")]
    Remote(Box<Remote>),
    /// Kept in a local JSON Lines file, never sent.
    File(PathBuf),
}

/// A validated collector: what the uploader needs to build its exporter,
/// and what `status` shows.
#[cfg(feature = "http")]
#[derive(Debug)]
pub(crate) struct Remote {
    options: Options,
    suffix: Option<&'static str>,
    encoding: Encoding,
    /// The endpoint without credentials.
    pub(crate) shown: String,
    pub(crate) protocol: &'static str,
    /// Credentials would cross the network in clear text.
    pub(crate) clear_credentials: bool,
}

#[cfg(feature = "http")]
impl Remote {
    fn new(
        options: Options,
        suffix: Option<&'static str>,
        encoding: Encoding,
        protocol: &'static str,
    ) -> Result<Self, TelemetryError> {
        let endpoint = options.validate(suffix)?;
        Ok(Self {
            clear_credentials: options.clear_credentials(&endpoint),
            shown: endpoint.shown().to_owned(),
            options,
            suffix,
            encoding,
            protocol,
        })
    }

    fn json(url: String) -> Result<Self, TelemetryError> {
        Self::new(
            Options::new(url),
            None,
            crate::remote::http::JSON,
            "JSON over HTTP",
        )
    }

    #[cfg(feature = "otlp")]
    fn otlp(builder: crate::remote::OtlpSinkBuilder) -> Result<Self, TelemetryError> {
        let (options, suffix) = builder.into_parts();
        Self::new(options, suffix, crate::remote::otlp::PROTOBUF, "OTLP/HTTP")
    }

    /// The exporter, for the uploader's own thread. Touches no network.
    fn exporter(
        self: Box<Self>,
        deadline_budget: Duration,
    ) -> Result<std::sync::Arc<Core>, TelemetryError> {
        let mut options = self.options;
        // One uploader run has a fixed budget; no single request may use
        // all of it.
        options.request_timeout = options.request_timeout.min(deadline_budget);
        Ok(std::sync::Arc::clone(
            &options.into_batcher(self.suffix, self.encoding)?.core,
        ))
    }
}

impl Target {
    /// What `status` says about it.
    pub(crate) fn describe(&self) -> String {
        match self {
            #[cfg(feature = "http")]
            Self::Remote(remote) => format!("{} ({})", remote.shown, remote.protocol),
            Self::File(path) => format!("{} (kept on this machine)", path.display()),
        }
    }
}

/// The target, and the problems met choosing it.
#[derive(Debug)]
pub(crate) struct Resolved {
    pub(crate) target: Target,
    pub(crate) problems: Vec<String>,
}

/// Chooses where events go: `<PREFIX>_TELEMETRY_ENDPOINT` (JSON), the
/// standard `OTEL_EXPORTER_OTLP_*` variables (OTLP), the tool's built-in
/// endpoints, else a local file. A destination that is configured but
/// unusable (a malformed URL, a scheme-less gRPC address) is not skipped
/// for the next one — that could send events somewhere the user did not
/// mean — but replaced by the local file, and named as a problem.
pub(crate) fn resolve(prefix: &str, env: &Env, defaults: &Defaults, data_dir: &Path) -> Resolved {
    let file = data_dir.join("events.jsonl");
    #[cfg_attr(feature = "otlp", allow(unused_mut, reason = "pushed to without otlp"))]
    let mut problems = Vec::new();
    let local = |problems: Vec<String>| Resolved {
        target: Target::File(file.clone()),
        problems,
    };
    let variable = format!("{prefix}_TELEMETRY_ENDPOINT");
    let tool_endpoint = env.text(&variable);
    #[cfg(feature = "http")]
    {
        let unusable = |what: &str, e: TelemetryError| {
            format!(
                "{what} is not usable ({e}); events are kept in {} and not sent",
                file.display()
            )
        };
        if let Some(url) = tool_endpoint {
            return match Remote::json(url) {
                Ok(remote) => remote_target(remote, problems),
                Err(e) => local(vec![unusable(&variable, e)]),
            };
        }
        #[cfg(feature = "otlp")]
        match crate::remote::OtlpSinkBuilder::from_env(env)
            .and_then(|b| b.map(Remote::otlp).transpose())
        {
            Ok(Some(remote)) => return remote_target(remote, problems),
            Ok(None) => {}
            Err(e) => return local(vec![unusable("the OTEL_EXPORTER_OTLP_* configuration", e)]),
        }
        #[cfg(not(feature = "otlp"))]
        if env.text("OTEL_EXPORTER_OTLP_ENDPOINT").is_some() {
            problems.push("OTEL_EXPORTER_OTLP_ENDPOINT is set, but this build has no OTLP support (the `otlp` feature)".to_owned());
        }
        if let Some(url) = &defaults.json {
            return match Remote::json(url.clone()) {
                Ok(remote) => remote_target(remote, problems),
                Err(e) => local(vec![unusable("the tool's built-in endpoint", e)]),
            };
        }
        #[cfg(feature = "otlp")]
        if let Some(url) = &defaults.otlp {
            return match Remote::otlp(crate::remote::OtlpSink::builder(url)) {
                Ok(remote) => remote_target(remote, problems),
                Err(e) => local(vec![unusable("the tool's built-in OTLP endpoint", e)]),
            };
        }
        local(problems)
    }
    #[cfg(not(feature = "http"))]
    {
        let _ = (defaults, env);
        if tool_endpoint.is_some() || defaults.json.is_some() || defaults.otlp.is_some() {
            problems.push(format!(
                "an endpoint is configured, but this build cannot send (the `http` feature is \
                 off); events are kept in {}",
                file.display()
            ));
        }
        local(problems)
    }
}

#[cfg(feature = "http")]
fn remote_target(remote: Remote, mut problems: Vec<String>) -> Resolved {
    if remote.clear_credentials {
        problems.push(format!(
            "credentials (an auth header or user info) go to {} over plain http://, unencrypted",
            remote.shown
        ));
    }
    Resolved {
        target: Target::Remote(Box::new(remote)),
        problems,
    }
}

/// What one uploader run did.
#[cfg(feature = "http")]
#[derive(Debug, Default, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct UploadReport {
    /// Events the collector accepted.
    pub delivered: u64,
    /// Torn or garbled lines skipped (never sent).
    pub skipped: u64,
    /// Events deleted unsent because they were older than the age bound.
    pub expired: u64,
    /// `false` when another uploader was already at work.
    pub ran: bool,
}

/// How the events of a failed upload fare.
#[cfg(feature = "http")]
const KEPT: &str = "stay in the spool and are sent again by a later run (a collector that \
                    refuses them keeps refusing until it is fixed or they expire after 30 days)";

/// How long the uploader waits for live writers (a command still running)
/// to finish their files.
#[cfg(feature = "http")]
const WAIT_FOR_WRITERS: Duration = Duration::from_secs(10);

/// Uploads what the spool holds, oldest first, until it is empty, the
/// network fails, or `deadline`. At most one uploader per spool at a time:
/// a second returns at once (`ran: false`).
///
/// A file still being written (its lock held by a running command) is
/// waited for, briefly. Delivered records are removed from the spool; a
/// failure leaves the rest for a later run. Records keep their ids, so a
/// resend after a crash between "sent" and "removed" carries the same ids
/// and idempotency keys.
#[cfg(feature = "http")]
pub(crate) fn upload(
    spool: &Spool,
    remote: Box<Remote>,
    deadline: Instant,
) -> Result<UploadReport, TelemetryError> {
    let mut report = UploadReport::default();
    spool.check_dir()?;
    let budget = deadline.saturating_duration_since(Instant::now());
    let exporter = remote.exporter(budget)?;
    let writers_deadline = Instant::now() + WAIT_FOR_WRITERS.min(budget);
    let mut result = Ok(());
    // A command that started its uploader while this one held the lock
    // gave up at once; so, after letting go, look again, and go on if files
    // are left and the lock is free.
    while let Some(lock) = upload_lock(spool)? {
        report.ran = true;
        let before = (report.delivered, report.skipped, report.expired);
        let _ = crate::fs::write_atomic(
            &spool.dir().join("upload.pid"),
            std::process::id().to_string().as_bytes(),
            0o600,
        );
        result = drain(spool, &exporter, deadline, writers_deadline, &mut report);
        let _ = std::fs::remove_file(spool.dir().join("upload.pid"));
        drop(lock);
        let progress = (report.delivered, report.skipped, report.expired) != before;
        if result.is_err() || !progress || Instant::now() >= deadline || spool.files().is_empty() {
            break;
        }
    }
    if report.ran {
        let now = crate::timestamp::rfc3339_utc(SystemTime::now());
        spool.update_state(Duration::from_secs(1), |state| {
            state.last_attempt = Some(now.clone());
            state.delivered = state.delivered.saturating_add(report.delivered);
            state.skipped = state.skipped.saturating_add(report.skipped);
            state.expired = state.expired.saturating_add(report.expired);
            match &result {
                Ok(()) => {
                    state.last_success = Some(now.clone());
                    state.last_error = None;
                }
                Err(e) => state.last_error = Some(e.one_line()),
            }
        });
    }
    result.map(|()| report)
}

/// The uploader's lock, without waiting: `None` when another uploader holds
/// it. Something that is not a regular file at its path (planted, or left
/// by a crash) is removed once, so uploads cannot be stopped for good.
#[cfg(feature = "http")]
fn upload_lock(spool: &Spool) -> Result<Option<crate::fs::Lock>, TelemetryError> {
    let path = spool.upload_lock_path();
    match crate::fs::lock(&path, Duration::ZERO) {
        Ok(lock) => Ok(lock),
        Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => {
            std::fs::remove_file(&path)
                .or_else(|_| std::fs::remove_dir(&path))
                .map_err(|e| TelemetryError::io("remove what is not a lock file at", &path, e))?;
            crate::fs::lock(&path, Duration::ZERO).map_err(|e| TelemetryError::io("lock", &path, e))
        }
        Err(e) => Err(TelemetryError::io("lock", &path, e)),
    }
}

#[cfg(feature = "http")]
fn drain(
    spool: &Spool,
    exporter: &Core,
    deadline: Instant,
    writers_deadline: Instant,
    report: &mut UploadReport,
) -> Result<(), TelemetryError> {
    loop {
        report.expired = report.expired.saturating_add(spool.sweep());
        let mut live = false;
        for path in spool.files() {
            if Instant::now() >= deadline {
                return Ok(());
            }
            let file = match crate::spool::try_lock_existing(&path) {
                Ok(Some(file)) => file,
                Ok(None) => {
                    live = true; // its command is still running
                    continue;
                }
                Err(_) => continue, // vanished, or not a regular file
            };
            let Ok((records, skipped)) = crate::spool::read_records(&path, spool.max_bytes.max(1))
            else {
                // Larger than the whole spool may be, or unreadable: no
                // writer of ours made it. Drop it rather than let it block
                // every later upload.
                let _ = std::fs::remove_file(&path);
                report.skipped = report.skipped.saturating_add(1);
                continue;
            };
            report.skipped = report.skipped.saturating_add(skipped);
            let mut sent = 0;
            let events: Vec<_> = records.iter().map(|(r, _)| r.clone()).collect();
            for batch in exporter.split(&events) {
                exporter.send(batch, Some(deadline), KEPT)?;
                sent += batch.len();
                report.delivered = report.delivered.saturating_add(batch.len() as u64);
                // Record progress at once: a crash from here on resends only
                // what was not yet confirmed.
                let rest: Vec<u8> = records[sent..]
                    .iter()
                    .flat_map(|(_, raw)| raw.iter().copied())
                    .collect();
                if rest.is_empty() {
                    std::fs::remove_file(&path)
                        .map_err(|e| TelemetryError::io("delete", &path, e))?;
                } else {
                    crate::fs::write_atomic(&path, &rest, 0o600)
                        .map_err(|e| TelemetryError::io("rewrite", &path, e))?;
                }
            }
            if records.is_empty() {
                let _ = std::fs::remove_file(&path);
            }
            drop(file);
        }
        if !live || Instant::now() >= writers_deadline.min(deadline) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[cfg(all(test, feature = "http"))]
mod tests {
    use super::*;

    #[test]
    fn a_malformed_or_grpc_destination_keeps_events_local_and_says_why() {
        let dir = tempfile::tempdir().unwrap();
        for (name, value) in [
            ("MYTOOL_TELEMETRY_ENDPOINT", "ftp://x"),
            ("MYTOOL_TELEMETRY_ENDPOINT", "collector.example.com"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "localhost:4317"),
        ] {
            let env = Env::from_vars([(name, value)]);
            let resolved = resolve("MYTOOL", &env, &Defaults::default(), dir.path());
            if name.starts_with("OTEL") && !cfg!(feature = "otlp") {
                continue;
            }
            assert!(matches!(resolved.target, Target::File(_)), "{name}={value}");
            assert_eq!(resolved.problems.len(), 1, "{:?}", resolved.problems);
            assert!(
                resolved.problems[0].contains("not usable"),
                "{:?}",
                resolved.problems
            );
        }
    }

    #[test]
    fn the_tool_variable_wins_and_credentials_in_clear_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let env = Env::from_vars([
            ("MYTOOL_TELEMETRY_ENDPOINT", "http://u:pw@127.0.0.1:9/e?k=v"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318"),
        ]);
        let resolved = resolve("MYTOOL", &env, &Defaults::default(), dir.path());
        let Target::Remote(remote) = &resolved.target else {
            panic!("{resolved:?}")
        };
        assert_eq!(remote.protocol, "JSON over HTTP");
        assert!(!resolved.target.describe().contains("pw"));
        assert!(
            resolved.problems[0].contains("plain http://"),
            "{:?}",
            resolved.problems
        );
    }
}
