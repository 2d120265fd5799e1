//! Hostile input: whatever the caller puts in names and attrs, every event is
//! exactly one line and reads back equal.

use std::collections::HashMap;

use proptest::prelude::*;
use rtb_telemetry::{Event, FileSink, TelemetrySink};

use crate::support::block_on;

/// Characters that break naive line or terminal handling.
fn nasty_piece() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("\n".to_owned()),
        Just("\r".to_owned()),
        Just("\r\n".to_owned()),
        Just("\u{2028}".to_owned()),
        Just("\u{2029}".to_owned()),
        Just("\u{85}".to_owned()),
        Just("\0".to_owned()),
        Just("\x1b[31mred\x1b[0m".to_owned()),
        Just("\"".to_owned()),
        Just("\\".to_owned()),
        Just("\\n".to_owned()),
        Just("\u{feff}".to_owned()),
        // Bidi controls: reorder what a terminal shows (`telemetry show`).
        Just("\u{202e}evil\u{202c}\u{2066}\u{200f}".to_owned()),
        Just("\u{7f}\u{1c}\u{1d}\u{1e}\u{0b}\u{0c}".to_owned()),
        ".{0,8}",
    ]
}

fn nasty() -> impl Strategy<Value = String> {
    prop::collection::vec(nasty_piece(), 0..12).prop_map(|parts| parts.concat())
}

/// Writes `event` through a fresh `FileSink` and returns the file's text.
fn written(event: &Event) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.jsonl");
    block_on(FileSink::new(&path).emit(event)).unwrap();
    std::fs::read_to_string(&path).unwrap()
}

/// One record, by any reader's idea of a line: only the final `\n` may break
/// it. Python's `str.splitlines` also splits on \r, \x0b, \x0c, \x1c-\x1e,
/// U+0085, U+2028 and U+2029.
fn assert_one_line(text: &str) {
    let body = text.strip_suffix('\n').expect("ends with a newline");
    let breaks = |c: char| {
        matches!(
            c,
            '\n' | '\r' | '\u{0b}' | '\u{0c}' | '\u{1c}'
                ..='\u{1e}' | '\u{85}' | '\u{2028}' | '\u{2029}'
        )
    };
    assert!(
        !body.contains(breaks),
        "a line break inside the record: {body:?}"
    );
    assert!(
        !body.contains(char::is_control),
        "a raw control character: {body:?}"
    );
    let bidi = |c: char| matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
    assert!(!body.contains(bidi), "a raw bidi control: {body:?}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn any_name_and_attrs_give_one_line_that_reads_back_equal(
        name in nasty(),
        attrs in prop::collection::hash_map(nasty(), nasty(), 0..48),
    ) {
        let mut event = Event::new(name, "mytool", "1.0.0", "ab".repeat(32));
        event.attrs = attrs;
        let text = written(&event);
        assert_one_line(&text);
        let back: Event = serde_json::from_str(text.trim_end_matches('\n')).unwrap();
        prop_assert_eq!(back, event);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(8))]

    #[test]
    fn very_long_values_stay_one_line(
        piece in nasty(),
        repeat in 100_000_usize..300_000,
        extra_attrs in 0_usize..200,
    ) {
        let long = format!("{piece}{}", "x\u{2028}\n".repeat(repeat / 5));
        prop_assume!(long.len() >= 100_000);
        let mut attrs: HashMap<String, String> =
            (0..extra_attrs).map(|i| (format!("k{i}"), format!("v{i}\r\n"))).collect();
        attrs.insert("long".into(), long);
        let mut event = Event::new("big", "mytool", "1.0.0", "ab".repeat(32));
        event.attrs = attrs;
        let text = written(&event);
        assert_one_line(&text);
        let back: Event = serde_json::from_str(text.trim_end_matches('\n')).unwrap();
        prop_assert_eq!(back, event);
    }
}
