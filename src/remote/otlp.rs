//! `OtlpSink`: OTLP/HTTP logs, protobuf (encoded by
//! `pipeline::export::otlp`).

use std::sync::Arc;

use crate::pipeline::export::otlp::PROTOBUF;
use crate::pipeline::export::{Exporter, Options, builder_methods, sink_accessors};
use crate::pipeline::worker::{Settings, Worker};
use crate::{Env, Event, TelemetryError, TelemetrySink};

/// `SEVERITY_NUMBER_INFO` in the OTLP log data model.
/// A sink that exports events as OTLP/HTTP logs: protobuf
/// `ExportLogsServiceRequest`s sent to `<endpoint>/v1/logs`, built from the
/// official proto definitions (`opentelemetry-proto`) without the
/// OpenTelemetry SDK's runtime.
///
/// Each event becomes a `LogRecord`: the event name is its body (and its
/// `event_name`), `tool`, `tool_version`, `machine_id`, the attrs and
/// `log.record.uid` (an id unique to the event, the same on every retry)
/// are its attributes, and its time is the event's (0, OTLP's "unknown",
/// for a timestamp that is not RFC 3339). Each request carries an
/// `Idempotency-Key` derived from its records' ids. Events are grouped by tool and
/// version under a resource carrying `service.name` and `service.version`.
///
/// Queueing, batching, timeouts and retries are as for
/// [`HttpSink`](super::HttpSink): it is the same worker over an OTLP
/// exporter, and needs no [`Background`](crate::Background) around it.
///
/// # Example
///
/// ```no_run
/// use rtb_telemetry::remote::OtlpSink;
///
/// // From OTEL_EXPORTER_OTLP_ENDPOINT & co; None when unset or OTEL_SDK_DISABLED=true.
/// if let Some(otlp) = OtlpSink::from_env(&rtb_telemetry::Env::process())? {
///     # let _ = otlp;
/// }
/// // Or explicitly, e.g. an OpenTelemetry Collector's OTLP/HTTP receiver:
/// let otlp = OtlpSink::builder("http://localhost:4318").build()?;
/// # let _ = otlp;
/// # Ok::<(), rtb_telemetry::TelemetryError>(())
/// ```
#[derive(Debug)]
pub struct OtlpSink {
    worker: Worker,
    exporter: Arc<Exporter>,
}

/// Configures an [`OtlpSink`]; see [`OtlpSink::builder`].
///
/// # Example
///
/// ```
/// let otlp = rtb_telemetry::remote::OtlpSink::builder("http://localhost:4318")
///     .header("x-honeycomb-team", "key")
///     .build()?;
/// assert_eq!(otlp.endpoint(), "http://localhost:4318/v1/logs");
/// # Ok::<(), rtb_telemetry::TelemetryError>(())
/// ```
#[derive(Debug)]
#[must_use = "nothing is sent until `.build()`"]
pub struct OtlpSinkBuilder {
    options: Options,
    settings: Settings,
    /// Append `/v1/logs` (the base endpoint was given, not the logs one).
    logs_path: bool,
}

impl OtlpSink {
    /// Starts configuring a sink for the OTLP/HTTP base `endpoint`
    /// (`/v1/logs` is appended).
    ///
    /// # Example
    ///
    /// ```
    /// let b = rtb_telemetry::remote::OtlpSink::builder("https://otlp.example.com:4318/");
    /// assert_eq!(b.build()?.endpoint(), "https://otlp.example.com:4318/v1/logs");
    /// # Ok::<(), rtb_telemetry::TelemetryError>(())
    /// ```
    pub fn builder(endpoint: &str) -> OtlpSinkBuilder {
        OtlpSinkBuilder {
            options: Options::new(endpoint.to_owned()),
            settings: crate::pipeline::export::default_settings(),
            logs_path: true,
        }
    }

    /// A sink configured by the standard OpenTelemetry variables in `env`,
    /// or `None` when `OTEL_SDK_DISABLED` is `true` or no endpoint is set:
    ///
    /// - `OTEL_EXPORTER_OTLP_LOGS_ENDPOINT`, used as it is; else
    ///   `OTEL_EXPORTER_OTLP_ENDPOINT` with `/v1/logs` appended;
    /// - `OTEL_EXPORTER_OTLP_HEADERS` (and `OTEL_EXPORTER_OTLP_LOGS_HEADERS`),
    ///   `key=value` pairs separated by commas, values percent-decoded.
    ///
    /// # Errors
    ///
    /// A [`Config`](crate::ErrorKind::Config) error for an endpoint that is
    /// not an HTTP(S) URL (a scheme-less `host:4317` is a gRPC setting this
    /// sink cannot use) or a malformed header list.
    ///
    /// # Example
    ///
    /// ```
    /// use rtb_telemetry::{Env, remote::OtlpSink};
    ///
    /// let env = Env::from_vars([
    ///     ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
    ///     ("OTEL_EXPORTER_OTLP_HEADERS", "api-key=s%3Dcret,team=x"),
    /// ]);
    /// let otlp = OtlpSink::from_env(&env)?.unwrap();
    /// assert_eq!(otlp.endpoint(), "http://collector:4318/v1/logs");
    /// assert!(!format!("{otlp:?}").contains("s=cret"));
    /// # Ok::<(), rtb_telemetry::TelemetryError>(())
    /// ```
    pub fn from_env(env: &Env) -> Result<Option<Self>, TelemetryError> {
        Ok(match OtlpSinkBuilder::from_env(env)? {
            Some(builder) => Some(builder.build()?),
            None => None,
        })
    }

    sink_accessors!();
}

impl OtlpSinkBuilder {
    builder_methods!();

    /// The builder the standard variables in `env` describe, or `None`; see
    /// [`OtlpSink::from_env`].
    pub(crate) fn from_env(env: &Env) -> Result<Option<Self>, TelemetryError> {
        if env
            .text("OTEL_SDK_DISABLED")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
        {
            return Ok(None);
        }
        let mut builder = match (
            env.text("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT"),
            env.text("OTEL_EXPORTER_OTLP_ENDPOINT"),
        ) {
            (Some(logs), _) => Self {
                options: Options::new(logs),
                settings: crate::pipeline::export::default_settings(),
                logs_path: false,
            },
            (None, Some(base)) => OtlpSink::builder(&base),
            (None, None) => return Ok(None),
        };
        for name in [
            "OTEL_EXPORTER_OTLP_HEADERS",
            "OTEL_EXPORTER_OTLP_LOGS_HEADERS",
        ] {
            if let Some(list) = env.text(name) {
                for (key, value) in parse_headers(&list, name)? {
                    builder
                        .options
                        .headers
                        .retain(|(k, _)| !k.eq_ignore_ascii_case(&key));
                    builder.options.headers.push((key, value));
                }
            }
        }
        Ok(Some(builder))
    }

    /// The options, and the path suffix to append.
    pub(crate) fn into_parts(self) -> (Options, Option<&'static str>) {
        (self.options, self.logs_path.then_some("v1/logs"))
    }

    /// Builds the sink. Touches nothing on the network.
    ///
    /// # Errors
    ///
    /// A [`Config`](crate::ErrorKind::Config) error when the endpoint is not
    /// an `http://` or `https://` URL with a host and a valid port, or a
    /// header or certificate is malformed.
    pub fn build(self) -> Result<OtlpSink, TelemetryError> {
        let suffix = self.logs_path.then_some("v1/logs");
        let exporter = Arc::new(self.options.into_exporter(suffix, PROTOBUF)?);
        Ok(OtlpSink {
            worker: crate::pipeline::export::worker(Arc::clone(&exporter), self.settings),
            exporter,
        })
    }
}

impl TelemetrySink for OtlpSink {
    async fn emit(&self, event: &Event) -> Result<(), TelemetryError> {
        self.worker.enqueue(event)
    }

    async fn flush(&self) -> Result<(), TelemetryError> {
        self.worker.flush().await
    }
}

/// `k=v,k2=v2` with percent-encoded values, as the OTLP exporter spec says.
fn parse_headers(list: &str, variable: &str) -> Result<Vec<(String, String)>, TelemetryError> {
    list.split(',')
        .filter(|pair| !pair.trim().is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').ok_or_else(|| {
                TelemetryError::config(
                    format!("{variable} holds an entry without `=`"),
                    "write headers as key=value pairs separated by commas",
                )
            })?;
            let value = percent_encoding::percent_decode_str(value.trim()).decode_utf8_lossy();
            Ok((key.trim().to_owned(), value.into_owned()))
        })
        .collect()
}
