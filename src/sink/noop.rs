use crate::{Event, TelemetryError, TelemetrySink};

/// A sink that discards every event. Zero-sized; the default sink.
///
/// # Example
///
/// ```
/// use rtb_telemetry::{NoopSink, TelemetryContext};
///
/// assert_eq!(std::mem::size_of::<NoopSink>(), 0);
/// // The builder's default sink is NoopSink.
/// let ctx = TelemetryContext::builder().tool("mytool").tool_version("1.0.0").disabled();
/// # let _ = ctx;
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct NoopSink;

impl TelemetrySink for NoopSink {
    #[inline]
    async fn emit(&self, _event: &Event) -> Result<(), TelemetryError> {
        Ok(())
    }
}
