//! The bundled client (features `http`, `native-tls`): ureq, with the
//! timeouts, proxies and trust roots telemetry needs, and its errors told
//! apart by how far the request got.

use std::time::Duration;

use ureq::tls::{RootCerts, TlsConfig, TlsProvider};

use super::client::{Answer, ClientError, HttpClient, Post};
use super::endpoint::Endpoint;
use crate::{Env, TelemetryError};

/// ureq, set up for one collector.
pub(crate) struct Bundled {
    agent: ureq::Agent,
    /// The proxy, as errors name it: its variable and URL (credentials
    /// redacted).
    proxy: Option<String>,
}

impl std::fmt::Debug for Bundled {
    // The agent holds the proxy (its credentials too): nothing of it shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bundled").finish_non_exhaustive()
    }
}

/// What the bundled client is set up with.
pub(crate) struct Setup<'a> {
    pub(crate) endpoint: &'a Endpoint,
    pub(crate) connect_timeout: Duration,
    /// Root certificates (PEM) trusted instead of the platform's.
    pub(crate) root_pems: &'a [Vec<u8>],
    /// Where the proxy variables are read.
    pub(crate) env: &'a Env,
}

impl Bundled {
    /// The client for `setup.endpoint`. Touches no network.
    pub(crate) fn new(setup: &Setup<'_>) -> Result<Self, TelemetryError> {
        let endpoint = setup.endpoint;
        let (proxy, named) = match proxy(setup.env, endpoint) {
            Ok(Some((proxy, named))) => (Some(proxy), Some(named)),
            Ok(None) => (None, None),
            Err(why) => {
                return Err(TelemetryError::config(
                    why,
                    "fix or unset the proxy variable; nothing is sent around a proxy the user set",
                ));
            }
        };
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_connect(Some(setup.connect_timeout))
            .proxy(proxy)
            .user_agent(concat!("rtb-telemetry/", env!("CARGO_PKG_VERSION")))
            .tls_config(tls(endpoint, setup.root_pems, setup.env)?)
            .build();
        Ok(Self {
            agent: config.new_agent(),
            proxy: named,
        })
    }
}

impl HttpClient for Bundled {
    fn post(&self, post: &mut Post<'_>) -> Result<Answer, ClientError> {
        let left = post.time_left();
        if left.is_zero() {
            return Err(ClientError::before_sending("no time left", true));
        }
        // ureq resolves the collector's name on a thread of its own when a
        // timeout is set, and panics when it cannot start one (a process or
        // thread limit): a thread is tried first, so that failure is an
        // error here, not a panic in the tool. (A limit reached in the
        // moment between is not covered.)
        if let Err(e) = std::thread::Builder::new()
            .name("rtb-telemetry-probe".into())
            .spawn(|| ())
            .and_then(|probe| probe.join().map_err(|_| std::io::Error::other("probe")))
        {
            return Err(ClientError::before_sending(
                format!("cannot start a thread to resolve the collector's name: {e}"),
                true,
            ));
        }
        let mut request = self
            .agent
            .post(post.url())
            .header("content-length", post.content_length().to_string());
        for (name, value) in post.headers() {
            request = request.header(name, value);
        }
        let request = request.config().timeout_global(Some(left)).build();
        match request.send(ureq::SendBody::from_reader(post.body())) {
            Ok(response) => {
                let retry_after = response
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok());
                Ok(Answer::new(response.status().as_u16()).retry_after(retry_after))
                // The answer's body is not read: dropping it closes the
                // connection, whatever it claims to hold.
            }
            Err(e) => {
                let e = classify(&e);
                Err(match &self.proxy {
                    // What failed before sending may be the proxy: say which.
                    Some(named) if !e.may_have_reached() => ClientError::before_sending(
                        format!("{} (through the proxy {named})", e.message()),
                        e.heals(),
                    ),
                    _ => e,
                })
            }
        }
    }
}

/// How far a failed request got, from what ureq says.
fn classify(e: &ureq::Error) -> ClientError {
    use std::io::ErrorKind as Io;
    use ureq::Error;
    use ureq::Timeout;
    let cut = |text: String| {
        let mut text = text;
        if let Some((at, _)) = text.char_indices().nth(200) {
            text.truncate(at);
            text.push('…');
        }
        text
    };
    match e {
        Error::Timeout(Timeout::Resolve | Timeout::Connect) => {
            ClientError::before_sending("cannot connect: timed out", true)
        }
        Error::Timeout(_) => ClientError::after_sending("timed out"),
        Error::HostNotFound => ClientError::before_sending("cannot resolve the host", true),
        Error::ConnectionFailed => ClientError::before_sending("cannot connect", true),
        Error::Io(e)
            if matches!(
                e.kind(),
                Io::ConnectionRefused
                    | Io::NetworkUnreachable
                    | Io::HostUnreachable
                    | Io::AddrNotAvailable
                    | Io::NotFound
            ) =>
        {
            ClientError::before_sending(cut(format!("cannot connect: {e}")), true)
        }
        Error::Io(e) if is_tls(e) => ClientError::before_sending(cut(format!("TLS: {e}")), false),
        Error::Io(e) => ClientError::after_sending(cut(format!("the exchange broke: {e}"))),
        #[cfg(feature = "http")]
        Error::Rustls(e) => ClientError::before_sending(cut(format!("TLS: {e}")), false),
        #[cfg(feature = "native-tls")]
        Error::NativeTls(e) => ClientError::before_sending(cut(format!("TLS: {e}")), false),
        Error::Tls(e) => ClientError::before_sending(cut(format!("TLS: {e}")), false),
        Error::ConnectProxyFailed(why) => {
            ClientError::before_sending(cut(format!("the proxy refused to connect: {why}")), false)
        }
        Error::InvalidProxyUrl => ClientError::before_sending("the proxy is not usable", false),
        Error::BadUri(_) | Error::Http(_) | Error::RequireHttpsOnly(_) | Error::TlsRequired => {
            ClientError::before_sending("the request cannot be made as configured", false)
        }
        Error::Protocol(e) => {
            ClientError::after_sending(cut(format!("the answer is not HTTP: {e}")))
        }
        Error::LargeResponseHeader(..) => {
            ClientError::after_sending("the answer's head is too large")
        }
        other => ClientError::after_sending(cut(other.to_string())),
    }
}

/// Whether an I/O error is the TLS handshake failing (a certificate nobody
/// trusts, no common protocol): not something waiting can fix.
fn is_tls(e: &std::io::Error) -> bool {
    let Some(inner) = e.get_ref() else {
        return false;
    };
    #[cfg(feature = "http")]
    if inner.downcast_ref::<rustls::Error>().is_some() {
        return true;
    }
    #[cfg(feature = "native-tls")]
    if inner.downcast_ref::<native_tls::Error>().is_some() {
        return true;
    }
    let _ = inner;
    false
}

/// Why the proxy the environment names for `target` cannot be used, if it
/// cannot.
pub(super) fn proxy_problem(env: &Env, target: &Endpoint) -> Option<String> {
    proxy(env, target).err()
}

/// The proxy for `target` from the environment, as curl reads it:
/// `https_proxy` or `http_proxy` by the target's scheme, then `all_proxy`,
/// each lower case first, then upper case — except `HTTP_PROXY`, which
/// curl never reads in upper case (a CGI program's `HTTP_PROXY` comes from
/// a request's `Proxy:` header: "httpoxy"); `no_proxy` exempts hosts and
/// their subdomains (`*` all; no CIDR ranges).
/// `http://`, `https://`, `socks4://`, `socks5://` (and `socks5h://`)
/// proxies, with credentials in the URL; a bare `host:port` is `http://`.
/// One that cannot be used is an error: nothing is sent around a proxy the
/// user set, which would give away their address.
fn proxy(env: &Env, target: &Endpoint) -> Result<Option<(ureq::Proxy, String)>, String> {
    let get = |name: &str| {
        let lower = name.to_ascii_lowercase();
        env.text(&lower).map(|v| (lower, v)).or_else(|| {
            (name != "HTTP_PROXY")
                .then(|| env.text(name))
                .flatten()
                .map(|v| (name.to_owned(), v))
        })
    };
    let by_scheme = if target.is_https() {
        "HTTPS_PROXY"
    } else {
        "HTTP_PROXY"
    };
    let Some((name, url)) = get(by_scheme).or_else(|| get("ALL_PROXY")) else {
        return Ok(None);
    };
    let unusable = || {
        format!(
            "the proxy {name} ({}) cannot be used; nothing is sent rather than going around it",
            crate::redact::redact_url(&url)
        )
    };
    // Checked as a URL first (the field's parser): a host, a port in
    // range; then read by ureq.
    let full = if url.contains("://") {
        url.clone()
    } else {
        format!("http://{url}")
    };
    let checked = full
        .parse::<http::Uri>()
        .ok()
        .and_then(|uri| uri.authority().cloned())
        .is_some_and(|authority| {
            !authority.host().is_empty() && super::endpoint::port_in_range(&authority)
        });
    if !checked {
        return Err(unusable());
    }
    let given = ureq::Proxy::new(&url).map_err(|_| unusable())?;
    let mut builder = ureq::Proxy::builder(given.protocol())
        .host(given.host())
        .port(given.port());
    if let Some(user) = given.username() {
        builder = builder.username(user);
    }
    if let Some(password) = given.password() {
        builder = builder.password(password);
    }
    // A host in NO_PROXY covers its subdomains too (curl's reading); a
    // port in an entry is not part of the match.
    if let Some((_, list)) = get("NO_PROXY") {
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let host = without_port(entry).trim_start_matches(['.', '*']);
            if entry == "*" {
                builder = builder.no_proxy("*");
            } else if !host.is_empty() {
                builder = builder.no_proxy(host).no_proxy(&format!(".{host}"));
                // A bare IPv6 address matches the bracketed host of a URL.
                if host.parse::<std::net::Ipv6Addr>().is_ok() {
                    builder = builder.no_proxy(&format!("[{host}]"));
                }
            }
        }
    }
    let proxy = builder.build().map_err(|_| unusable())?;
    let named = format!("{name} ({})", crate::redact::redact_url(&url));
    Ok((!proxy.is_no_proxy(target.uri())).then_some((proxy, named)))
}

/// A `NO_PROXY` entry without its port: `host:80` → `host`, `[::1]:80`
/// → `[::1]`; a bare IPv6 address stays whole.
fn without_port(entry: &str) -> &str {
    if entry.starts_with('[') {
        return entry
            .split_once("]:")
            .map_or(entry, |(host, _)| &entry[..=host.len()]);
    }
    match entry.split_once(':') {
        Some((host, port)) if !port.contains(':') => host,
        _ => entry,
    }
}

/// The trust roots: the collector's CA when one was given (instead of any
/// other); else, with rustls, the roots the platform trusts (its store,
/// `SSL_CERT_FILE`, `SSL_CERT_DIR`), Mozilla's bundled roots when it has
/// none; with native TLS, what the system's TLS trusts.
fn tls(endpoint: &Endpoint, root_pems: &[Vec<u8>], env: &Env) -> Result<TlsConfig, TelemetryError> {
    let shown = endpoint.shown();
    let bad_pem = |why: &dyn std::fmt::Display| {
        TelemetryError::config(
            format!("a root certificate for `{shown}` is not valid PEM: {why}"),
            "pass the collector's CA certificate in PEM form (-----BEGIN CERTIFICATE-----)",
        )
    };
    let mut given = Vec::new();
    for pem in root_pems {
        for item in ureq::tls::parse_pem(pem) {
            match item {
                Ok(ureq::tls::PemItem::Certificate(cert)) => given.push(cert),
                Ok(_) => {}
                Err(e) => return Err(bad_pem(&e)),
            }
        }
    }
    if !root_pems.is_empty() && given.is_empty() {
        return Err(TelemetryError::config(
            format!("no certificate found in the root certificates given for `{shown}`"),
            "pass the collector's CA certificate in PEM form (-----BEGIN CERTIFICATE-----)",
        ));
    }
    let roots = if given.is_empty() {
        platform_roots(endpoint, env)
    } else {
        RootCerts::new_with_certs(&given)
    };
    Ok(TlsConfig::builder()
        .provider(PROVIDER)
        .root_certs(roots)
        .build())
}

#[cfg(feature = "http")]
const PROVIDER: TlsProvider = TlsProvider::Rustls;
#[cfg(not(feature = "http"))]
const PROVIDER: TlsProvider = TlsProvider::NativeTls;

/// The platform's roots for rustls, as `rustls-native-certs` finds them
/// (the system's store), or the files `SSL_CERT_FILE` and `SSL_CERT_DIR`
/// name in the tool's environment, as OpenSSL reads them; Mozilla's when
/// there are none. Read only for an `https://` collector.
#[cfg(feature = "http")]
fn platform_roots(endpoint: &Endpoint, env: &Env) -> RootCerts {
    if !endpoint.is_https() {
        return RootCerts::WebPki;
    }
    let file = env.text("SSL_CERT_FILE").map(std::path::PathBuf::from);
    let dirs: Vec<std::path::PathBuf> = env
        .var("SSL_CERT_DIR")
        .map(|dirs| std::env::split_paths(&dirs).collect())
        .unwrap_or_default();
    let found = if file.is_some() || !dirs.is_empty() {
        // What a variable names is read only if it can be read without
        // blocking (a FIFO or device there would hold the uploader).
        let file = file.filter(|f| std::fs::metadata(f).is_ok_and(|m| m.is_file()));
        let mut found = rustls_native_certs::load_certs_from_paths(file.as_deref(), None).certs;
        for dir in dirs.iter().filter(|dir| only_regular_files(dir)) {
            found.extend(rustls_native_certs::load_certs_from_paths(None, Some(dir)).certs);
        }
        found
    } else {
        rustls_native_certs::load_native_certs().certs
    };
    let certs: Vec<ureq::tls::Certificate<'static>> = found
        .iter()
        .map(|der| ureq::tls::Certificate::from_der(der.as_ref()).to_owned())
        .collect();
    if certs.is_empty() {
        RootCerts::WebPki
    } else {
        RootCerts::new_with_certs(&certs)
    }
}

/// Whether `dir` holds regular files only (links to them included), and
/// at most 4096 entries.
#[cfg(feature = "http")]
fn only_regular_files(dir: &std::path::Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        let entries: Vec<_> = entries.take(4097).collect();
        entries.len() <= 4096
            && entries.iter().all(|e| {
                e.as_ref()
                    .is_ok_and(|e| std::fs::metadata(e.path()).is_ok_and(|m| m.is_file()))
            })
    })
}

/// With native TLS, what the system's TLS trusts.
#[cfg(not(feature = "http"))]
fn platform_roots(_endpoint: &Endpoint, _env: &Env) -> RootCerts {
    RootCerts::PlatformVerifier
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(url: &str) -> Endpoint {
        Endpoint::parse(url).unwrap()
    }

    #[test]
    fn no_proxy_covers_hosts_their_subdomains_and_ignores_ports() {
        let env = |no: &str| {
            Env::from_vars([
                ("HTTPS_PROXY", "http://proxy.example:3128"),
                ("NO_PROXY", no),
            ])
        };
        let t = target("https://collector.example.com/v1");
        assert!(proxy(&env(""), &t).unwrap().is_some());
        for exempt in [
            "collector.example.com",
            "example.com",
            ".example.com",
            "*",
            "example.com:443",
            "a.b,example.com",
        ] {
            assert!(proxy(&env(exempt), &t).unwrap().is_none(), "{exempt}");
        }
        for not in ["other.com", "ample.com", "collector.example.co"] {
            assert!(proxy(&env(not), &t).unwrap().is_some(), "{not}");
        }
        // IPv6, bare or bracketed, with or without a port.
        let v6 = target("https://[::1]:4318/v1");
        for exempt in ["::1", "[::1]", "[::1]:4318"] {
            assert!(proxy(&env(exempt), &v6).unwrap().is_none(), "{exempt}");
        }
    }

    #[test]
    fn the_proxy_follows_the_scheme_then_all_proxy() {
        let env = Env::from_vars([("http_proxy", "http://h:1"), ("ALL_PROXY", "socks5://s:2")]);
        let (http, named) = proxy(&env, &target("http://c/")).unwrap().unwrap();
        assert_eq!(http.port(), 1);
        assert!(named.starts_with("http_proxy"), "{named}");
        // Upper-case HTTP_PROXY is never read (httpoxy), as curl does.
        let upper = Env::from_vars([("HTTP_PROXY", "http://h:1")]);
        assert!(proxy(&upper, &target("http://c/")).unwrap().is_none());
        // Lower case first.
        let both = Env::from_vars([("HTTPS_PROXY", "http://h:1"), ("https_proxy", "http://h:3")]);
        assert_eq!(
            proxy(&both, &target("https://c/"))
                .unwrap()
                .unwrap()
                .0
                .port(),
            3
        );
        let (https, _) = proxy(&env, &target("https://c/")).unwrap().unwrap();
        assert_eq!(https.port(), 2);
        let with_user = Env::from_vars([("HTTPS_PROXY", "http://user:pw@proxy.example")]);
        assert!(proxy(&with_user, &target("https://c/")).unwrap().is_some());
        let bare = Env::from_vars([("https_proxy", "proxy.example:8080")]);
        assert_eq!(
            proxy(&bare, &target("https://c/"))
                .unwrap()
                .unwrap()
                .0
                .port(),
            8080
        );
    }

    #[test]
    fn a_proxy_that_cannot_be_used_is_an_error_never_a_way_around_it() {
        for bad in ["ftp://x:1", "http://[::1", "http://user:pw@:99999"] {
            let env = Env::from_vars([("HTTPS_PROXY", bad)]);
            let err = proxy(&env, &target("https://c/")).unwrap_err();
            assert!(err.contains("nothing is sent"), "{bad}: {err}");
            assert!(!err.contains("pw"), "{err}");
        }
    }

    #[test]
    fn ports_come_off_no_proxy_entries() {
        assert_eq!(without_port("host:80"), "host");
        assert_eq!(without_port("[::1]:80"), "[::1]");
        assert_eq!(without_port("[::1]"), "[::1]");
        assert_eq!(without_port("::1"), "::1");
    }
}
