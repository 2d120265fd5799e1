//! A scripted HTTP/1.1 server on 127.0.0.1 that records what it receives.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One recorded request.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub(crate) path: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
    /// Its connection's place in the order the system completed them (the
    /// listen queue is first in, first out, whatever threads do after).
    pub(crate) seq: usize,
}

impl Request {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What the server does with one request.
#[derive(Debug, Clone)]
pub(crate) enum Answer {
    Status(u16, Vec<(&'static str, &'static str)>),
    /// Read the request, then never answer (hold the connection).
    Hang,
}

/// Decides the answer to a request from what it carries; `None` falls
/// back to the script.
pub(crate) type Rule = Arc<dyn Fn(&Request) -> Option<Answer> + Send + Sync>;

pub(crate) struct Server {
    pub(crate) url: String,
    pub(crate) requests: Arc<Mutex<Vec<Request>>>,
    connections: Arc<AtomicUsize>,
}

impl Server {
    /// Answers requests from `script` in order, then 200 to the rest.
    pub(crate) fn start(script: Vec<Answer>) -> Self {
        Self::start_with(script, None, None)
    }

    /// Answers each request as `rule` says (200 where it says nothing).
    pub(crate) fn start_ruled(
        rule: impl Fn(&Request) -> Option<Answer> + Send + Sync + 'static,
    ) -> Self {
        Self::start_with(vec![], None, Some(Arc::new(rule)))
    }

    /// The same over HTTPS, with the test certificate for `localhost` and
    /// 127.0.0.1 (`tests/fixtures/tls`).
    pub(crate) fn start_tls(script: Vec<Answer>) -> Self {
        use rustls::pki_types::pem::PemObject as _;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};

        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tls/");
        let chain: Vec<CertificateDer<'static>> =
            CertificateDer::pem_file_iter(format!("{dir}server.pem"))
                .unwrap()
                .map(Result::unwrap)
                .collect();
        let key = PrivateKeyDer::from_pem_file(format!("{dir}server.key")).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap();
        Self::start_with(script, Some(Arc::new(config)), None)
    }

    /// A collector at `url` (one on which nothing listened until now: a
    /// collector that comes back where it was).
    pub(crate) fn start_at(url: &str) -> Self {
        let port = url
            .rsplit(':')
            .next()
            .and_then(|p| p.split('/').next())
            .and_then(|p| p.parse::<u16>().ok())
            .expect("a URL with a port");
        Self::start_on(&format!("127.0.0.1:{port}"), vec![], None, None)
    }

    fn start_with(
        script: Vec<Answer>,
        tls: Option<Arc<rustls::ServerConfig>>,
        rule: Option<Rule>,
    ) -> Self {
        Self::start_on("127.0.0.1:0", script, tls, rule)
    }

    fn start_on(
        address: &str,
        script: Vec<Answer>,
        tls: Option<Arc<rustls::ServerConfig>>,
        rule: Option<Rule>,
    ) -> Self {
        let listener = TcpListener::bind(address).unwrap();
        let scheme = if tls.is_some() { "https" } else { "http" };
        let url = format!("{scheme}://{}", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(VecDeque::from(script)));
        let seen = Arc::clone(&requests);
        let connections = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&connections);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { break };
                let accepted = counter.fetch_add(1, Ordering::SeqCst);
                let seen = Arc::clone(&seen);
                let script = Arc::clone(&script);
                let tls = tls.clone();
                let rule = rule.clone();
                std::thread::spawn(move || match tls {
                    None => serve(stream, accepted, &seen, &script, rule.as_ref()),
                    Some(config) => {
                        let Ok(conn) = rustls::ServerConnection::new(config) else {
                            return;
                        };
                        let stream = rustls::StreamOwned::new(conn, stream);
                        serve(stream, accepted, &seen, &script, rule.as_ref());
                    }
                });
            }
        });
        Self {
            url,
            requests,
            connections,
        }
    }

    /// Connects, sends a `POST /mark` and waits for its answer: its place
    /// in the connection order. Every connection made after this call
    /// returned comes later in that order.
    pub(crate) fn mark(&self) -> usize {
        let address = self.url.trim_start_matches("http://").to_owned();
        let mut stream = std::net::TcpStream::connect(&address).unwrap();
        stream
            .write_all(b"POST /mark HTTP/1.1\r\ncontent-length: 0\r\n\r\n")
            .unwrap();
        let mut answer = [0_u8; 12];
        let _ = stream.read_exact(&mut answer);
        self.requests()
            .iter()
            .rev()
            .find(|r| r.path == "/mark")
            .map(|r| r.seq)
            .expect("the mark was recorded")
    }

    pub(crate) fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }

    /// How many connections were accepted (handshakes attempted, for TLS).
    pub(crate) fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

fn serve<S: Read + Write>(
    stream: S,
    accepted: usize,
    seen: &Mutex<Vec<Request>>,
    script: &Mutex<VecDeque<Answer>>,
    rule: Option<&Rule>,
) {
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        // One request per connection (the client closes it): its place is
        // the connection's.
        let seq = accepted;
        let path = line.split_whitespace().nth(1).unwrap_or("").to_owned();
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((n, v)) = h.split_once(':') {
                headers.push((n.trim().to_owned(), v.trim().to_owned()));
            }
        }
        let len = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.parse::<usize>().ok())
            .unwrap_or(0);
        let mut body = vec![0; len];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let request = Request {
            path,
            headers,
            body,
            seq,
        };
        let ruled = rule.and_then(|rule| rule(&request));
        seen.lock().unwrap().push(request);
        let answer = ruled.unwrap_or_else(|| {
            script
                .lock()
                .unwrap()
                .pop_front()
                .unwrap_or(Answer::Status(200, vec![]))
        });
        match answer {
            Answer::Hang => {
                std::thread::sleep(Duration::from_secs(60));
                return;
            }
            Answer::Status(code, extra) => {
                let mut response = format!("HTTP/1.1 {code} X\r\ncontent-length: 0\r\n");
                for (n, v) in extra {
                    let _ = write!(response, "{n}: {v}\r\n");
                }
                response.push_str("\r\n");
                let stream = reader.get_mut();
                if stream
                    .write_all(response.as_bytes())
                    .and_then(|()| stream.flush())
                    .is_err()
                {
                    return;
                }
            }
        }
    }
}

/// A URL on which nothing listens: connections are refused.
///
/// Its port is outside the range the system hands out for port 0 (which
/// every `Server` uses), so no other test's server takes it meanwhile; a
/// collector may later come back on it (`Server::start_at`).
pub(crate) fn refused_url() -> String {
    use std::sync::atomic::AtomicU16;
    // Each test binary starts at its own place in 20000..29000.
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let base = 20_000 + u16::try_from(std::process::id() % 9_000).unwrap_or(0);
    loop {
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let port = 20_000 + (base - 20_000 + n) % 9_000;
        // Free now (nothing listens)? Then it is ours to leave closed.
        if let Ok(listener) = TcpListener::bind(("127.0.0.1", port)) {
            drop(listener);
            return format!("http://127.0.0.1:{port}");
        }
    }
}
