//! Where a tool's events go: a collector (through the spool and the
//! uploader) or a local file.

use std::path::{Path, PathBuf};
#[cfg(feature = "http")]
use std::time::Duration;

use crate::Env;
#[cfg(feature = "http")]
use crate::TelemetryError;
#[cfg(feature = "http")]
use crate::remote::exporter::{Encoding, Exporter, Options};

/// Endpoints the tool author built in; the environment can override them.
/// Its `Debug` shows them without credentials.
#[derive(Clone, Default)]
pub(crate) struct Defaults {
    pub(crate) json: Option<String>,
    pub(crate) otlp: Option<String>,
}

impl std::fmt::Debug for Defaults {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = |url: &Option<String>| url.as_deref().map(crate::redact::redact_url);
        f.debug_struct("Defaults")
            .field("json", &shown(&self.json))
            .field("otlp", &shown(&self.otlp))
            .finish()
    }
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

    /// Which destination this is, for the spool: a short hash of the
    /// protocol, the URL (credentials included) and the headers (values
    /// included), so events recorded for one collector, tenant or key are
    /// never sent to another. Not reversible; nothing in clear.
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

    /// The exporter, for the uploader. Touches no network.
    pub(crate) fn exporter(self, deadline_budget: Duration) -> Result<Exporter, TelemetryError> {
        let mut options = self.options;
        // One uploader run has a fixed budget; no single request may use
        // all of it.
        options.request_timeout = options.request_timeout.min(deadline_budget);
        options.into_exporter(self.suffix, self.encoding)
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
                Ok(remote) => remote_target(remote, env, problems),
                Err(e) => local(vec![unusable(&variable, e)]),
            };
        }
        #[cfg(feature = "otlp")]
        match crate::remote::OtlpSinkBuilder::from_env(env)
            .and_then(|b| b.map(Remote::otlp).transpose())
        {
            Ok(Some(remote)) => return remote_target(remote, env, problems),
            Ok(None) => {}
            Err(e) => return local(vec![unusable("the OTEL_EXPORTER_OTLP_* configuration", e)]),
        }
        #[cfg(not(feature = "otlp"))]
        if env.text("OTEL_EXPORTER_OTLP_ENDPOINT").is_some() {
            problems.push("OTEL_EXPORTER_OTLP_ENDPOINT is set, but this build has no OTLP support (the `otlp` feature)".to_owned());
        }
        if let Some(url) = &defaults.json {
            return match Remote::json(url.clone()) {
                Ok(remote) => remote_target(remote, env, problems),
                Err(e) => local(vec![unusable("the tool's built-in endpoint", e)]),
            };
        }
        #[cfg(feature = "otlp")]
        if let Some(url) = &defaults.otlp {
            return match Remote::otlp(crate::remote::OtlpSink::builder(url)) {
                Ok(remote) => remote_target(remote, env, problems),
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
fn remote_target(mut remote: Remote, env: &Env, mut problems: Vec<String>) -> Resolved {
    // The uploader reads the proxy variables from the same environment as
    // the destination.
    remote.options.env = env.clone();
    if let Ok(endpoint) = remote.options.validate(remote.suffix)
        && let Err(why) = crate::remote::client::Proxy::from_env(env, &endpoint)
    {
        problems.push(why);
    }
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
