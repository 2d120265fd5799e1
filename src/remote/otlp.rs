//! `OtlpSink`: OTLP/HTTP logs, protobuf.
//!
//! The request is encoded here, field by field, rather than through the
//! `opentelemetry-proto` types and `prost`: those cost about 80 KB in a
//! release binary and some 20 crates, for a message of five nested types
//! and strings. The tests decode every request with the official types.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use super::exporter::{Encoding, Exporter, Options, builder_methods, sink_accessors};
use crate::background::{Settings, Worker};
use crate::record::Record;
use crate::{Env, Event, TelemetryError, TelemetrySink};

/// `SEVERITY_NUMBER_INFO` in the OTLP log data model.
const SEVERITY_INFO: u64 = 9;

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
            settings: super::exporter::default_settings(),
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

pub(crate) const PROTOBUF: Encoding = Encoding {
    content_type: "application/x-protobuf",
    encode: |records| Ok(export_request(records)),
};

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
                settings: super::exporter::default_settings(),
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
            worker: super::exporter::worker(Arc::clone(&exporter), self.settings),
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

/// Protobuf's wire format, as much as this message needs.
mod wire {
    const VARINT: u64 = 0;
    const FIXED64: u64 = 1;
    const LEN: u64 = 2;

    pub(super) fn varint(out: &mut Vec<u8>, mut n: u64) {
        // The low seven bits, then a continuation bit while more follow.
        while n >= 0x80 {
            let [low, ..] = n.to_le_bytes();
            out.push(low | 0x80);
            n >>= 7;
        }
        let [last, ..] = n.to_le_bytes();
        out.push(last);
    }

    fn tag(out: &mut Vec<u8>, field: u64, kind: u64) {
        varint(out, field << 3 | kind);
    }

    /// A length-delimited field: bytes, a string or a nested message.
    pub(super) fn bytes(out: &mut Vec<u8>, field: u64, bytes: &[u8]) {
        tag(out, field, LEN);
        varint(out, bytes.len() as u64);
        out.extend_from_slice(bytes);
    }

    /// A nested message, written by `write` (its length comes first).
    pub(super) fn message(out: &mut Vec<u8>, field: u64, write: impl FnOnce(&mut Vec<u8>)) {
        let mut inner = Vec::new();
        write(&mut inner);
        bytes(out, field, &inner);
    }

    pub(super) fn uint(out: &mut Vec<u8>, field: u64, n: u64) {
        tag(out, field, VARINT);
        varint(out, n);
    }

    pub(super) fn fixed64(out: &mut Vec<u8>, field: u64, n: u64) {
        tag(out, field, FIXED64);
        out.extend_from_slice(&n.to_le_bytes());
    }
}

/// `AnyValue { string_value = 1 }` as field `field`.
fn string_value(out: &mut Vec<u8>, field: u64, text: &str) {
    wire::message(out, field, |v| wire::bytes(v, 1, text.as_bytes()));
}

/// A `KeyValue { key = 1; value = 2 }` with a string value, as field `field`.
fn attribute(out: &mut Vec<u8>, field: u64, key: &str, value: &str) {
    wire::message(out, field, |kv| {
        wire::bytes(kv, 1, key.as_bytes());
        string_value(kv, 2, value);
    });
}

/// One `LogRecord` (opentelemetry/proto/logs/v1/logs.proto).
fn log_record(out: &mut Vec<u8>, id: &str, event: &Event, observed: u64) {
    wire::fixed64(
        out,
        1,
        crate::timestamp::unix_nanos(&event.timestamp_utc).unwrap_or(0),
    );
    wire::uint(out, 2, SEVERITY_INFO);
    wire::bytes(out, 3, b"INFO");
    string_value(out, 5, &event.name);
    attribute(out, 6, "tool", &event.tool);
    attribute(out, 6, "tool_version", &event.tool_version);
    attribute(out, 6, "machine_id", &event.machine_id);
    attribute(out, 6, "log.record.uid", id);
    let mut attrs: Vec<_> = event.attrs.iter().collect();
    attrs.sort_unstable();
    for (key, value) in attrs {
        // The event's own fields keep their names; a clashing attr is
        // prefixed, and so is one that starts with the prefix (so `tool`
        // and `attr.tool` stay two keys: OTLP wants them unique).
        if matches!(
            key.as_str(),
            "tool" | "tool_version" | "machine_id" | "log.record.uid"
        ) || key.starts_with("attr.")
        {
            attribute(out, 6, &format!("attr.{key}"), value);
        } else {
            attribute(out, 6, key, value);
        }
    }
    wire::fixed64(out, 11, observed);
    wire::bytes(out, 12, event.name.as_bytes());
}

/// The `ExportLogsServiceRequest` for `records`, encoded: one
/// `ResourceLogs` (with `service.name` and `service.version`) per tool and
/// version, in the order they first appear, each with one `ScopeLogs`.
pub(crate) fn export_request(records: &[Record]) -> Vec<u8> {
    let observed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    let mut groups: Vec<((&str, &str), Vec<&Record>)> = Vec::new();
    for record in records {
        let key = (
            record.event.tool.as_str(),
            record.event.tool_version.as_str(),
        );
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, group)) => group.push(record),
            None => groups.push((key, vec![record])),
        }
    }
    let mut out = Vec::with_capacity(300 * records.len());
    for ((tool, version), group) in groups {
        // ResourceLogs { resource = 1; scope_logs = 2 }
        wire::message(&mut out, 1, |resource_logs| {
            // Resource { attributes = 1 }
            wire::message(resource_logs, 1, |resource| {
                attribute(resource, 1, "service.name", tool);
                attribute(resource, 1, "service.version", version);
            });
            // ScopeLogs { scope = 1; log_records = 2 }
            wire::message(resource_logs, 2, |scope_logs| {
                // InstrumentationScope { name = 1; version = 2 }
                wire::message(scope_logs, 1, |scope| {
                    wire::bytes(scope, 1, b"rtb-telemetry");
                    wire::bytes(scope, 2, env!("CARGO_PKG_VERSION").as_bytes());
                });
                for Record { id, event, .. } in group {
                    wire::message(scope_logs, 2, |log| log_record(log, id, event, observed));
                }
            });
        });
    }
    out
}
