use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::{Event, TelemetryError, TelemetrySink};

/// A sink that keeps events in memory, for tests.
///
/// Clones share one store, so a test keeps a clone and hands the other to the
/// context. A thread that panicked while holding the store's lock does not
/// make later calls panic.
///
/// # Example
///
/// ```
/// use rtb_telemetry::{MemorySink, TelemetryContext};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let sink = MemorySink::new();
/// let ctx = TelemetryContext::builder()
///     .tool("mytool")
///     .tool_version("1.0.0")
///     .salt("mytool-telemetry")
///     .sink(sink.clone())
///     .enabled();
/// ctx.record("build").await?;
/// assert_eq!(sink.len(), 1);
/// assert_eq!(sink.snapshot()[0].name, "build");
/// # Ok::<(), rtb_telemetry::TelemetryError>(()) }).unwrap();
/// ```
#[derive(Debug, Clone, Default)]
pub struct MemorySink {
    events: Arc<Mutex<Vec<Event>>>,
}

impl MemorySink {
    /// An empty sink.
    ///
    /// # Example
    ///
    /// ```
    /// assert!(rtb_telemetry::MemorySink::new().is_empty());
    /// ```
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A copy of every event emitted so far, in emission order.
    ///
    /// # Example
    ///
    /// ```
    /// assert_eq!(rtb_telemetry::MemorySink::new().snapshot(), vec![]);
    /// ```
    #[must_use]
    pub fn snapshot(&self) -> Vec<Event> {
        self.lock().clone()
    }

    /// How many events were emitted so far.
    ///
    /// # Example
    ///
    /// ```
    /// assert_eq!(rtb_telemetry::MemorySink::new().len(), 0);
    /// ```
    #[must_use]
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// `true` when no event was emitted (or all were cleared).
    ///
    /// # Example
    ///
    /// ```
    /// assert!(rtb_telemetry::MemorySink::new().is_empty());
    /// ```
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Forgets every event.
    ///
    /// # Example
    ///
    /// ```
    /// let sink = rtb_telemetry::MemorySink::new();
    /// sink.clear();
    /// assert!(sink.is_empty());
    /// ```
    pub fn clear(&self) {
        self.lock().clear();
    }

    /// The store. A `Vec` push cannot be left half-done, so a poisoned lock
    /// still guards consistent data and is taken over.
    fn lock(&self) -> MutexGuard<'_, Vec<Event>> {
        self.events.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl TelemetrySink for MemorySink {
    async fn emit(&self, event: &Event) -> Result<(), TelemetryError> {
        let event = event.clone(); // outside the lock
        self.lock().push(event);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future as _;

    use super::*;

    #[test]
    fn keeps_working_after_a_thread_panicked_holding_the_lock() {
        let sink = MemorySink::new();
        let store = Arc::clone(&sink.events);
        let result = std::thread::spawn(move || {
            let _guard = store.lock().unwrap();
            panic!("poisoning the lock on purpose");
        })
        .join();
        assert!(result.is_err());
        assert!(sink.events.is_poisoned());

        let event = Event::new("after", "t", "v", "m");
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        let emitted = std::pin::pin!(sink.emit(&event)).poll(&mut cx);
        assert!(matches!(emitted, std::task::Poll::Ready(Ok(()))));
        assert_eq!(sink.len(), 1);
        assert_eq!(sink.snapshot()[0].name, "after");
        sink.clear();
        assert!(sink.is_empty());
    }
}
