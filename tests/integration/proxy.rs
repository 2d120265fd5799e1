//! Uploads through a real HTTP proxy (tinyproxy, from Debian's packages):
//! `http://` forwarded, `https://` tunnelled by `CONNECT`, and `NO_PROXY`
//! going around it. Needs `tinyproxy`, so `#[ignore]`d; CI installs it
//! and runs these with `--ignored`.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rtb_telemetry::{Env, Telemetry};

use crate::local_first::{Tool, received};
use crate::loopback::Server;

/// A tinyproxy on 127.0.0.1, in the foreground, logging each request.
struct Tinyproxy {
    child: Child,
    url: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Tinyproxy {
    /// `extra`: configuration lines added to the test's own.
    fn start(extra: &str) -> Self {
        crate::support::require_tool("tinyproxy", "a real HTTP proxy");
        let dir = tempfile::tempdir().unwrap();
        // A port free a moment ago (tinyproxy takes no port 0).
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = dir.path().join("log");
        let conf = dir.path().join("tinyproxy.conf");
        // No `ConnectPort` line: CONNECT to any port (the collector's).
        std::fs::write(
            &conf,
            format!(
                "Port {port}\nListen 127.0.0.1\nTimeout 30\nMaxClients 20\n\
                 Allow 127.0.0.1\nLogLevel Info\nLogFile \"{}\"\n{extra}",
                log.display()
            ),
        )
        .unwrap();
        let child = Command::new("tinyproxy")
            .arg("-d")
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("tinyproxy starts");
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "tinyproxy did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
            log,
            _dir: dir,
        }
    }

    /// What tinyproxy logged: each request it carried is a line.
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Tinyproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn telemetry(tool: &Tool, vars: &[(&str, &str)]) -> Telemetry {
    Telemetry::builder("mytool", "1.2.3")
        .salt("mytool-tests")
        .env(Env::from_vars(vars.iter().copied()))
        .paths(tool.consent(), tool.data())
        .detached_upload(false)
        .init()
}

/// `http://`: through the proxy too (ureq tunnels every request with
/// `CONNECT`, as it does for `https://`: docs/reliability.md); with the
/// proxy gone, nothing goes around it. A proxy that allows `CONNECT` only
/// to port 443 refuses, and the error names it.
#[test]
#[ignore = "needs tinyproxy (CI installs it and runs --ignored)"]
fn an_upload_goes_through_a_real_http_proxy() {
    let proxy = Tinyproxy::start("");
    let tool = Tool::enabled();
    let server = Server::start(vec![]);
    let endpoint = format!("{}/v1/events", server.url);
    let vars = [
        ("MYTOOL_TELEMETRY_ENDPOINT", endpoint.as_str()),
        ("http_proxy", proxy.url.as_str()),
    ];
    let telemetry = telemetry(&tool, &vars);
    telemetry.record("through");
    assert_eq!(telemetry.upload_now().unwrap().delivered, 1);
    assert_eq!(server.requests().len(), 1);
    assert_eq!(received(&server)[0].1.event.name, "through");
    let authority = server.url.trim_start_matches("http://");
    let log = proxy.log();
    assert!(
        log.contains(&format!("CONNECT {authority}")),
        "not through the proxy:\n{log}"
    );

    // The proxy goes away: the upload fails, the event waits, and the
    // collector hears nothing from around it.
    drop(proxy);
    telemetry.record("kept");
    assert!(telemetry.upload_now().is_err());
    assert_eq!(server.requests().len(), 1, "sent around the proxy");
    assert_eq!(tool.spooled().len(), 1);

    // Debian's own configuration: CONNECT to 443 and 563 only.
    let strict = Tinyproxy::start("ConnectPort 443\nConnectPort 563\n");
    let vars = [
        ("MYTOOL_TELEMETRY_ENDPOINT", endpoint.as_str()),
        ("http_proxy", strict.url.as_str()),
    ];
    let telemetry = self::telemetry(&tool, &vars);
    let err = telemetry.upload_now().unwrap_err().to_string();
    assert!(err.contains("http_proxy"), "{err}");
    assert_eq!(server.requests().len(), 1, "sent around the proxy");
    assert_eq!(tool.spooled().len(), 1, "the event waits");
}

/// `https://`: a `CONNECT` tunnel through tinyproxy to a TLS collector
/// with a private CA (trusted through `SSL_CERT_FILE`); the proxy sees the
/// tunnel, never the request.
#[test]
#[ignore = "needs tinyproxy (CI installs it and runs --ignored)"]
fn an_upload_tunnels_through_a_real_proxy_with_connect() {
    let proxy = Tinyproxy::start("");
    let tool = Tool::enabled();
    let server = Server::start_tls(vec![]);
    let endpoint = format!("{}/v1/events", server.url);
    let ca = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tls/ca.pem");
    let vars = [
        ("MYTOOL_TELEMETRY_ENDPOINT", endpoint.as_str()),
        ("HTTPS_PROXY", proxy.url.as_str()),
        ("SSL_CERT_FILE", ca),
    ];
    let telemetry = telemetry(&tool, &vars);
    telemetry.record("tunnelled");
    assert_eq!(telemetry.upload_now().unwrap().delivered, 1);
    let authority = server.url.trim_start_matches("https://");
    let log = proxy.log();
    assert!(
        log.contains(&format!("CONNECT {authority}")),
        "no CONNECT to {authority} in the proxy's log:\n{log}"
    );
    assert!(
        !log.contains("/v1/events"),
        "the proxy saw the request:\n{log}"
    );
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(received(&server)[0].1.event.name, "tunnelled");
}

/// `NO_PROXY` names the collector: the request goes straight to it, and
/// the proxy carries nothing.
#[test]
#[ignore = "needs tinyproxy (CI installs it and runs --ignored)"]
fn no_proxy_goes_around_a_real_proxy() {
    let proxy = Tinyproxy::start("");
    let tool = Tool::enabled();
    let server = Server::start(vec![]);
    let endpoint = format!("{}/v1/events", server.url);
    let vars = [
        ("MYTOOL_TELEMETRY_ENDPOINT", endpoint.as_str()),
        ("http_proxy", proxy.url.as_str()),
        ("NO_PROXY", "example.com, 127.0.0.1"),
    ];
    let telemetry = telemetry(&tool, &vars);
    telemetry.record("around");
    assert_eq!(telemetry.upload_now().unwrap().delivered, 1);
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let log = proxy.log();
    assert!(
        !log.contains("Request (file descriptor"),
        "went through the proxy:\n{log}"
    );
}
