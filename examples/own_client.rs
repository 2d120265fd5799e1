//! A tool that already links an HTTP client hands it to the crate instead
//! of the bundled one (ureq): build with `upload` alone, implement
//! [`HttpClient`] over your client, and pass it with `.http_client(..)`.
//! Here the client is `minreq` (plain `http://` only, as built here).
//!
//! ```sh
//! python3 examples/collector.py &        # a collector on 127.0.0.1:4318
//! cargo run --example own_client --no-default-features --features upload -- \
//!     http://127.0.0.1:4318/v1/events
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rtb_telemetry::remote::{Answer, ClientError, HttpClient, HttpSink, Post};
use rtb_telemetry::{CollectionPolicy, TelemetryContext};

/// The tool's own client, as the crate sees it (counting its requests).
#[derive(Default)]
struct Minreq {
    sent: AtomicUsize,
}

impl HttpClient for Minreq {
    fn post(&self, post: &mut Post<'_>) -> Result<Answer, ClientError> {
        // minreq counts whole seconds: round the time left up, at least 1.
        let left = post.time_left();
        let secs = (left.as_secs() + u64::from(left.subsec_nanos() > 0)).max(1);
        let mut request = minreq::post(post.url())
            .with_timeout(secs)
            .with_follow_redirects(false);
        for (name, value) in post.headers() {
            request = request.with_header(name, value);
        }
        // minreq takes the body whole. If telemetry was turned off in the
        // meantime, nothing is sent.
        let body = post
            .body()
            .all_at_once()
            .map_err(|e| ClientError::before_sending(e.to_string(), false))?;
        self.sent.fetch_add(1, Ordering::Relaxed);
        let response = request.with_body(body.to_vec()).send_lazy().map_err(|e| {
            // The name or the connection failed: nothing reached the
            // collector. Anything later may have.
            match e {
                minreq::Error::AddressNotFound => ClientError::before_sending(e.to_string(), true),
                minreq::Error::IoError(ref io)
                    if io.kind() == std::io::ErrorKind::ConnectionRefused =>
                {
                    ClientError::before_sending(e.to_string(), true)
                }
                _ => ClientError::after_sending(e.to_string()),
            }
        })?;
        let retry_after = response
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("retry-after"))
            .map(|(_, v)| v.as_str());
        // Read no more of the answer than its head.
        Ok(Answer::new(response.status_code).retry_after(retry_after))
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> miette::Result<()> {
    let Some(endpoint) = std::env::args().nth(1) else {
        eprintln!("usage: own_client http://HOST:PORT/PATH");
        std::process::exit(2);
    };
    let client = Arc::new(Minreq::default());
    let sink = HttpSink::builder(endpoint)
        .http_client(client.clone())
        .build()?;
    let telemetry = TelemetryContext::builder()
        .tool("own_client")
        .tool_version(env!("CARGO_PKG_VERSION"))
        .salt("own-client-telemetry-v1")
        .sink(sink)
        .policy(CollectionPolicy::Enabled)
        .build();
    telemetry.record("init").await?;
    telemetry.record("exit").await?;
    // Sent now, through minreq; a refusal is the collector's answer.
    let flushed = telemetry.flush().await;
    let sent = client.sent.load(Ordering::Relaxed);
    println!("minreq carried {sent} request(s)");
    flushed?;
    println!("2 events delivered");
    Ok(())
}
