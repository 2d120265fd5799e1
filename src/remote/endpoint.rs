//! Collector endpoints: validated once, when a sink is built, and shown
//! without credentials everywhere after.

use std::fmt;

use crate::TelemetryError;
use crate::redact::redact_url;

/// A validated `http://` or `https://` URL, its parts, and its printable
/// form.
#[derive(Clone)]
pub(crate) struct Endpoint {
    /// What is sent to: scheme lower-cased, otherwise as given.
    url: String,
    /// The same without user info or query values.
    shown: String,
    https: bool,
    /// The host as a name or address (an IPv6 address without brackets).
    host: String,
    port: u16,
    /// `user:password` as written (percent-encoded), if any.
    userinfo: Option<String>,
    /// The path and query, as sent on the request line (`/` at least).
    target: String,
}

impl Endpoint {
    /// Checks `raw`: scheme `http` or `https` in any case, a host, a port
    /// in 1..=65535 if given, no whitespace or control characters.
    pub(crate) fn parse(raw: &str) -> Result<Self, TelemetryError> {
        let raw = raw.trim();
        let shown = redact_url(raw);
        let reject = |why: &str| {
            TelemetryError::config(
                format!("the telemetry endpoint `{shown}` is not usable: {why}"),
                "give the collector's full URL, e.g. https://collector.example.com:4318/v1/logs",
            )
        };
        if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(reject("it contains spaces or control characters"));
        }
        let Some((scheme, rest)) = raw.split_once("://") else {
            return Err(reject(
                "it has no http:// or https:// scheme (a bare host:port is a gRPC \
                 setting; this crate speaks OTLP/HTTP)",
            ));
        };
        let https = if scheme.eq_ignore_ascii_case("https") {
            true
        } else if scheme.eq_ignore_ascii_case("http") {
            false
        } else {
            return Err(reject("the scheme must be http:// or https://"));
        };
        // The authority ends at the first `/`, `?` or `#`.
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        let tail = tail.split_once('#').map_or(tail, |(before, _)| before);
        let (userinfo, host_port) = match authority.rsplit_once('@') {
            Some((info, host)) => (Some(info.to_owned()), host),
            None => (None, authority),
        };
        let (host, port) = split_host_port(host_port).map_err(&reject)?;
        if host.is_empty() {
            return Err(reject("it has no host"));
        }
        let port = match port {
            None => {
                if https {
                    443
                } else {
                    80
                }
            }
            Some(port) => match port.parse::<u16>() {
                Ok(port @ 1..=65535) => port,
                _ => return Err(reject("the port must be a number from 1 to 65535")),
            },
        };
        let valid_host = if host.contains(':') {
            host.parse::<std::net::Ipv6Addr>().is_ok()
        } else {
            host.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '%' | '~'))
        };
        if !valid_host {
            return Err(reject("the host is not a name or an address"));
        }
        let target = if tail.starts_with('/') {
            tail.to_owned()
        } else {
            format!("/{tail}")
        };
        let scheme = if https { "https" } else { "http" };
        // A fragment is never sent; kept, it would swallow a path joined
        // after it (OTLP's `/v1/logs`).
        let rest = rest.split_once('#').map_or(rest, |(before, _)| before);
        let url = format!("{scheme}://{rest}");
        Ok(Self {
            shown: redact_url(&url),
            url,
            https,
            host: host.to_owned(),
            port,
            userinfo,
            target,
        })
    }

    /// The host (an IPv6 address without brackets).
    pub(crate) fn host(&self) -> &str {
        &self.host
    }

    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// `user:password` from the URL, percent-decoded, if any.
    pub(crate) fn credentials(&self) -> Option<String> {
        self.userinfo.as_deref().map(percent_decode)
    }

    /// The request target: the path and query.
    pub(crate) fn target(&self) -> &str {
        &self.target
    }

    /// The `Host` header's value.
    pub(crate) fn host_header(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        let default = if self.https { 443 } else { 80 };
        if self.port == default {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }

    /// The URL requests go to.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// The URL without credentials: for `Debug`, errors and `status`.
    pub(crate) fn shown(&self) -> &str {
        &self.shown
    }

    pub(crate) fn is_https(&self) -> bool {
        self.https
    }

    /// The same endpoint with `suffix` appended to its path (before any
    /// query), with exactly one slash between.
    pub(crate) fn join(&self, suffix: &str) -> Result<Self, TelemetryError> {
        let (base, query) = match self.url.split_once('?') {
            Some((base, query)) => (base, Some(query)),
            None => (self.url.as_str(), None),
        };
        let mut url = format!(
            "{}/{}",
            base.trim_end_matches('/'),
            suffix.trim_start_matches('/')
        );
        if let Some(query) = query {
            url.push('?');
            url.push_str(query);
        }
        Self::parse(&url)
    }
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.shown, f)
    }
}

// The client writes these itself: a second one would change how the
// request is framed or where it goes, and a strict server refuses it
// (a refusal the events would be blamed for).
const FRAMING: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "content-type",
    "idempotency-key",
    "te",
    "trailer",
    "upgrade",
    "keep-alive",
    "proxy-authorization",
    "proxy-connection",
];

/// Checks one header as HTTP/1.1 defines it (RFC 9110: a name is a
/// `token`, a value visible ASCII, spaces and tabs, or bytes from 0x80 on),
/// so a bad header is a configuration error now rather than a failed
/// delivery (or a smuggled line) later. The value never appears in the
/// error.
pub(crate) fn check_header(name: &str, value: &str) -> Result<(), TelemetryError> {
    let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if name.is_empty() || !name.bytes().all(token) {
        return Err(TelemetryError::config(
            format!("`{name}` is not a valid HTTP header name"),
            "header names are letters, digits and `-`, e.g. `x-api-key`",
        ));
    }
    if FRAMING.iter().any(|f| name.eq_ignore_ascii_case(f)) {
        return Err(TelemetryError::config(
            format!("the header `{name}` is set by the client itself and cannot be given"),
            "drop it from the configured headers; keep only your own (e.g. authorization, x-api-key)",
        ));
    }
    let field = |b: u8| b == b'\t' || (b' '..=b'~').contains(&b) || b >= 0x80;
    if !value.bytes().all(field) {
        return Err(TelemetryError::config(
            format!("the value of header `{name}` is not a valid HTTP header value"),
            "header values are visible ASCII; remove line breaks and control characters",
        ));
    }
    Ok(())
}

/// `true` when credentials would cross the network in clear text: user
/// info in the URL, or an auth-looking header, over plain `http://`.
pub(crate) fn credentials_in_clear<'a>(
    endpoint: &Endpoint,
    mut header_names: impl Iterator<Item = &'a str>,
) -> bool {
    !endpoint.is_https() && (endpoint.url().contains('@') || header_names.any(is_auth_header))
}

/// Header names whose values are credentials.
pub(crate) fn is_auth_header(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    [
        "authorization",
        "api-key",
        "apikey",
        "token",
        "secret",
        "key",
        "cookie",
    ]
    .iter()
    .any(|word| name.contains(word))
}

/// `host[:port]`, or `[v6]:port`: the host and the port as text.
fn split_host_port(authority: &str) -> Result<(&str, Option<&str>), &'static str> {
    if let Some(rest) = authority.strip_prefix('[') {
        let Some((host, after)) = rest.split_once(']') else {
            return Err("an IPv6 address is not closed with `]`");
        };
        return match after {
            "" => Ok((host, None)),
            port => port
                .strip_prefix(':')
                .map(|p| (host, Some(p)))
                .ok_or("only a port may follow an IPv6 address"),
        };
    }
    Ok(match authority.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    })
}

/// `%XX` sequences decoded (user info as written in a URL).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(Some(hi)), Some(Some(lo))) = (
                bytes.get(i + 1).map(|&b| hex(b)),
                bytes.get(i + 2).map(|&b| hex(b)),
            )
        {
            out.push(u8::try_from(hi * 16 + lo).unwrap_or(b'?'));
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_http_and_https_in_any_case() {
        for ok in [
            "http://127.0.0.1:4318/v1/logs",
            "HTTP://collector.example.com",
            "HtTpS://collector.example.com:443/x?y=1",
            "http://[::1]:4318/",
            "https://user:pw@host.example/path",
        ] {
            let endpoint = Endpoint::parse(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
            assert!(endpoint.url().starts_with("http"), "{ok}");
        }
        assert_eq!(
            Endpoint::parse("HTTP://a.example/x").unwrap().url(),
            "http://a.example/x"
        );
    }

    #[test]
    fn rejects_what_cannot_work() {
        for bad in [
            "http://[::1",
            "http://",
            "http://a b/",
            "http://host:99999/",
            "http://host:0/",
            "http://host:port/",
            "ftp://x",
            "collector.example.com",
            "localhost:4317",
            "",
            "http://host/\u{7}",
        ] {
            let err = Endpoint::parse(bad)
                .err()
                .unwrap_or_else(|| panic!("{bad:?} accepted"));
            assert_eq!(err.kind(), crate::ErrorKind::Config, "{bad}");
        }
    }

    #[test]
    fn a_fragment_is_dropped_so_a_joined_path_survives() {
        let base = Endpoint::parse("http://h:4318/base#frag").unwrap();
        assert_eq!(
            base.join("v1/logs").unwrap().url(),
            "http://h:4318/base/v1/logs"
        );
        let no_path = Endpoint::parse("http://h:4318#x").unwrap();
        assert_eq!(no_path.join("/v1/logs").unwrap().target(), "/v1/logs");
    }

    #[test]
    fn headers_the_client_writes_itself_cannot_be_given() {
        for name in [
            "Content-Length",
            "transfer-encoding",
            "HOST",
            "Connection",
            "Idempotency-Key",
        ] {
            let err = check_header(name, "x").unwrap_err();
            assert!(
                err.to_string().contains("set by the client itself"),
                "{err}"
            );
        }
        check_header("x-api-key", "k").unwrap();
        check_header("Authorization", "Bearer k").unwrap();
    }

    #[test]
    fn credentials_are_never_shown() {
        let endpoint =
            Endpoint::parse("https://user:pw@host.example/v1?api_key=s3cret&team=t").unwrap();
        let shown = format!("{} {:?}", endpoint.shown(), endpoint);
        for secret in ["user", "pw", "s3cret"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(shown.contains("host.example/v1?api_key=[redacted]&team=[redacted]"));
        let err = Endpoint::parse("https://user:pw@host:99999/?k=s3cret").unwrap_err();
        assert!(!err.to_string().contains("pw"), "{err}");
        assert!(!err.to_string().contains("s3cret"), "{err}");
    }

    #[test]
    fn malformed_urls_hide_their_credentials_too() {
        for (raw, secret) in [
            ("http://user:SECRET/PW@host/x", "SECRET"),
            ("http://user:SEC?RET@host/x", "SEC"),
            ("http://user:SEC#RET@host/x", "SEC"),
            ("http//user:SECRETPW@host/x", "SECRETPW"),
            ("https://user:pw@host:99999/?key=k3y", "k3y"),
        ] {
            let shown = redact_url(raw);
            assert!(!shown.contains(secret), "{raw} -> {shown}");
            let err = Endpoint::parse(raw).err();
            if let Some(err) = err {
                assert!(!err.to_string().contains(secret), "{err}");
            }
        }
        let shown = redact_url("http://host/\n\x1b[31mred");
        assert!(
            !shown.contains('\n') && !shown.contains('\x1b'),
            "{shown:?}"
        );
    }

    #[test]
    fn join_appends_before_the_query() {
        let e = Endpoint::parse("http://h:4318/base/?k=v").unwrap();
        assert_eq!(
            e.join("v1/logs").unwrap().url(),
            "http://h:4318/base/v1/logs?k=v"
        );
    }
}
