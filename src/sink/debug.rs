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

impl DebugSink {
    /// Prints `event` now (what `emit` does, without a future).
    pub(crate) fn print(event: &Event) -> Result<(), TelemetryError> {
        let mut line = Vec::with_capacity(256);
        crate::event::write_json_line(&mut line, event)
            .map_err(|e| TelemetryError::serde(format_args!("event `{}`", event.name), e))?;
        crate::fs::write_stderr(&line).map_err(|e| TelemetryError::io("write to", "<stderr>", e))
    }
}

impl DebugSink {
    /// Prints `event` for a panic hook: one `write` to stderr, without
    /// std's stderr lock (another thread may hold it). Best effort.
    pub(crate) fn print_from_hook(event: &Event) {
        let mut line = Vec::with_capacity(256);
        if crate::event::write_json_line(&mut line, event).is_err() {
            return;
        }
        #[cfg(unix)]
        let _ = nix::unistd::write(std::io::stderr(), &line);
        #[cfg(not(unix))]
        crate::fs::to_stderr(&line);
    }
}

impl TelemetrySink for DebugSink {
    async fn emit(&self, event: &Event) -> Result<(), TelemetryError> {
        Self::print(event)
    }
}
