//! How errors read: each variant rendered by miette, snapshot-tested.

use std::fmt::Write as _;
use std::io::ErrorKind;

use rtb_telemetry::TelemetryError;

fn render(err: &TelemetryError) -> String {
    let handler =
        miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
            .with_width(200);
    let mut out = String::new();
    handler.render_report(&mut out, err).unwrap();
    out
}

#[test]
fn every_error_renders_with_what_where_code_and_help() {
    let path = "/home/user/.local/share/mytool/telemetry/events.jsonl";
    let cases = [
        ("open", ErrorKind::PermissionDenied),
        ("open", ErrorKind::ReadOnlyFilesystem),
        ("create the parent directory of", ErrorKind::NotFound),
        ("create the parent directory of", ErrorKind::NotADirectory),
        ("open", ErrorKind::IsADirectory),
        ("write to", ErrorKind::StorageFull),
        ("sync", ErrorKind::Other),
    ];
    let mut all = String::new();
    for (action, kind) in cases {
        let err = TelemetryError::io(action, path, kind.into());
        let text = render(&err);
        assert!(text.contains(path), "{text}");
        assert!(text.contains("rtb::telemetry::io"), "{text}");
        assert!(text.contains("help:"), "{text}");
        writeln!(all, "--- {action} / {kind:?}\n{text}").unwrap();
    }
    let err = TelemetryError::serde("build", "key must be a string");
    let text = render(&err);
    assert!(
        text.contains("rtb::telemetry::serde") && text.contains("help:"),
        "{text}"
    );
    write!(all, "--- serde\n{text}").unwrap();
    insta::assert_snapshot!(all);
}
