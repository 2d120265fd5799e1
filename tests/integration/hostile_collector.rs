//! Collectors that hang, drip, lie about their size, redirect, or flood
//! interim answers: every request ends within its timeout, nothing is
//! followed elsewhere, and memory stays bounded. Time bounds here are hang
//! checks with wide margins, not speed claims.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rtb_telemetry::remote::{HttpSink, Retry};
use rtb_telemetry::{Event, TelemetryError, TelemetrySink};

use crate::support::block_on;

/// A collector that reads each request's head and then does whatever
/// `answer` does with the connection; counts connections.
struct Raw {
    url: String,
    connections: Arc<AtomicUsize>,
}

impl Raw {
    fn start(answer: impl Fn(&mut TcpStream) + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/v1/events", listener.local_addr().unwrap());
        let connections = Arc::new(AtomicUsize::new(0));
        let answer = Arc::new(answer);
        let counted = connections.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                counted.fetch_add(1, Ordering::SeqCst);
                let answer = answer.clone();
                std::thread::spawn(move || {
                    let mut stream = stream;
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
                    read_head(&mut stream);
                    answer(&mut stream);
                });
            }
        });
        Self { url, connections }
    }
}

/// Reads until the end of a request's head (the body is left unread).
fn read_head(stream: &mut TcpStream) {
    let mut seen = Vec::new();
    let mut byte = [0_u8; 1];
    while !seen.ends_with(b"\r\n\r\n") && seen.len() < 64 * 1024 {
        match stream.read(&mut byte) {
            Ok(1) => seen.push(byte[0]),
            _ => return,
        }
    }
}

/// One attempt, short timeouts: the sink's answer and how long it took.
fn send_to(url: &str) -> (Result<(), TelemetryError>, Duration) {
    let sink = HttpSink::builder(url)
        .retry(Retry {
            attempts: 1,
            ..Retry::default()
        })
        .connect_timeout(Duration::from_millis(500))
        .request_timeout(Duration::from_millis(800))
        .flush_deadline(Duration::from_secs(10))
        .build()
        .unwrap();
    let start = Instant::now();
    let result = block_on(async {
        sink.emit(&Event::new("e", "mytool", "1.0.0", "ab".repeat(32)))
            .await
            .unwrap();
        sink.flush().await
    });
    (result, start.elapsed())
}

#[test]
fn a_collector_that_never_answers_times_out() {
    let raw = Raw::start(|_| std::thread::sleep(Duration::from_secs(30)));
    let (result, took) = send_to(&raw.url);
    let err = result.unwrap_err();
    assert!(took < Duration::from_secs(4), "{took:?}: {err}");
}

#[test]
fn a_collector_that_drips_its_answer_times_out() {
    let raw = Raw::start(|stream| {
        for byte in b"HTTP/1.1 200 OK\r\nX-Slow: "
            .iter()
            .chain([b'a'; 200].iter())
        {
            if stream.write_all(&[*byte]).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    let (result, took) = send_to(&raw.url);
    assert!(result.is_err(), "a head never finished is no answer");
    assert!(took < Duration::from_secs(4), "{took:?}");
}

#[test]
fn a_huge_content_length_is_not_read() {
    let raw = Raw::start(|stream| {
        let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 17179869184\r\n\r\n");
        std::thread::sleep(Duration::from_secs(30));
    });
    let (result, took) = send_to(&raw.url);
    assert!(result.is_ok(), "a 200 is delivery: {result:?}");
    assert!(took < Duration::from_secs(4), "{took:?}");
}

#[test]
fn a_redirect_is_never_followed() {
    let elsewhere = Raw::start(|stream| {
        let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    });
    let location = elsewhere.url.clone();
    let raw = Raw::start(move |stream| {
        let _ = stream.write_all(
            format!("HTTP/1.1 307 Temporary Redirect\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n")
                .as_bytes(),
        );
    });
    let (result, _) = send_to(&raw.url);
    let err = result.unwrap_err();
    assert!(err.to_string().contains("307"), "{err}");
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        elsewhere.connections.load(Ordering::SeqCst),
        0,
        "the redirect was followed"
    );
}

#[test]
fn a_flood_of_interim_answers_ends_in_time() {
    let raw = Raw::start(|stream| {
        for _ in 0..100_000 {
            if stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").is_err() {
                return;
            }
        }
        std::thread::sleep(Duration::from_secs(30));
    });
    let (result, took) = send_to(&raw.url);
    assert!(result.is_err(), "interim answers are no answer");
    assert!(took < Duration::from_secs(4), "{took:?}");
}

#[test]
fn garbage_instead_of_http_is_an_error_not_a_hang() {
    let raw = Raw::start(|stream| {
        let _ = stream.write_all(&[0xff; 4096]);
        std::thread::sleep(Duration::from_secs(30));
    });
    let (result, took) = send_to(&raw.url);
    assert!(result.is_err());
    assert!(took < Duration::from_secs(4), "{took:?}");
}
