//! Collector endpoints: parsed as the HTTP client parses them
//! ([`http::Uri`]), checked once, when a sink is built, and shown without
//! credentials everywhere after.

use std::fmt;

use http::Uri;

use crate::TelemetryError;
use crate::redact::redact_url;

/// A checked `http://` or `https://` URL, and its printable form. User
/// info in it is taken out of the URL requests go to, and sent as a
/// `Basic` `Authorization` header instead (as `curl` does).
#[derive(Clone)]
pub(crate) struct Endpoint {
    /// What requests go to: without user info.
    uri: Uri,
    url: String,
    /// The URL as given, without user info or query values.
    shown: String,
    /// `user:password` from the URL, percent-decoded.
    credentials: Option<String>,
}

impl Endpoint {
    /// Parses `raw`: scheme `http` or `https` in any case, a host, a port
    /// in 1..=65535 if given, nothing [`http::Uri`] refuses (spaces,
    /// control characters). A `#fragment` is dropped: it is never sent,
    /// and kept it would swallow a path joined after it (OTLP's
    /// `/v1/logs`).
    pub(crate) fn parse(raw: &str) -> Result<Self, TelemetryError> {
        let raw = raw.trim();
        let shown = redact_url(raw);
        let reject = |why: &dyn fmt::Display| {
            TelemetryError::config(
                format!("the telemetry endpoint `{shown}` is not usable: {why}"),
                "give the collector's full URL, e.g. https://collector.example.com:4318/v1/logs",
            )
        };
        let raw = raw.split_once('#').map_or(raw, |(before, _)| before);
        let Some((scheme, rest)) = raw.split_once("://") else {
            return Err(reject(
                &"it has no http:// or https:// scheme (a bare host:port is a gRPC setting; \
                  this crate speaks OTLP/HTTP)",
            ));
        };
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "http" && scheme != "https" {
            return Err(reject(&"the scheme must be http:// or https://"));
        }
        // User info is split off before parsing: what is sent carries none,
        // and it never reaches an error message.
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        let (userinfo, host) = match authority.rsplit_once('@') {
            Some((info, host)) => (Some(info), host),
            None => (None, authority),
        };
        let uri: Uri = format!("{scheme}://{host}{tail}")
            .parse()
            .map_err(|e: http::uri::InvalidUri| reject(&e))?;
        let authority = uri
            .authority()
            .filter(|a| !a.host().is_empty())
            .ok_or_else(|| reject(&"it has no host"))?;
        if !port_in_range(authority) {
            return Err(reject(&"the port must be a number from 1 to 65535"));
        }
        let credentials = userinfo.map(|info| {
            percent_encoding::percent_decode_str(info)
                .decode_utf8_lossy()
                .into_owned()
        });
        let url = uri.to_string();
        let shown = match userinfo {
            Some(_) => redact_url(&format!("{scheme}://user@{host}{tail}")),
            None => redact_url(&url),
        };
        Ok(Self {
            uri,
            url,
            shown,
            credentials,
        })
    }

    /// The URL requests go to (no user info).
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// The URL without credentials: for `Debug`, errors and `status`.
    pub(crate) fn shown(&self) -> &str {
        &self.shown
    }

    pub(crate) fn is_https(&self) -> bool {
        self.uri.scheme_str() == Some("https")
    }

    /// The parsed URL, for the HTTP client.
    #[cfg_attr(
        not(any(feature = "http", feature = "native-tls")),
        expect(dead_code, reason = "only the bundled client asks")
    )]
    pub(crate) fn uri(&self) -> &Uri {
        &self.uri
    }

    /// `user:password` from the URL, percent-decoded, if any.
    pub(crate) fn credentials(&self) -> Option<&str> {
        self.credentials.as_deref()
    }

    /// The same endpoint with `suffix` appended to its path (before any
    /// query), with exactly one slash between.
    pub(crate) fn join(&self, suffix: &str) -> Result<Self, TelemetryError> {
        let path = format!(
            "{}/{}",
            self.uri.path().trim_end_matches('/'),
            suffix.trim_start_matches('/')
        );
        let path_and_query = match self.uri.query() {
            Some(query) => format!("{path}?{query}"),
            None => path,
        };
        let mut parts = self.uri.clone().into_parts();
        parts.path_and_query =
            Some(path_and_query.parse().map_err(|e: http::uri::InvalidUri| {
                TelemetryError::config(
                    format!("`{suffix}` cannot be joined to `{}`: {e}", self.shown),
                    "give the collector's base URL",
                )
            })?);
        let uri = Uri::from_parts(parts).map_err(|e| {
            TelemetryError::config(
                format!("`{suffix}` cannot be joined to `{}`: {e}", self.shown),
                "give the collector's base URL",
            )
        })?;
        let url = uri.to_string();
        let shown = match self.credentials {
            Some(_) => redact_url(&url.replacen("://", "://user@", 1)),
            None => redact_url(&url),
        };
        Ok(Self {
            uri,
            url,
            shown,
            credentials: self.credentials.clone(),
        })
    }
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.shown, f)
    }
}

/// Whether the authority's port, if it has one, is 1..=65535 (`http`
/// reads a port out of range as no port at all: the default one, which is
/// not what was asked).
pub(crate) fn port_in_range(authority: &http::uri::Authority) -> bool {
    let text = authority.as_str();
    let text = text.rsplit_once('@').map_or(text, |(_, host)| host);
    let after_host = text.rfind(']').map_or(text, |end| &text[end..]);
    match after_host.rsplit_once(':') {
        None => true,
        Some((_, port)) => port.parse::<u16>().is_ok_and(|p| p > 0),
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

/// Checks one header as the HTTP client will ([`http::HeaderName`],
/// [`http::HeaderValue`]), so a bad header is a configuration error now
/// rather than a failed delivery later, and refuses the headers the client
/// writes itself. The value never appears in the error.
pub(crate) fn check_header(name: &str, value: &str) -> Result<(), TelemetryError> {
    if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
        // Shown only up to the first character a name cannot hold: what
        // follows may be a secret (`Authorization: Basic …` written where
        // `Authorization=Basic …` was meant).
        let valid = name
            .find(|c: char| !(c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)))
            .unwrap_or(name.len());
        return Err(TelemetryError::config(
            format!(
                "a header name starting `{}` is not a valid HTTP header name (the rest is \
                 not shown: it may hold a secret)",
                crate::text::printable(&name[..valid])
            ),
            "header names are letters, digits and `-`, e.g. `x-api-key`; in \
             OTEL_EXPORTER_OTLP_HEADERS write `name=value` pairs (a `:` in a name usually \
             means `name: value` was written)",
        ));
    }
    if FRAMING.iter().any(|f| name.eq_ignore_ascii_case(f)) {
        return Err(TelemetryError::config(
            format!("the header `{name}` is set by the client itself and cannot be given"),
            "drop it from the configured headers; keep only your own (e.g. authorization, x-api-key)",
        ));
    }
    if http::HeaderValue::from_str(value).is_err() {
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
    !endpoint.is_https() && (endpoint.credentials().is_some() || header_names.any(is_auth_header))
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
    fn user_info_goes_as_credentials_not_in_the_url() {
        let e = Endpoint::parse("https://ada:p%40ss@host.example/v1").unwrap();
        assert_eq!(e.url(), "https://host.example/v1");
        assert_eq!(e.credentials(), Some("ada:p@ss"));
        assert_eq!(e.shown(), "https://[redacted]@host.example/v1");
        let joined = e.join("v1/logs").unwrap();
        assert_eq!(joined.credentials(), Some("ada:p@ss"));
        assert!(!joined.shown().contains("ada"), "{}", joined.shown());
    }

    #[test]
    fn a_fragment_is_dropped_so_a_joined_path_survives() {
        let base = Endpoint::parse("http://h:4318/base#frag").unwrap();
        assert_eq!(
            base.join("v1/logs").unwrap().url(),
            "http://h:4318/base/v1/logs"
        );
        let no_path = Endpoint::parse("http://h:4318#x").unwrap();
        assert_eq!(
            no_path.join("/v1/logs").unwrap().url(),
            "http://h:4318/v1/logs"
        );
    }

    #[test]
    fn a_bad_header_name_never_shows_what_follows_it() {
        let err = check_header("Authorization: Basic dXNlcjpTRUNSRVQ", "x").unwrap_err();
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains("dXNlcjpTRUNSRVQ"), "{shown}");
        assert!(!shown.contains("Basic"), "{shown}");
        assert!(shown.contains("`Authorization`"), "{shown}");
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
        assert!(check_header("x-bad", "a\r\nInjected: 1").is_err());
        assert!(check_header("bad name", "x").is_err());
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
