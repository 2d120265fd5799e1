//! What the remote sinks share: options, records with ids, the batch, the
//! delivery thread, and the builder methods.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use super::endpoint::{Endpoint, check_header};
use super::transport::{Retry, Transport};
use crate::oneshot::{self, NoReply};
use crate::record::{Record, batch_key};
use crate::{Event, TelemetryError};

/// The default most events in one request.
const DEFAULT_MAX_BATCH: usize = 512;
/// The default most bytes of events in one request.
const DEFAULT_MAX_BATCH_BYTES: usize = 1024 * 1024;

/// The settings every remote sink takes.
#[derive(Debug)]
pub(crate) struct Options {
    pub(crate) endpoint: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) retry: Retry,
    pub(crate) connect_timeout: Duration,
    pub(crate) request_timeout: Duration,
    pub(crate) max_batch: usize,
    pub(crate) max_batch_bytes: usize,
    /// PEM root certificates to trust instead of the built-in web roots.
    pub(crate) root_pems: Vec<Vec<u8>>,
}

impl Options {
    pub(crate) fn new(endpoint: String) -> Self {
        Self {
            endpoint,
            headers: Vec::new(),
            retry: Retry::default(),
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(5),
            max_batch: DEFAULT_MAX_BATCH,
            max_batch_bytes: DEFAULT_MAX_BATCH_BYTES,
            root_pems: Vec::new(),
        }
    }

    /// Checks the endpoint and the headers, touching nothing: the endpoint
    /// as it will be used (`suffix` appended to its path, OTLP's
    /// `/v1/logs`).
    pub(crate) fn validate(&self, suffix: Option<&str>) -> Result<Endpoint, TelemetryError> {
        let mut endpoint = Endpoint::parse(&self.endpoint)?;
        if let Some(suffix) = suffix {
            endpoint = endpoint.join(suffix)?;
        }
        for (name, value) in &self.headers {
            check_header(name, value)?;
        }
        Ok(endpoint)
    }

    /// `true` when an auth-looking header would go over plain `http://`.
    pub(crate) fn clear_credentials(&self, endpoint: &Endpoint) -> bool {
        super::endpoint::credentials_in_clear(
            endpoint,
            self.headers.iter().map(|(name, _)| name.as_str()),
        )
    }

    /// Validates everything and builds the shared core.
    pub(crate) fn into_batcher(
        self,
        suffix: Option<&str>,
        encoding: Encoding,
    ) -> Result<Batcher, TelemetryError> {
        let endpoint = self.validate(suffix)?;
        let shown = endpoint.shown().to_owned();
        let mut roots = Vec::new();
        for pem in &self.root_pems {
            for item in ureq::tls::parse_pem(pem) {
                match item {
                    Ok(ureq::tls::PemItem::Certificate(cert)) => roots.push(cert),
                    Ok(_) => {}
                    Err(e) => {
                        return Err(TelemetryError::config(
                            format!("a root certificate for `{shown}` is not valid PEM: {e}"),
                            "pass the collector's CA certificate in PEM form (-----BEGIN CERTIFICATE-----)",
                        ));
                    }
                }
            }
        }
        if !self.root_pems.is_empty() && roots.is_empty() {
            return Err(TelemetryError::config(
                format!("no certificate found in the root certificates given for `{shown}`"),
                "pass the collector's CA certificate in PEM form (-----BEGIN CERTIFICATE-----)",
            ));
        }
        let transport = Transport::new(
            endpoint,
            self.headers,
            self.retry,
            (self.connect_timeout, self.request_timeout),
            roots,
        );
        Ok(Batcher::new(Core {
            transport,
            encoding,
            max_batch: self.max_batch,
            max_batch_bytes: self.max_batch_bytes,
        }))
    }
}

/// How a remote sink turns a batch into a request body.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Encoding {
    pub(crate) content_type: &'static str,
    pub(crate) encode: fn(&[Record]) -> Result<Vec<u8>, TelemetryError>,
}

/// What sending needs, shared with the delivery thread.
#[derive(Debug)]
pub(crate) struct Core {
    pub(crate) transport: Transport,
    encoding: Encoding,
    max_batch: usize,
    max_batch_bytes: usize,
}

impl Core {
    /// Sends `records` in requests of at most the batch size, blocking the
    /// calling thread (one the crate owns). Stops at the first failure.
    pub(crate) fn send(
        &self,
        records: &[Record],
        deadline: Option<Instant>,
        fate: &str,
    ) -> Result<(), TelemetryError> {
        for batch in self.split(records) {
            let body = (self.encoding.encode)(batch)?;
            let key = batch_key(batch);
            self.transport
                .post(self.encoding.content_type, &body, &key, deadline, fate)?;
        }
        Ok(())
    }

    /// `records` cut into batches within both bounds (a record larger than
    /// the byte bound goes alone).
    pub(crate) fn split<'a>(&self, records: &'a [Record]) -> Vec<&'a [Record]> {
        let mut batches = Vec::new();
        let mut start = 0;
        let mut bytes = 0;
        for (i, record) in records.iter().enumerate() {
            let size = crate::event::approx_size(&record.event) + record.id.len();
            let full = i - start >= self.max_batch || bytes + size > self.max_batch_bytes;
            if full && i > start {
                batches.push(&records[start..i]);
                start = i;
                bytes = 0;
            }
            bytes += size;
        }
        if start < records.len() {
            batches.push(&records[start..]);
        }
        batches
    }
}

enum Item {
    Record(Record, usize),
    Flush(oneshot::Sender<Result<(), TelemetryError>>),
}

/// Records waiting for the delivery thread, bounded in count and bytes.
#[derive(Default)]
struct Queue {
    items: VecDeque<Item>,
    records: usize,
    bytes: usize,
    flushes: usize,
    closed: bool,
    started: bool,
    /// Records dropped because the queue was full, since the last flush.
    dropped_since_flush: u64,
}

struct Shared {
    queue: Mutex<Queue>,
    ready: Condvar,
    dropped: AtomicU64,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        // Every critical section leaves the queue consistent.
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A transport, an encoding, a bounded queue of records and a thread that
/// sends them: everything a remote sink does, so each sink's
/// `TelemetrySink` impl is two calls. Its async side never blocks: the
/// network is only ever touched on the delivery thread, started at the
/// first event.
pub(crate) struct Batcher {
    pub(crate) core: Arc<Core>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Batcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batcher")
            .field("core", &self.core)
            .field("dropped", &self.dropped())
            .finish_non_exhaustive()
    }
}

/// How many batches' worth of records may wait before new ones are dropped.
const QUEUED_BATCHES: usize = 4;

impl Batcher {
    fn new(core: Core) -> Self {
        Self {
            core: Arc::new(core),
            shared: Arc::new(Shared {
                queue: Mutex::new(Queue::default()),
                ready: Condvar::new(),
                dropped: AtomicU64::new(0),
            }),
        }
    }

    /// Records dropped because too many were waiting.
    pub(crate) fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Queues `event` for the delivery thread (which sends a batch as soon
    /// as one is full). Never waits: when more than a few batches are
    /// waiting, the event is dropped and counted.
    pub(crate) fn emit(&self, event: &Event) -> Result<(), TelemetryError> {
        let record = Record::new(event);
        let size = crate::event::approx_size(&record.event);
        let core = &self.core;
        let mut queue = self.shared.lock();
        if queue.closed
            || queue.records >= core.max_batch.saturating_mul(QUEUED_BATCHES)
            || queue.bytes.saturating_add(size)
                > core.max_batch_bytes.saturating_mul(QUEUED_BATCHES)
        {
            queue.dropped_since_flush += 1;
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        queue.items.push_back(Item::Record(record, size));
        queue.records += 1;
        queue.bytes += size;
        let wake = queue.records >= core.max_batch || queue.bytes >= core.max_batch_bytes;
        self.start(&mut queue)?;
        drop(queue);
        if wake {
            self.shared.ready.notify_one();
        }
        Ok(())
    }

    /// Sends everything queued so far and waits for the answer without
    /// blocking the caller's thread. `Ok` only if all of it was delivered.
    pub(crate) async fn flush(&self) -> Result<(), TelemetryError> {
        let (reply, answer) = oneshot::channel();
        {
            let mut queue = self.shared.lock();
            if queue.closed {
                return Err(TelemetryError::thread_stopped("HTTP delivery"));
            }
            if queue.records == 0 && queue.dropped_since_flush == 0 && queue.flushes == 0 {
                return Ok(()); // nothing was accepted since the last flush
            }
            queue.items.push_back(Item::Flush(reply));
            queue.flushes += 1;
            self.start(&mut queue)?;
        }
        self.shared.ready.notify_one();
        match answer.await {
            Ok(result) => result,
            Err(NoReply::Gone | NoReply::TimedOut) => {
                Err(TelemetryError::thread_stopped("HTTP delivery"))
            }
        }
    }

    /// Starts the delivery thread once.
    fn start(&self, queue: &mut Queue) -> Result<(), TelemetryError> {
        if queue.started {
            return Ok(());
        }
        let core = Arc::clone(&self.core);
        let shared = Arc::clone(&self.shared);
        thread::Builder::new()
            .name("rtb-telemetry-http".into())
            .spawn(move || {
                let _closing = Closing(Arc::clone(&shared));
                deliver(&core, &shared);
            })
            .map_err(|e| TelemetryError::thread("start its HTTP delivery thread", Some(e)))?;
        queue.started = true;
        Ok(())
    }
}

impl Drop for Batcher {
    fn drop(&mut self) {
        // The thread sends what is queued and stops; nobody waits for it.
        self.shared.lock().closed = true;
        self.shared.ready.notify_all();
    }
}

/// Closes and empties the queue when the thread ends, however it ends, so
/// waiting flushes learn at once that nobody will answer.
struct Closing(Arc<Shared>);

impl Drop for Closing {
    fn drop(&mut self) {
        let mut queue = self.0.lock();
        queue.closed = true;
        let left = std::mem::take(&mut queue.items);
        drop(queue);
        drop(left);
    }
}

/// The delivery thread: send full batches as they fill, everything on a
/// flush request (then answer it), the rest when the sink is dropped.
fn deliver(core: &Core, shared: &Shared) {
    let mut failed: Option<TelemetryError> = None;
    loop {
        let (batch, flush) = {
            let mut queue = shared.lock();
            loop {
                let full = queue.records >= core.max_batch || queue.bytes >= core.max_batch_bytes;
                if full || queue.flushes > 0 || (queue.closed && !queue.items.is_empty()) {
                    break;
                }
                if queue.closed {
                    return;
                }
                queue = shared
                    .ready
                    .wait(queue)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            take_batch(core, &mut queue)
        };
        if !batch.is_empty()
            && let Err(e) = core.send(&batch, None, DROPPED)
        {
            failed = Some(e);
        }
        if let Some((reply, dropped)) = flush {
            let result = match (failed.take(), dropped) {
                (Some(e), _) => Err(e),
                (None, 0) => Ok(()),
                (None, dropped) => Err(TelemetryError::dropped(
                    dropped,
                    "the queue of batches waiting for the network",
                    "the collector is slower than events arrive, or unreachable; it is not \
                     waited for. The tool itself is not affected",
                )),
            };
            reply.send(result);
        }
    }
}

/// The records at the front of the queue, up to one batch or the first
/// flush request; and that request, if it was reached.
#[expect(clippy::type_complexity, reason = "a private helper's two results")]
fn take_batch(
    core: &Core,
    queue: &mut Queue,
) -> (
    Vec<Record>,
    Option<(oneshot::Sender<Result<(), TelemetryError>>, u64)>,
) {
    let mut batch = Vec::new();
    let mut bytes = 0;
    while let Some(item) = queue.items.pop_front() {
        match item {
            Item::Record(record, size) => {
                queue.records -= 1;
                queue.bytes -= size;
                bytes += size;
                batch.push(record);
                if batch.len() >= core.max_batch || bytes >= core.max_batch_bytes {
                    break;
                }
            }
            Item::Flush(reply) => {
                if !batch.is_empty() {
                    // Send what came before it first; answer next round.
                    queue.items.push_front(Item::Flush(reply));
                    break;
                }
                queue.flushes -= 1;
                let dropped = std::mem::take(&mut queue.dropped_since_flush);
                return (batch, Some((reply, dropped)));
            }
        }
    }
    (batch, None)
}

const DROPPED: &str = "of this batch were dropped";

/// The accessors both remote sinks share.
macro_rules! sink_accessors {
    () => {
        /// The endpoint events are sent to, without credentials (user info
        /// and query values are `[redacted]`).
        ///
        /// # Example
        ///
        /// ```
        /// let sink = rtb_telemetry::remote::HttpSink::builder("http://u:pw@127.0.0.1:9/e?k=s").build()?;
        /// assert_eq!(sink.endpoint(), "http://[redacted]@127.0.0.1:9/e?k=[redacted]");
        /// # Ok::<(), rtb_telemetry::TelemetryError>(())
        /// ```
        #[must_use]
        pub fn endpoint(&self) -> &str {
            self.core.core.transport.endpoint.shown()
        }

        /// `true` when credentials would cross the network in clear text:
        /// an auth-looking header (or user info in the URL) over plain
        /// `http://`. Allowed (a collector on loopback is fine), but
        /// `telemetry status` and debug mode name it.
        #[must_use]
        pub fn sends_credentials_in_clear(&self) -> bool {
            self.core.core.transport.sends_credentials_in_clear()
        }

        /// Events dropped because more than four batches were waiting for
        /// the network (so memory stays bounded behind a slow collector).
        #[must_use]
        pub fn dropped(&self) -> u64 {
            self.core.dropped()
        }
    };
}
pub(crate) use sink_accessors;

/// The builder methods both remote sinks' builders share.
macro_rules! builder_methods {
    () => {
        /// Adds a header sent with every request, e.g. an API key. Its value
        /// never appears in `Debug` output or errors; `build()` checks it.
        pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
            self.options.headers.push((name.into(), value.into()));
            self
        }

        /// How retries are made (default: 4 attempts, 200 ms doubling,
        /// capped at 5 s).
        pub fn retry(mut self, retry: $crate::remote::Retry) -> Self {
            self.options.retry = retry;
            self
        }

        /// The connect timeout (default 2 s; longer than a day means a day).
        pub fn connect_timeout(mut self, timeout: std::time::Duration) -> Self {
            self.options.connect_timeout = timeout;
            self
        }

        /// The whole-request timeout (default 5 s; longer than a day means a
        /// day).
        pub fn request_timeout(mut self, timeout: std::time::Duration) -> Self {
            self.options.request_timeout = timeout;
            self
        }

        /// Trusts the certificates in `pem` (e.g. a company CA) *instead of*
        /// the built-in Mozilla roots. May be given more than once. Checked
        /// by `build()`.
        pub fn root_certificate_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
            self.options.root_pems.push(pem.into());
            self
        }

        /// The most events in one request (default 512).
        pub fn max_batch(mut self, events: usize) -> Self {
            self.options.max_batch = events.max(1);
            self
        }

        /// The most bytes of events in one request (default 1 MiB; a single
        /// larger event is sent alone).
        pub fn max_batch_bytes(mut self, bytes: usize) -> Self {
            self.options.max_batch_bytes = bytes.max(1);
            self
        }
    };
}
pub(crate) use builder_methods;

#[cfg(test)]
mod tests {
    use super::*;

    fn records(n: usize) -> Vec<Record> {
        (0..n)
            .map(|i| Record::new(&Event::new(format!("e{i}"), "t", "1", "id")))
            .collect()
    }

    #[test]
    fn batches_respect_both_bounds() {
        let mut options = Options::new("http://127.0.0.1:9/".into());
        options.max_batch = 4;
        options.max_batch_bytes = 600;
        let encoding = Encoding {
            content_type: "x",
            encode: |_| Ok(Vec::new()),
        };
        let sink = options.into_batcher(None, encoding).unwrap();
        let core = &sink.core;
        let all = records(10);
        let batches = core.split(&all);
        assert_eq!(batches.iter().map(|b| b.len()).sum::<usize>(), 10);
        for batch in &batches {
            assert!(batch.len() <= 4);
            let bytes: usize = batch
                .iter()
                .map(|r| crate::event::approx_size(&r.event) + r.id.len())
                .sum();
            assert!(bytes <= 600 || batch.len() == 1, "{bytes}");
        }
    }
}
