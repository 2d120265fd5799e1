//! Where a tool's events go: a collector (through the spool and the
//! uploader), or the local file. Chosen once per run, by the plan.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::Env;

/// What the tool author built in: endpoints (the environment can override
/// them) and, with `upload`, an HTTP client of the tool's own. Its `Debug`
/// shows the endpoints without credentials.
#[derive(Clone, Default)]
pub(crate) struct Settings {
    pub(crate) json: Option<String>,
    pub(crate) otlp: Option<String>,
    #[cfg(feature = "upload")]
    pub(crate) client: Option<std::sync::Arc<dyn crate::remote::HttpClient>>,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = |url: &Option<String>| url.as_deref().map(crate::redact::redact_url);
        f.debug_struct("Settings")
            .field("json", &shown(&self.json))
            .field("otlp", &shown(&self.otlp))
            .finish_non_exhaustive()
    }
}

/// Where events go.
#[derive(Debug)]
pub(crate) enum Destination {
    /// Spooled, then uploaded to a collector.
    #[cfg(feature = "upload")]
    Collector(Box<collector::Collector>),
    /// Kept in a local JSON Lines file, never sent.
    File(PathBuf),
}

impl Destination {
    /// What `status` says about it.
    pub(crate) fn describe(&self) -> String {
        match self {
            #[cfg(feature = "upload")]
            Self::Collector(collector) => {
                format!("{} ({})", collector.shown, collector.protocol)
            }
            Self::File(path) => format!("{} (kept on this machine)", path.display()),
        }
    }
}

/// Why events do not go where they were configured to, or what is worth
/// knowing about where they go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Problem {
    /// A configured destination cannot be used: events are kept locally.
    #[cfg(feature = "upload")]
    Unusable {
        /// Which setting (a variable, the tool's built-in endpoint).
        what: String,
        /// Why, without credentials.
        why: String,
        kept_in: PathBuf,
    },
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` is set in a build without `otlp`.
    #[cfg(all(feature = "upload", not(feature = "otlp")))]
    NoOtlp,
    /// An endpoint is configured in a build without `upload`.
    #[cfg(not(feature = "upload"))]
    CannotSend { kept_in: PathBuf },
    /// The proxy the environment names cannot be used: nothing is sent.
    #[cfg(feature = "upload")]
    Proxy(String),
    /// Credentials would cross the network unencrypted.
    #[cfg(feature = "upload")]
    CredentialsInClear { shown: String },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            #[cfg(feature = "upload")]
            Self::Unusable { what, why, kept_in } => write!(
                f,
                "{what} is not usable ({why}); events are kept in {} and not sent",
                kept_in.display()
            ),
            #[cfg(all(feature = "upload", not(feature = "otlp")))]
            Self::NoOtlp => f.write_str(
                "OTEL_EXPORTER_OTLP_ENDPOINT is set, but this build has no OTLP support (the \
                 `otlp` feature)",
            ),
            #[cfg(not(feature = "upload"))]
            Self::CannotSend { kept_in } => write!(
                f,
                "an endpoint is configured, but this build cannot send (the `upload` feature \
                 is off); events are kept in {}",
                kept_in.display()
            ),
            #[cfg(feature = "upload")]
            Self::Proxy(why) => f.write_str(why),
            #[cfg(feature = "upload")]
            Self::CredentialsInClear { shown } => write!(
                f,
                "credentials (an auth header or user info) go to {shown} over plain http://, \
                 unencrypted"
            ),
        }
    }
}

/// The destination, and the problems met choosing it.
#[derive(Debug)]
pub(crate) struct Resolved {
    pub(crate) destination: Destination,
    pub(crate) problems: Vec<Problem>,
}

/// Chooses where events go: `<PREFIX>_TELEMETRY_ENDPOINT` (JSON), the
/// standard `OTEL_EXPORTER_OTLP_*` variables (OTLP), the tool's built-in
/// endpoints, else the local file. A destination that is configured but
/// unusable (a malformed URL, a scheme-less gRPC address) is not skipped
/// for the next one — that could send events somewhere the user did not
/// mean — but replaced by the local file, and named as a problem.
#[cfg(feature = "upload")]
pub(crate) fn resolve(prefix: &str, env: &Env, settings: &Settings, data_dir: &Path) -> Resolved {
    collector::resolve(prefix, env, settings, data_dir)
}

/// Without `upload` there is nowhere to send: the local file, and a
/// problem when an endpoint is configured.
#[cfg(not(feature = "upload"))]
pub(crate) fn resolve(prefix: &str, env: &Env, settings: &Settings, data_dir: &Path) -> Resolved {
    let kept_in = crate::pipeline::layout::local_file(data_dir);
    let configured = env.text(&format!("{prefix}_TELEMETRY_ENDPOINT")).is_some()
        || settings.json.is_some()
        || settings.otlp.is_some();
    Resolved {
        problems: configured
            .then(|| Problem::CannotSend {
                kept_in: kept_in.clone(),
            })
            .into_iter()
            .collect(),
        destination: Destination::File(kept_in),
    }
}

#[cfg(feature = "upload")]
pub(crate) mod collector {
    //! A collector as a destination: checked, and ready to make the
    //! uploader's exporter.

    use std::path::Path;
    use std::time::Duration;

    use super::{Destination, Problem, Resolved, Settings};
    use crate::pipeline::export::{Encoding, Exporter, Options};
    use crate::{Env, TelemetryError};

    /// A checked collector: what the uploader needs to build its exporter,
    /// and what `status` shows.
    #[derive(Debug)]
    pub(crate) struct Collector {
        options: Options,
        suffix: Option<&'static str>,
        encoding: Encoding,
        /// The endpoint without credentials.
        pub(crate) shown: String,
        pub(crate) protocol: &'static str,
    }

    impl Collector {
        fn new(
            options: Options,
            suffix: Option<&'static str>,
            encoding: Encoding,
            protocol: &'static str,
        ) -> Result<Self, TelemetryError> {
            let endpoint = options.validate(suffix)?;
            Ok(Self {
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
                crate::pipeline::export::json::JSON,
                "JSON over HTTP",
            )
        }

        #[cfg(feature = "otlp")]
        fn otlp(builder: crate::remote::OtlpSinkBuilder) -> Result<Self, TelemetryError> {
            let (options, suffix) = builder.into_parts();
            Self::new(
                options,
                suffix,
                crate::pipeline::export::otlp::PROTOBUF,
                "OTLP/HTTP",
            )
        }

        /// Which destination this is, for the spool: a short hash of the
        /// protocol, the URL (credentials included) and the headers (values
        /// included), so events recorded for one collector, tenant or key
        /// are never sent to another. Not reversible; nothing in clear.
        pub(crate) fn id(&self) -> String {
            use sha2::{Digest, Sha256};
            let mut hash = Sha256::new();
            hash.update(self.protocol.as_bytes());
            hash.update(b"\n");
            hash.update(self.options.endpoint.trim().as_bytes());
            for (name, value) in &self.options.headers {
                hash.update(b"\n");
                hash.update(name.to_ascii_lowercase().as_bytes());
                hash.update(b":");
                hash.update(value.as_bytes());
            }
            hex::encode(&hash.finalize()[..8])
        }

        /// Whether events go out as OTLP.
        pub(crate) fn is_otlp(&self) -> bool {
            self.protocol.starts_with("OTLP")
        }

        /// The exporter, for the uploader. Touches no network.
        pub(crate) fn exporter(&self, budget: Duration) -> Result<Exporter, TelemetryError> {
            let mut options = self.options.clone();
            // One uploader run has a fixed budget; no single request may
            // use all of it.
            options.request_timeout = options.request_timeout.min(budget);
            options.into_exporter(self.suffix, self.encoding)
        }
    }

    pub(super) fn resolve(
        prefix: &str,
        env: &Env,
        settings: &Settings,
        data_dir: &Path,
    ) -> Resolved {
        let kept_in = crate::pipeline::layout::local_file(data_dir);
        #[cfg_attr(feature = "otlp", allow(unused_mut, reason = "pushed to without otlp"))]
        let mut problems = Vec::new();
        let local = |problems: Vec<Problem>| Resolved {
            destination: Destination::File(kept_in.clone()),
            problems,
        };
        let unusable = |what: &str, e: TelemetryError| Problem::Unusable {
            what: what.to_owned(),
            why: e.to_string(),
            kept_in: kept_in.clone(),
        };
        let variable = format!("{prefix}_TELEMETRY_ENDPOINT");
        let chosen = if let Some(url) = env.text(&variable) {
            Collector::json(url).map_err(|e| unusable(&variable, e))
        } else {
            #[cfg(feature = "otlp")]
            let from_otel = crate::remote::OtlpSinkBuilder::from_env(env)
                .and_then(|b| b.map(Collector::otlp).transpose())
                .map_err(|e| unusable("the OTEL_EXPORTER_OTLP_* configuration", e))
                .transpose();
            #[cfg(not(feature = "otlp"))]
            let from_otel: Option<Result<Collector, Problem>> = {
                if env.text("OTEL_EXPORTER_OTLP_ENDPOINT").is_some() {
                    problems.push(Problem::NoOtlp);
                }
                None
            };
            match from_otel {
                Some(chosen) => chosen,
                None => match (&settings.json, &settings.otlp) {
                    (Some(url), _) => Collector::json(url.clone())
                        .map_err(|e| unusable("the tool's built-in endpoint", e)),
                    #[cfg(feature = "otlp")]
                    (None, Some(url)) => Collector::otlp(crate::remote::OtlpSink::builder(url))
                        .map_err(|e| unusable("the tool's built-in OTLP endpoint", e)),
                    _ => return local(problems),
                },
            }
        };
        let mut collector = match chosen {
            Ok(collector) => collector,
            Err(problem) => return local(vec![problem]),
        };
        // The uploader reads the proxy variables from the same environment,
        // and sends through the tool's own client if it gave one.
        collector.options.env = env.clone();
        if let Some(client) = &settings.client {
            collector.options.client = Some(std::sync::Arc::clone(client));
        }
        if let Ok(endpoint) = collector.options.validate(collector.suffix) {
            if let Some(why) = collector.options.proxy_problem(&endpoint) {
                problems.push(Problem::Proxy(why));
            }
            if collector.options.clear_credentials(&endpoint) {
                problems.push(Problem::CredentialsInClear {
                    shown: collector.shown.clone(),
                });
            }
        }
        Resolved {
            destination: Destination::Collector(Box::new(collector)),
            problems,
        }
    }
}

#[cfg(all(test, feature = "upload"))]
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
            let resolved = resolve("MYTOOL", &env, &Settings::default(), dir.path());
            if name.starts_with("OTEL") && !cfg!(feature = "otlp") {
                continue;
            }
            assert!(
                matches!(resolved.destination, Destination::File(_)),
                "{name}={value}"
            );
            assert_eq!(resolved.problems.len(), 1, "{:?}", resolved.problems);
            assert!(
                resolved.problems[0].to_string().contains("not usable"),
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
        let resolved = resolve("MYTOOL", &env, &Settings::default(), dir.path());
        let Destination::Collector(collector) = &resolved.destination else {
            panic!("{resolved:?}")
        };
        assert_eq!(collector.protocol, "JSON over HTTP");
        assert!(!resolved.destination.describe().contains("pw"));
        assert!(
            matches!(resolved.problems[0], Problem::CredentialsInClear { .. }),
            "{:?}",
            resolved.problems
        );
    }
}
