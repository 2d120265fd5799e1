//! A small HTTP/1.1 client: one `POST` per connection, over TCP or TLS
//! (rustls), with a connect timeout, one deadline for the whole exchange,
//! no redirects, the `*_PROXY` variables, and the response's status line
//! and headers read (never its body).
//!
//! Hand-written rather than `ureq`: measured in a stripped release build of
//! a small clap tool, `ureq` and the crates it brings cost about 0.8 MB on
//! top of rustls, a third of what the whole `http` feature may add; this
//! needs a few hundred lines of what `ureq` does.

use std::fmt::Write as _;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::endpoint::Endpoint;
use crate::Env;

/// The largest response head (status line and headers) read.
const MAX_HEAD: usize = 64 * 1024;

/// Where the request goes through, if anywhere.
#[derive(Clone)]
pub(crate) struct Proxy {
    endpoint: Endpoint,
}

impl Proxy {
    /// The proxy the standard variables name for `target` (`HTTPS_PROXY` or
    /// `HTTP_PROXY` by scheme, then `ALL_PROXY`, either case; `NO_PROXY`
    /// exempts hosts and domains). Only `http://` proxies can be used (a
    /// bare `host:port` means one); any other (`socks5://`, `https://`, a
    /// malformed value) is an error: sending around a proxy the user set
    /// would give away their address.
    pub(crate) fn from_env(env: &Env, target: &Endpoint) -> Result<Option<Self>, String> {
        let get = |name: &str| {
            env.text(name)
                .or_else(|| env.text(&name.to_ascii_lowercase()))
                .filter(|v| !v.trim().is_empty())
                .map(|v| (name.to_owned(), v))
        };
        let scheme_var = if target.is_https() {
            "HTTPS_PROXY"
        } else {
            "HTTP_PROXY"
        };
        let Some((name, url)) = get(scheme_var).or_else(|| get("ALL_PROXY")) else {
            return Ok(None);
        };
        if no_proxy(get("NO_PROXY").map(|(_, v)| v).as_deref(), target.host()) {
            return Ok(None);
        }
        let url = url.trim();
        let url = if url.contains("://") {
            url.to_owned()
        } else {
            format!("http://{url}")
        };
        match Endpoint::parse(&url) {
            Ok(endpoint) if !endpoint.is_https() => Ok(Some(Self { endpoint })),
            Ok(endpoint) => Err(format!(
                "the proxy {name} ({}) is an https:// proxy, which this client cannot use; \
                 nothing is sent rather than going around it",
                endpoint.shown()
            )),
            Err(_) => Err(format!(
                "the proxy {name} ({}) is not an http:// proxy this client can use; nothing \
                 is sent rather than going around it",
                crate::redact::redact_url(&url)
            )),
        }
    }

    pub(crate) fn shown(&self) -> &str {
        self.endpoint.shown()
    }
}

/// Whether `NO_PROXY` exempts `host`: `*`, the host itself, or a domain it
/// is in (`example.com` and `.example.com` both cover `a.example.com`).
fn no_proxy(list: Option<&str>, host: &str) -> bool {
    let host = host.to_ascii_lowercase();
    list.is_some_and(|list| {
        list.split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .any(|entry| {
                let entry = entry.to_ascii_lowercase();
                let entry = without_port(&entry);
                entry == "*"
                    || host == entry.trim_start_matches('.')
                    || host.ends_with(&format!(".{}", entry.trim_start_matches('.')))
            })
    })
}

/// A `NO_PROXY` entry without its port: `host:80` → `host`, `[::1]:80`
/// and `[::1]` → `::1`; a bare IPv6 address (`::1`) stays whole.
fn without_port(entry: &str) -> &str {
    if let Some(rest) = entry.strip_prefix('[') {
        return rest.split(']').next().unwrap_or_default();
    }
    match entry.split_once(':') {
        Some((host, port)) if !port.contains(':') => host,
        _ => entry,
    }
}

/// How far a failed exchange got.
#[derive(Debug)]
pub(crate) enum Failed {
    /// Nothing reached the collector: the name, the connection or the TLS
    /// handshake failed. `heals`: waiting may help.
    Before { message: String, heals: bool },
    /// The request may have reached it: writing it, or waiting for or
    /// reading the answer, failed.
    After { message: String },
    /// The gate closed once the connection was up: nothing was written.
    Stopped,
}

/// A response's status and the headers that matter here.
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) retry_after: Option<String>,
}

/// What one client needs: TLS settings, timeouts, a proxy.
#[derive(Clone)]
pub(crate) struct Client {
    tls: Arc<rustls::ClientConfig>,
    connect_timeout: Duration,
    /// An error when a proxy is set that cannot be used.
    proxy: Result<Option<Proxy>, String>,
}

impl Client {
    pub(crate) fn new(
        tls: Arc<rustls::ClientConfig>,
        connect_timeout: Duration,
        proxy: Result<Option<Proxy>, String>,
    ) -> Self {
        Self {
            tls,
            connect_timeout,
            proxy,
        }
    }

    /// `POST`s `body` to `endpoint` with `headers`, all of it done by
    /// `deadline`. Once the connection is up, `gate` decides whether the
    /// request is written at all; what it returns is held while it is.
    pub(crate) fn post(
        &self,
        endpoint: &Endpoint,
        headers: &[(&str, &str)],
        body: &[u8],
        deadline: Instant,
        gate: &mut dyn FnMut() -> Option<Box<dyn std::any::Any>>,
    ) -> Result<Response, Failed> {
        let proxy = match &self.proxy {
            Ok(proxy) => proxy.as_ref(),
            Err(message) => {
                return Err(Failed::Before {
                    message: message.clone(),
                    heals: false,
                });
            }
        };
        let via = proxy.map_or(endpoint, |p| &p.endpoint);
        let tcp = connect(via, self.connect_timeout, deadline)?;
        let mut stream: Box<dyn ReadWrite> = match (proxy, endpoint.is_https()) {
            (Some(proxy), true) => {
                let tcp = tunnel(tcp, proxy, endpoint, deadline)?;
                Box::new(self.handshake(tcp, endpoint, deadline)?)
            }
            (None, true) => Box::new(self.handshake(tcp, endpoint, deadline)?),
            (_, false) => Box::new(Deadlined::new(tcp, deadline)),
        };
        // Through a proxy, plain http names the whole URL.
        let target = match (proxy, endpoint.is_https()) {
            (Some(_), false) => format!("http://{}{}", endpoint.host_header(), endpoint.target()),
            _ => endpoint.target().to_owned(),
        };
        let mut head = format!(
            "POST {target} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\nConnection: close\r\n\
             User-Agent: rtb-telemetry/{}\r\n",
            endpoint.host_header(),
            body.len(),
            env!("CARGO_PKG_VERSION"),
        );
        let has_auth = headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("authorization"));
        if let (Some(credentials), false) = (endpoint.credentials(), has_auth) {
            let _ = write!(head, "Authorization: Basic {}\r\n", basic(&credentials));
        }
        if let (Some(proxy), false) = (proxy, endpoint.is_https())
            && let Some(credentials) = proxy.endpoint.credentials()
        {
            let _ = write!(
                head,
                "Proxy-Authorization: Basic {}\r\n",
                basic(&credentials)
            );
        }
        for (name, value) in headers {
            let _ = write!(head, "{name}: {value}\r\n");
        }
        head.push_str("\r\n");
        let after = |e: io::Error| Failed::After {
            message: describe(&e),
        };
        let Some(permit) = gate() else {
            return Err(Failed::Stopped);
        };
        stream.write_all(head.as_bytes()).map_err(after)?;
        stream.write_all(body).map_err(after)?;
        stream.flush().map_err(after)?;
        drop(permit);
        read_head(&mut BufReader::new(stream))
    }

    /// The TLS session: handshake completed here, so a failure of it is
    /// known to have sent nothing.
    fn handshake(
        &self,
        tcp: TcpStream,
        endpoint: &Endpoint,
        deadline: Instant,
    ) -> Result<rustls::StreamOwned<rustls::ClientConnection, Deadlined>, Failed> {
        let name =
            rustls::pki_types::ServerName::try_from(endpoint.host().to_owned()).map_err(|e| {
                Failed::Before {
                    message: format!("`{}` is not a valid TLS server name: {e}", endpoint.host()),
                    heals: false,
                }
            })?;
        let mut conn = rustls::ClientConnection::new(Arc::clone(&self.tls), name).map_err(|e| {
            Failed::Before {
                message: format!("TLS: {e}"),
                heals: false,
            }
        })?;
        let mut io = Deadlined::new(tcp, deadline);
        while conn.is_handshaking() {
            if let Err(e) = conn.complete_io(&mut io) {
                // A certificate or protocol the client refuses cannot heal;
                // a connection that broke or stalled may.
                let heals = e.kind() != io::ErrorKind::InvalidData;
                return Err(Failed::Before {
                    message: format!("TLS handshake failed: {}", describe(&e)),
                    heals,
                });
            }
        }
        Ok(rustls::StreamOwned::new(conn, io))
    }
}

/// What the request is written to and the answer read from.
trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

/// A TCP stream whose every read and write ends by the deadline.
struct Deadlined {
    tcp: TcpStream,
    deadline: Instant,
}

impl Deadlined {
    fn new(tcp: TcpStream, deadline: Instant) -> Self {
        Self { tcp, deadline }
    }

    fn left(&self) -> io::Result<Duration> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            Err(io::Error::new(io::ErrorKind::TimedOut, "timed out"))
        } else {
            Ok(left)
        }
    }
}

impl Read for Deadlined {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.left()?;
        self.tcp.set_read_timeout(Some(left))?;
        self.tcp.read(buf).map_err(timed_out)
    }
}

impl Write for Deadlined {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let left = self.left()?;
        self.tcp.set_write_timeout(Some(left))?;
        self.tcp.write(buf).map_err(timed_out)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.tcp.flush()
    }
}

/// A socket timeout (`WouldBlock` on some platforms) reads as one.
fn timed_out(e: io::Error) -> io::Error {
    if e.kind() == io::ErrorKind::WouldBlock {
        io::Error::new(io::ErrorKind::TimedOut, "timed out")
    } else {
        e
    }
}

/// The host's addresses, looked up on a thread of its own so a resolver
/// that hangs costs at most `timeout`.
fn resolve(host: &str, port: u16, timeout: Duration) -> Result<Vec<SocketAddr>, Failed> {
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let name = host.to_owned();
    let looked_up = std::thread::Builder::new()
        .name("rtb-telemetry-dns".into())
        .spawn(move || {
            let _ = tx.send(
                (name.as_str(), port)
                    .to_socket_addrs()
                    .map(Iterator::collect),
            );
        });
    let not_found = |why: String| Failed::Before {
        message: format!("cannot resolve `{host}`: {why}"),
        heals: true,
    };
    if looked_up.is_err() {
        return Err(not_found("no thread for the lookup".into()));
    }
    match rx.recv_timeout(timeout) {
        Ok(Ok(addrs)) => {
            let addrs: Vec<SocketAddr> = addrs;
            if addrs.is_empty() {
                Err(not_found("no address".into()))
            } else {
                Ok(addrs)
            }
        }
        Ok(Err(e)) => Err(not_found(e.to_string())),
        Err(_) => Err(not_found(format!(
            "no answer within {} ms",
            timeout.as_millis()
        ))),
    }
}

/// A connection to `endpoint`'s host, trying each address in turn, each
/// within what is left of `connect_timeout` (and of the deadline).
fn connect(
    endpoint: &Endpoint,
    connect_timeout: Duration,
    deadline: Instant,
) -> Result<TcpStream, Failed> {
    let connect_by = Instant::now()
        .checked_add(connect_timeout)
        .map_or(deadline, |t| t.min(deadline));
    let left = || connect_by.saturating_duration_since(Instant::now());
    let addrs = resolve(endpoint.host(), endpoint.port(), left())?;
    let mut last = None;
    for addr in addrs {
        let time = left();
        if time.is_zero() {
            break;
        }
        match TcpStream::connect_timeout(&addr, time) {
            Ok(tcp) => {
                let _ = tcp.set_nodelay(true);
                return Ok(tcp);
            }
            Err(e) => last = Some(e),
        }
    }
    Err(Failed::Before {
        message: last.map_or_else(
            || format!("connecting to {} timed out", endpoint.shown()),
            |e| format!("cannot connect: {}", describe(&e)),
        ),
        heals: true,
    })
}

/// An HTTP `CONNECT` tunnel through `proxy` to `endpoint`.
fn tunnel(
    tcp: TcpStream,
    proxy: &Proxy,
    endpoint: &Endpoint,
    deadline: Instant,
) -> Result<TcpStream, Failed> {
    let before = |message: String| Failed::Before {
        message: format!("through the proxy {}: {message}", proxy.shown()),
        heals: true,
    };
    let mut stream = Deadlined::new(tcp, deadline);
    let authority = format!(
        "{}:{}",
        endpoint.host_header().split(':').next().unwrap_or_default(),
        endpoint.port()
    );
    let authority = if endpoint.host().contains(':') {
        format!("[{}]:{}", endpoint.host(), endpoint.port())
    } else {
        authority
    };
    let mut head = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n");
    if let Some(credentials) = proxy.endpoint.credentials() {
        let _ = write!(
            head,
            "Proxy-Authorization: Basic {}\r\n",
            base64(credentials.as_bytes())
        );
    }
    head.push_str("\r\n");
    stream
        .write_all(head.as_bytes())
        .map_err(|e| before(describe(&e)))?;
    // Byte by byte, so nothing of the tunnel's data is read ahead.
    let mut response = Vec::new();
    let mut byte = [0_u8; 1];
    while !response.ends_with(b"\r\n\r\n") {
        if response.len() > MAX_HEAD {
            return Err(before("its answer is too long".into()));
        }
        match stream.read(&mut byte) {
            Ok(0) => return Err(before("it closed the connection".into())),
            Ok(_) => response.push(byte[0]),
            Err(e) => return Err(before(describe(&e))),
        }
    }
    let status = status_code(&String::from_utf8_lossy(&response));
    if status != Some(200) {
        return Err(before(format!(
            "it answered {}",
            status.map_or_else(
                || "something else than HTTP".to_owned(),
                |s| format!("HTTP {s}")
            )
        )));
    }
    Ok(stream.tcp)
}

/// The final answer's status and headers: interim `1xx` heads (`100
/// Continue`, `103 Early Hints`) are skipped, as RFC 9110 §15.2 asks, within
/// the same bound on what is read.
fn read_head(reader: &mut impl BufRead) -> Result<Response, Failed> {
    let mut budget = MAX_HEAD;
    loop {
        let (response, used) = read_one_head(reader, budget)?;
        if !(100..200).contains(&response.status) {
            return Ok(response);
        }
        budget = budget.saturating_sub(used);
    }
}

/// One status line and its headers, read within `budget` bytes; and how
/// many were read.
fn read_one_head(reader: &mut impl BufRead, budget: usize) -> Result<(Response, usize), Failed> {
    let after = |message: String| Failed::After { message };
    let mut head = Vec::new();
    loop {
        let mut line = Vec::new();
        let n = reader
            .by_ref()
            .take((budget - head.len().min(budget)) as u64 + 1)
            .read_until(b'\n', &mut line)
            .map_err(|e| after(describe(&e)))?;
        if n == 0 {
            return Err(after("the connection closed before an answer".into()));
        }
        head.extend_from_slice(&line);
        if head.len() > budget {
            return Err(after("the answer's head is too long".into()));
        }
        if line == b"\r\n" || line == b"\n" {
            break;
        }
    }
    let head = String::from_utf8_lossy(&head);
    let status = status_code(&head).ok_or_else(|| after("the answer is not HTTP".into()))?;
    let retry_after = head.lines().skip(1).find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("retry-after")
            .then(|| value.trim().to_owned())
    });
    Ok((
        Response {
            status,
            retry_after,
        },
        head.len(),
    ))
}

/// The status code of an `HTTP/1.x NNN …` status line.
fn status_code(head: &str) -> Option<u16> {
    let line = head.lines().next()?;
    let mut parts = line.split_whitespace();
    parts.next().filter(|v| v.starts_with("HTTP/"))?;
    parts
        .next()
        .and_then(|code| code.parse().ok())
        .filter(|code| (100..=599).contains(code))
}

/// An I/O error as one line.
fn describe(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::TimedOut => "timed out".to_owned(),
        _ => e.to_string(),
    }
}

/// `Basic` credentials: `user:password`, and `user:` for a user alone
/// (RFC 7617 wants the colon; `https://KEY@host` means the key as user).
fn basic(credentials: &str) -> String {
    if credentials.contains(':') {
        base64(credentials.as_bytes())
    } else {
        base64(format!("{credentials}:").as_bytes())
    }
}

/// Standard base64, for `Basic` credentials.
fn base64(bytes: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0_u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(TABLE[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_of_the_rfc_examples() {
        for (plain, coded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
            ("martin:secret", "bWFydGluOnNlY3JldA=="),
        ] {
            assert_eq!(base64(plain.as_bytes()), coded, "{plain}");
        }
    }

    #[test]
    fn status_lines() {
        assert_eq!(status_code("HTTP/1.1 200 OK\r\n"), Some(200));
        assert_eq!(status_code("HTTP/1.0 429 Too Many\r\n"), Some(429));
        assert_eq!(status_code("SSH-2.0-OpenSSH\r\n"), None);
        assert_eq!(status_code("HTTP/1.1 999 X\r\n"), None);
    }

    #[test]
    fn no_proxy_covers_hosts_and_domains() {
        assert!(no_proxy(Some("*"), "a.example"));
        assert!(no_proxy(Some("localhost, .example.com"), "x.example.com"));
        assert!(no_proxy(Some("example.com:443"), "example.com"));
        assert!(!no_proxy(Some("example.com"), "badexample.com"));
        assert!(!no_proxy(None, "example.com"));
        // IPv6 literals, bare or bracketed, with or without a port.
        assert!(no_proxy(Some("::1"), "::1"));
        assert!(no_proxy(Some("[::1]"), "::1"));
        assert!(no_proxy(Some("[::1]:4318"), "::1"));
        assert!(!no_proxy(Some("::2"), "::1"));
    }

    #[test]
    fn interim_answers_are_skipped_for_the_final_one() {
        let answer: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\n\
            Link: </x>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
        let response = read_head(&mut std::io::Cursor::new(answer)).ok().unwrap();
        assert_eq!(response.status, 200);
        // Endless interim answers end at the bound, not in a loop.
        let endless = b"HTTP/1.1 100 Continue\r\n\r\n".repeat(10_000);
        assert!(matches!(
            read_head(&mut std::io::Cursor::new(endless)),
            Err(Failed::After { .. })
        ));
    }

    #[test]
    fn a_user_alone_is_sent_with_the_colon_basic_asks_for() {
        assert_eq!(basic("KEY"), base64(b"KEY:"));
        assert_eq!(basic("martin:secret"), "bWFydGluOnNlY3JldA==");
    }

    #[test]
    fn a_proxy_that_cannot_be_used_is_an_error_never_a_way_around_it() {
        let target = Endpoint::parse("http://collector.example/v1/events").unwrap();
        let proxy =
            |vars: &[(&str, &str)]| Proxy::from_env(&Env::from_vars(vars.to_vec()), &target);
        assert!(proxy(&[]).unwrap().is_none());
        // A bare host:port is an http proxy, as curl reads it.
        let bare = proxy(&[("HTTP_PROXY", "127.0.0.1:3128")]).unwrap().unwrap();
        assert_eq!(bare.endpoint.host(), "127.0.0.1");
        assert_eq!(bare.endpoint.port(), 3128);
        for unusable in [
            "socks5h://127.0.0.1:1080",
            "https://proxy.example",
            "http://[bad",
        ] {
            let Err(err) = proxy(&[("ALL_PROXY", unusable)]) else {
                panic!("{unusable} was taken");
            };
            assert!(
                err.contains("ALL_PROXY") && err.contains("nothing is sent"),
                "{err}"
            );
        }
        let Err(with_password) = proxy(&[("HTTP_PROXY", "socks5://u:hunter2@p:1")]) else {
            panic!("a socks proxy was taken");
        };
        assert!(!with_password.contains("hunter2"), "{with_password}");
        // NO_PROXY still exempts the collector.
        let exempt = proxy(&[("HTTP_PROXY", "socks5://p:1"), ("NO_PROXY", ".example")]);
        assert!(exempt.unwrap().is_none());
    }
}
