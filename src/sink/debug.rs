use crate::{Event, TelemetryError, TelemetrySink};

/// A sink that prints each event to stderr as one JSON line and keeps
/// nothing: the `<TOOL>_TELEMETRY_DEBUG=1` mode, for seeing exactly what a
/// tool would send.
///
/// # Example
///
/// ```
/// use rtb_telemetry::{DebugSink, Event, TelemetrySink};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// // Prints {"name":"build",…} to stderr.
/// DebugSink.emit(&Event::new("build", "mytool", "1.0.0", "00".repeat(32))).await?;
/// # Ok::<(), rtb_telemetry::TelemetryError>(()) }).unwrap();
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DebugSink;

impl TelemetrySink for DebugSink {
    async fn emit(&self, event: &Event) -> Result<(), TelemetryError> {
        let mut line = Vec::with_capacity(256);
        crate::event::write_json_line(&mut line, event)
            .map_err(|e| TelemetryError::serde(format_args!("event `{}`", event.name), e))?;
        crate::fs::write_stderr(&line).map_err(|e| TelemetryError::io("write to", "<stderr>", e))
    }
}

/// Prints a telemetry problem to stderr, for debug mode. Best effort.
pub(crate) fn problem(tool: &str, error: &TelemetryError) {
    crate::fs::to_stderr(format!("{tool}: telemetry: {error}\n").as_bytes());
}

/// The sink a tool's context uses: its own sink, or [`DebugSink`] in debug
/// mode. Made by [`ConsentStore::context`](crate::consent::ConsentStore::context).
///
/// # Example
///
/// ```
/// use rtb_telemetry::{MemorySink, ToolSink};
///
/// let sink: ToolSink<MemorySink> = ToolSink::Normal(MemorySink::new());
/// assert!(!sink.is_debug());
/// ```
#[derive(Debug, Clone)]
pub enum ToolSink<S> {
    /// The tool's own sink.
    Normal(S),
    /// Debug mode: events go to stderr, nothing is written or sent.
    Debug(DebugSink),
}

impl<S> ToolSink<S> {
    /// `true` in debug mode.
    ///
    /// # Example
    ///
    /// ```
    /// use rtb_telemetry::{DebugSink, NoopSink, ToolSink};
    ///
    /// assert!(ToolSink::<NoopSink>::Debug(DebugSink).is_debug());
    /// ```
    #[must_use]
    pub fn is_debug(&self) -> bool {
        matches!(self, Self::Debug(_))
    }
}

impl<S: TelemetrySink> TelemetrySink for ToolSink<S> {
    async fn emit(&self, event: &Event) -> Result<(), TelemetryError> {
        match self {
            Self::Normal(sink) => sink.emit(event).await,
            Self::Debug(sink) => sink.emit(event).await,
        }
    }

    async fn flush(&self) -> Result<(), TelemetryError> {
        match self {
            Self::Normal(sink) => sink.flush().await,
            Self::Debug(sink) => sink.flush().await,
        }
    }
}
