//! `HttpSink` against real servers on loopback: what it sends, and faults.
//!
//! Time bounds here are hang checks with wide margins, not speed claims.

use std::time::{Duration, Instant};

use rtb_telemetry::remote::{HttpSink, Retry};
use rtb_telemetry::{
    Background, CollectionPolicy, ErrorKind, Event, TelemetryContext, TelemetrySink,
};

use crate::loopback::{Answer, Server, refused_url};
use crate::support::block_on;

fn event(name: &str) -> Event {
    Event::new(name, "mytool", "1.0.0", "ab".repeat(32)).with_attr("outcome", "ok")
}

fn fast_retry() -> Retry {
    Retry {
        attempts: 3,
        first_delay: Duration::from_millis(20),
        max_delay: Duration::from_secs(2),
    }
}

fn sink(url: &str) -> HttpSink {
    HttpSink::builder(format!("{url}/v1/events"))
        .header("x-api-key", "s3cr3t-key")
        .retry(fast_retry())
        .connect_timeout(Duration::from_millis(500))
        .request_timeout(Duration::from_millis(500))
        .build()
        .unwrap()
}

/// One record of a JSON body: the event and its id.
#[derive(serde::Deserialize)]
struct Record {
    id: String,
    event: Event,
}

fn records(server: &Server) -> Vec<Vec<Record>> {
    server
        .requests()
        .iter()
        .map(|r| serde_json::from_slice(&r.body).expect("a JSON array of records"))
        .collect()
}

fn delivered(server: &Server) -> Vec<Vec<Event>> {
    records(server)
        .into_iter()
        .map(|batch| batch.into_iter().map(|r| r.event).collect())
        .collect()
}

#[test]
fn posts_a_json_array_of_file_sink_shaped_events_with_its_headers() {
    let server = Server::start(vec![]);
    let http = sink(&server.url);
    let events = [event("a"), event("b\u{2028}c")];
    block_on(async {
        for e in &events {
            http.emit(e).await.unwrap();
        }
        assert!(server.requests().is_empty(), "batched until flush");
        http.flush().await.unwrap();
    });
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(r.path, "/v1/events");
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("x-api-key"), Some("s3cr3t-key"));
    assert_eq!(delivered(&server), [events.to_vec()]);
    // Each element is byte for byte a FileSink line (without its newline).
    let mut line = Vec::new();
    let dir = tempfile::tempdir().unwrap();
    let file = rtb_telemetry::FileSink::new(dir.path().join("e.jsonl"));
    block_on(file.emit(&events[0])).unwrap();
    line.extend(std::fs::read(dir.path().join("e.jsonl")).unwrap());
    line.pop();
    let body = String::from_utf8(r.body.clone()).unwrap();
    let ids: Vec<String> = records(&server)[0].iter().map(|r| r.id.clone()).collect();
    assert_eq!(ids.len(), 2);
    assert_ne!(ids[0], ids[1], "each record has its own id");
    let first = format!(
        r#"[{{"id":"{}","event":{}}}"#,
        ids[0],
        String::from_utf8(line).unwrap()
    );
    assert!(body.starts_with(&first), "{body}");
    let key = r.header("idempotency-key").expect("an idempotency key");
    assert_eq!(key.len(), 32, "{key}");
}

#[test]
fn a_500_then_200_delivers_the_batch_exactly_once() {
    let server = Server::start(vec![Answer::Status(500, vec![])]);
    let http = sink(&server.url);
    let start = Instant::now();
    block_on(async {
        http.emit(&event("once")).await.unwrap();
        http.flush().await.unwrap();
    });
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "flush bounded: {:?}",
        start.elapsed()
    );
    let batches = delivered(&server);
    assert_eq!(batches.len(), 2, "one failed try, one success");
    assert_eq!(batches[0], batches[1], "the same batch, retried");
    // Nothing more goes out: the batch was accepted once.
    block_on(http.flush()).unwrap();
    assert_eq!(server.requests().len(), 2);
}

#[test]
fn a_429_retry_after_is_honoured() {
    let server = Server::start(vec![Answer::Status(429, vec![("retry-after", "1")])]);
    let http = sink(&server.url);
    let start = Instant::now();
    block_on(async {
        http.emit(&event("later")).await.unwrap();
        http.flush().await.unwrap();
    });
    let waited = start.elapsed();
    assert_eq!(server.requests().len(), 2);
    assert!(
        waited >= Duration::from_secs(1),
        "waited Retry-After: {waited:?}"
    );
    assert!(waited < Duration::from_secs(10), "bounded: {waited:?}");
}

#[test]
fn other_4xx_are_not_retried_and_the_error_hides_the_headers() {
    let server = Server::start(vec![Answer::Status(401, vec![])]);
    let http = sink(&server.url);
    let err = block_on(async {
        http.emit(&event("denied")).await.unwrap();
        http.flush().await.unwrap_err()
    });
    assert_eq!(server.requests().len(), 1, "no retry on 401");
    assert_eq!(err.kind(), ErrorKind::Delivery, "{err:?}");
    assert_eq!(err.status(), Some(401));
    for shown in [err.to_string(), format!("{err:?}"), format!("{http:?}")] {
        assert!(!shown.contains("s3cr3t-key"), "the API key leaked: {shown}");
    }
    assert!(
        format!("{http:?}").contains("x-api-key"),
        "header names are shown"
    );
}

#[test]
fn connection_refused_fails_after_the_retries_in_bounded_time() {
    let http = sink(&refused_url());
    let start = Instant::now();
    let err = block_on(async {
        http.emit(&event("nobody")).await.unwrap();
        http.flush().await.unwrap_err()
    });
    assert_eq!(err.kind(), ErrorKind::Delivery, "{err:?}");
    assert!(err.to_string().contains("after 3 attempts"), "{err}");
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn a_server_that_never_answers_holds_up_neither_flush_nor_exit() {
    let server = Server::start(vec![Answer::Hang, Answer::Hang, Answer::Hang, Answer::Hang]);
    let background = Background::builder(sink(&server.url))
        .flush_deadline(Duration::from_millis(300))
        .drain_deadline(Duration::from_millis(300))
        .spawn()
        .unwrap();
    block_on(background.emit(&event("stuck"))).unwrap();
    let start = Instant::now();
    let _ = block_on(background.flush()); // may time out; must return
    drop(background);
    let waited = start.elapsed();
    assert!(
        waited < Duration::from_secs(3),
        "flush + exit bounded: {waited:?}"
    );
    assert!(!server.requests().is_empty(), "the request was made");
}

#[test]
fn overflow_behind_a_stuck_collector_is_counted_and_memory_bounded() {
    let server = Server::start(vec![Answer::Hang]);
    // One event per request: the first send holds the delivery thread on
    // the server that never answers, and at most four events queue behind.
    let http = HttpSink::builder(format!("{}/v1/events", server.url))
        .max_batch(1)
        .capacity(4)
        .linger(Duration::ZERO)
        .request_timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let start = Instant::now();
    for i in 0..1000 {
        // Never waits, never errors.
        block_on(http.emit(&event(&i.to_string()))).unwrap();
    }
    assert!(start.elapsed() < Duration::from_secs(2), "emit never waits");
    let dropped = http.dropped();
    assert!(dropped >= 1000 - 4 - 2, "dropped {dropped}");
}

#[test]
fn a_megabyte_attr_is_cut_before_it_is_queued() {
    let server = Server::start(vec![]);
    let http = sink(&server.url);
    let big = event("big").with_attr("error", "x".repeat(1 << 20));
    block_on(async {
        http.emit(&big).await.unwrap();
        http.flush().await.unwrap();
    });
    let sent = &delivered(&server)[0][0];
    assert!(sent.attrs["error"].len() <= Event::MAX_ATTR_VALUE_BYTES);
    assert!(sent.attrs["error"].ends_with(Event::TRUNCATED));
}

const TEST_CA: &str = include_str!("../fixtures/tls/ca.pem");

#[test]
fn https_with_a_private_ca_delivers() {
    let server = Server::start_tls(vec![]);
    let https = HttpSink::builder(format!("{}/v1/events", server.url))
        .root_certificate_pem(TEST_CA)
        .retry(fast_retry())
        .build()
        .unwrap();
    assert!(https.endpoint().starts_with("https://127.0.0.1:"));
    block_on(async {
        https.emit(&event("secure")).await.unwrap();
        https.flush().await.unwrap();
    });
    let batches = delivered(&server);
    assert_eq!(batches.len(), 1);
    assert_eq!(batches[0].len(), 1);
    assert_eq!(batches[0][0].name, "secure");
}

#[test]
fn https_refuses_a_certificate_it_does_not_trust() {
    let server = Server::start_tls(vec![]);
    // The built-in web roots do not include the test CA.
    let https = HttpSink::builder(format!("{}/v1/events", server.url))
        .retry(fast_retry()) // 3 attempts, if it were worth retrying
        .build()
        .unwrap();
    let err = block_on(async {
        https.emit(&event("rejected")).await.unwrap();
        https.flush().await.unwrap_err()
    });
    assert_eq!(err.kind(), ErrorKind::Delivery, "{err:?}");
    assert!(
        server.requests().is_empty(),
        "no request got through the handshake"
    );
    // An untrusted certificate does not heal by waiting: one handshake.
    assert_eq!(server.connections(), 1, "{err}");
    assert!(err.to_string().contains("not retried"), "{err}");
}

#[test]
fn a_root_certificate_that_is_not_pem_is_a_clear_error() {
    let err = HttpSink::builder("https://collector.example")
        .root_certificate_pem("not a certificate")
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err:?}");
    assert!(err.to_string().contains("collector.example"), "{err}");
}

#[test]
fn no_timeout_or_retry_setting_panics() {
    let server = Server::start(vec![Answer::Status(500, vec![])]);
    for extreme in [Duration::ZERO, Duration::MAX] {
        let http = HttpSink::builder(format!("{}/v1/events", server.url))
            .connect_timeout(Duration::MAX)
            .request_timeout(Duration::MAX)
            .retry(Retry {
                attempts: 1,
                first_delay: extreme,
                max_delay: extreme,
            })
            .build()
            .unwrap();
        block_on(async {
            http.emit(&event("extreme")).await.unwrap();
            let _ = http.flush().await; // a 500 with one attempt, or a 200
        });
    }
}

#[test]
fn the_scheme_may_be_upper_case_and_bad_endpoints_are_refused_at_build() {
    let server = Server::start(vec![]);
    let upper = server.url.replacen("http://", "HTTP://", 1);
    let http = HttpSink::builder(format!("{upper}/v1/events"))
        .build()
        .unwrap();
    block_on(async {
        http.emit(&event("upper")).await.unwrap();
        http.flush().await.unwrap();
    });
    assert_eq!(delivered(&server)[0][0].name, "upper");
    for bad in [
        "http://[::1",
        "http://",
        "http://a b/",
        "http://h:99999/",
        "ftp://x",
        "h:4318",
    ] {
        let err = HttpSink::builder(bad).build().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config, "{bad}: {err}");
    }
}

#[test]
fn a_bad_header_is_a_configuration_error_that_hides_its_value() {
    for (name, value) in [
        ("x-api-key", "line\nbreak-s3cr3t"),
        ("bad header", "s3cr3t"),
    ] {
        let err = HttpSink::builder("https://collector.example/e")
            .header(name, value)
            .build()
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config, "{err}");
        assert!(!format!("{err} {err:?}").contains("s3cr3t"), "{err:?}");
    }
}

#[test]
fn credentials_in_the_endpoint_never_show() {
    let http = HttpSink::builder("https://user:pa55@collector.example/e?api_key=k3y&team=t")
        .build()
        .unwrap();
    for shown in [format!("{http:?}"), http.endpoint().to_owned()] {
        for secret in ["user", "pa55", "k3y"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
    }
    let refused = HttpSink::builder(format!(
        "{}/e?token=k3y",
        refused_url().replacen("http://", "http://user:pa55@", 1)
    ))
    .retry(Retry {
        attempts: 1,
        ..fast_retry()
    })
    .build()
    .unwrap();
    let err = block_on(async {
        refused.emit(&event("x")).await.unwrap();
        refused.flush().await.unwrap_err()
    });
    for secret in ["pa55", "k3y"] {
        assert!(!format!("{err} {err:?}").contains(secret), "{err:?}");
    }
}

#[test]
fn credentials_over_plain_http_are_named() {
    let plain = HttpSink::builder("http://collector.example/e")
        .header("authorization", "Bearer x")
        .build()
        .unwrap();
    assert!(plain.sends_credentials_in_clear());
    let tls = HttpSink::builder("https://collector.example/e")
        .header("authorization", "Bearer x")
        .build()
        .unwrap();
    assert!(!tls.sends_credentials_in_clear());
    let anonymous = HttpSink::builder("http://127.0.0.1:4318/e")
        .build()
        .unwrap();
    assert!(!anonymous.sends_credentials_in_clear());
}

#[test]
fn exporters_never_block_an_async_caller() {
    use std::sync::{Arc, Mutex};

    let server = Server::start(vec![Answer::Hang; 8]);
    let http = HttpSink::builder(format!("{}/v1/events", server.url))
        .request_timeout(Duration::from_millis(700))
        .retry(Retry {
            attempts: 1,
            ..Retry::default()
        })
        .build()
        .unwrap();
    let ctx = TelemetryContext::builder()
        .tool("mytool")
        .tool_version("1.0.0")
        .salt("s")
        .sink(http)
        .policy(CollectionPolicy::Enabled)
        .build();
    let background = Background::new(
        HttpSink::builder(format!("{}/v1/events", server.url))
            .request_timeout(Duration::from_millis(700))
            .retry(Retry {
                attempts: 1,
                ..Retry::default()
            })
            .build()
            .unwrap(),
    )
    .unwrap();
    let gaps = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&gaps);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let waited = runtime.block_on(async move {
        let ticker = tokio::spawn(async move {
            let mut last = Instant::now();
            loop {
                tokio::time::sleep(Duration::from_millis(10)).await;
                let now = Instant::now();
                log.lock().unwrap().push(now - last);
                last = now;
            }
        });
        tokio::time::sleep(Duration::from_millis(30)).await;
        let start = Instant::now();
        ctx.record("blackholed").await.unwrap();
        let _ = ctx.flush().await; // waits for the collector, suspended
        background
            .emit(&rtb_telemetry::Event::new("b", "t", "1", "id"))
            .await
            .unwrap();
        let _ = background.flush().await;
        let waited = start.elapsed();
        tokio::time::sleep(Duration::from_millis(30)).await;
        ticker.abort();
        waited
    });
    let gaps = gaps.lock().unwrap();
    let largest = gaps.iter().max().copied().unwrap_or_default();
    eprintln!(
        "flushes waited {waited:?}; {} ticks, largest gap {largest:?}",
        gaps.len()
    );
    assert!(
        waited >= Duration::from_millis(500),
        "the flushes did wait: {waited:?}"
    );
    assert!(
        largest <= Duration::from_millis(50),
        "the executor was blocked for {largest:?}"
    );
}

/// `examples/own_client.rs`: a tool's own client (minreq) carries the
/// request in place of the bundled one, headers and body whole, and a
/// refusal comes back as the collector's answer.
#[cfg(all(feature = "clap", feature = "otlp"))]
#[test]
fn a_tools_own_client_carries_the_events() {
    let server = Server::start(vec![Answer::Status(200, vec![])]);
    let out = std::process::Command::new(crate::support::example("own_client"))
        .arg(format!("{}/v1/events", server.url))
        .output()
        .expect("own_client runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("minreq carried 1 request(s)"), "{stdout}");
    let requests = server.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    let request = &requests[0];
    assert_eq!(request.path, "/v1/events");
    assert!(request.header("Idempotency-Key").is_some(), "{request:?}");
    let body = String::from_utf8_lossy(&request.body);
    assert_eq!(body.matches("\"own_client\"").count(), 2, "{body}");
    assert!(
        body.contains("\"init\"") && body.contains("\"exit\""),
        "{body}"
    );

    // A collector that refuses: the example fails with the crate's error.
    let refusing = Server::start(vec![Answer::Status(400, vec![])]);
    let out = std::process::Command::new(crate::support::example("own_client"))
        .arg(format!("{}/v1/events", refusing.url))
        .output()
        .expect("own_client runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("minreq carried 1 request(s)"));
    assert_eq!(refusing.requests().len(), 1);
    // Nothing listening: the client says it never reached a collector.
    let out = std::process::Command::new(crate::support::example("own_client"))
        .arg(refused_url())
        .output()
        .expect("own_client runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.to_lowercase().contains("refused"), "{stderr}");
}
