//! `OtlpSink`: OTLP/HTTP logs, protobuf, built from the official proto types.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message as _;

use super::batch::{Batcher, Encoding, Options, builder_methods};
use crate::{Event, TelemetryError, TelemetrySink};

/// `SEVERITY_NUMBER_INFO` in the OTLP log data model.
const SEVERITY_INFO: i32 = 9;

/// A sink that exports events as OTLP/HTTP logs: protobuf
/// `ExportLogsServiceRequest`s sent to `<endpoint>/v1/logs`, built from the
/// official proto definitions (`opentelemetry-proto`) without the
/// OpenTelemetry SDK's runtime.
///
/// Each event becomes a `LogRecord`: the event name is its body (and its
/// `event_name`), `tool`, `tool_version`, `machine_id` and the attrs are its
/// attributes, and its time is the event's (0, OTLP's "unknown", for a
/// timestamp not in this crate's RFC 3339 form). Events are grouped by tool and
/// version under a resource carrying `service.name` and `service.version`.
///
/// Batching, timeouts and retries are as for
/// [`HttpSink`](super::HttpSink); run it behind
/// [`Background`](crate::Background).
///
/// # Example
///
/// ```no_run
/// use rtb_telemetry::{Background, remote::OtlpSink};
///
/// // From OTEL_EXPORTER_OTLP_ENDPOINT & co; None when unset or OTEL_SDK_DISABLED=true.
/// if let Some(otlp) = OtlpSink::from_env()? {
///     let sink = Background::new(otlp)?;
///     # let _ = sink;
/// }
/// // Or explicitly, e.g. an OpenTelemetry Collector's OTLP/HTTP receiver:
/// let otlp = OtlpSink::builder("http://localhost:4318").build()?;
/// # let _ = otlp;
/// # Ok::<(), rtb_telemetry::TelemetryError>(())
/// ```
#[derive(Debug)]
pub struct OtlpSink {
    core: Batcher,
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
            options: Options::new(logs_url(endpoint)),
        }
    }

    /// A sink configured by the standard OpenTelemetry variables, or `None`
    /// when `OTEL_SDK_DISABLED` is `true` or no endpoint is set:
    ///
    /// - `OTEL_EXPORTER_OTLP_LOGS_ENDPOINT`, used as it is; else
    ///   `OTEL_EXPORTER_OTLP_ENDPOINT` with `/v1/logs` appended;
    /// - `OTEL_EXPORTER_OTLP_HEADERS` (and `OTEL_EXPORTER_OTLP_LOGS_HEADERS`),
    ///   `key=value` pairs separated by commas, values percent-decoded.
    ///
    /// # Errors
    ///
    /// [`TelemetryError::Config`] for an endpoint that is not an HTTP(S) URL
    /// or a malformed header list.
    pub fn from_env() -> Result<Option<Self>, TelemetryError> {
        Self::from_env_with(&|name| std::env::var_os(name))
    }

    /// [`from_env`](Self::from_env) with the environment read through `env`.
    ///
    /// # Errors
    ///
    /// As [`from_env`](Self::from_env).
    ///
    /// # Example
    ///
    /// ```
    /// use std::ffi::OsString;
    /// use rtb_telemetry::remote::OtlpSink;
    ///
    /// let env = |name: &str| match name {
    ///     "OTEL_EXPORTER_OTLP_ENDPOINT" => Some(OsString::from("http://collector:4318")),
    ///     "OTEL_EXPORTER_OTLP_HEADERS" => Some(OsString::from("api-key=s%3Dcret,team=x")),
    ///     _ => None,
    /// };
    /// let otlp = OtlpSink::from_env_with(&env)?.unwrap();
    /// assert_eq!(otlp.endpoint(), "http://collector:4318/v1/logs");
    /// assert!(!format!("{otlp:?}").contains("s=cret"));
    /// # Ok::<(), rtb_telemetry::TelemetryError>(())
    /// ```
    pub fn from_env_with(
        env: &dyn Fn(&str) -> Option<OsString>,
    ) -> Result<Option<Self>, TelemetryError> {
        let var = |name: &str| {
            env(name)
                .map(|v| v.to_string_lossy().trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        if var("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
            return Ok(None);
        }
        let endpoint = match (
            var("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT"),
            var("OTEL_EXPORTER_OTLP_ENDPOINT"),
        ) {
            (Some(logs), _) => logs,
            (None, Some(base)) => logs_url(&base),
            (None, None) => return Ok(None),
        };
        let mut options = Options::new(endpoint);
        for name in [
            "OTEL_EXPORTER_OTLP_HEADERS",
            "OTEL_EXPORTER_OTLP_LOGS_HEADERS",
        ] {
            if let Some(list) = var(name) {
                for (key, value) in parse_headers(&list, name)? {
                    options
                        .headers
                        .retain(|(k, _)| !k.eq_ignore_ascii_case(&key));
                    options.headers.push((key, value));
                }
            }
        }
        Ok(Some(Self {
            core: options.into_batcher(PROTOBUF)?,
        }))
    }

    /// The URL logs are sent to.
    #[must_use]
    pub fn endpoint(&self) -> &str {
        &self.core.transport.endpoint
    }
}

const PROTOBUF: Encoding = Encoding {
    content_type: "application/x-protobuf",
    encode: |events| Ok(export_request(events).encode_to_vec()),
};

impl OtlpSinkBuilder {
    builder_methods!();

    /// Builds the sink. Touches nothing on the network.
    ///
    /// # Errors
    ///
    /// [`TelemetryError::Config`] when the endpoint is not an `http://` or
    /// `https://` URL.
    pub fn build(self) -> Result<OtlpSink, TelemetryError> {
        Ok(OtlpSink {
            core: self.options.into_batcher(PROTOBUF)?,
        })
    }
}

impl TelemetrySink for OtlpSink {
    async fn emit(&self, event: &Event) -> Result<(), TelemetryError> {
        self.core.emit(event)
    }

    async fn flush(&self) -> Result<(), TelemetryError> {
        self.core.flush()
    }
}

/// `<base>/v1/logs`, with exactly one slash between.
fn logs_url(base: &str) -> String {
    format!("{}/v1/logs", base.trim_end_matches('/'))
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
            Ok((key.trim().to_owned(), percent_decode(value.trim())))
        })
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let hex = |i: usize| bytes.get(i).and_then(|&b| char::from(b).to_digit(16));
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let (Some(hi), Some(lo)) = (hex(i + 1), hex(i + 2))
            && let Ok(byte) = u8::try_from(hi * 16 + lo)
        {
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn string_value(text: &str) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::StringValue(text.to_owned())),
    }
}

fn attribute(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(string_value(value)),
        ..KeyValue::default()
    }
}

/// The request for `events`: one resource per (tool, version).
pub(crate) fn export_request(events: &[Event]) -> ExportLogsServiceRequest {
    let observed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    let mut groups: BTreeMap<(&str, &str), Vec<LogRecord>> = BTreeMap::new();
    for event in events {
        let mut attributes = vec![
            attribute("tool", &event.tool),
            attribute("tool_version", &event.tool_version),
            attribute("machine_id", &event.machine_id),
        ];
        let mut attrs: Vec<_> = event.attrs.iter().collect();
        attrs.sort();
        for (key, value) in attrs {
            // The event's own fields keep their names; a clashing attr is prefixed.
            let key = if matches!(key.as_str(), "tool" | "tool_version" | "machine_id") {
                format!("attr.{key}")
            } else {
                key.clone()
            };
            attributes.push(attribute(&key, value));
        }
        let record = LogRecord {
            time_unix_nano: crate::event::unix_nanos(&event.timestamp_utc).unwrap_or(0),
            observed_time_unix_nano: observed,
            severity_number: SEVERITY_INFO,
            severity_text: "INFO".to_owned(),
            body: Some(string_value(&event.name)),
            event_name: event.name.clone(),
            attributes,
            ..LogRecord::default()
        };
        groups
            .entry((event.tool.as_str(), event.tool_version.as_str()))
            .or_default()
            .push(record);
    }
    let resource_logs = groups
        .into_iter()
        .map(|((tool, version), log_records)| ResourceLogs {
            resource: Some(Resource {
                attributes: vec![
                    attribute("service.name", tool),
                    attribute("service.version", version),
                ],
                ..Resource::default()
            }),
            scope_logs: vec![ScopeLogs {
                scope: Some(InstrumentationScope {
                    name: "rtb-telemetry".to_owned(),
                    version: env!("CARGO_PKG_VERSION").to_owned(),
                    ..InstrumentationScope::default()
                }),
                log_records,
                ..ScopeLogs::default()
            }],
            ..ResourceLogs::default()
        })
        .collect();
    ExportLogsServiceRequest { resource_logs }
}
