//! The event's wire shape and its timestamp.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use proptest::prelude::*;
use rtb_telemetry::Event;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

fn at_secs(secs: i64, nanos: u32) -> SystemTime {
    let magnitude = Duration::new(secs.unsigned_abs(), 0);
    let whole = if secs >= 0 {
        UNIX_EPOCH + magnitude
    } else {
        UNIX_EPOCH - magnitude
    };
    whole + Duration::from_nanos(u64::from(nanos))
}

fn stamp(time: SystemTime) -> String {
    Event::new("e", "t", "v", "m").at(time).timestamp_utc
}

#[test]
fn timestamps_are_rfc3339_utc_with_z_and_microseconds() {
    assert_eq!(stamp(UNIX_EPOCH), "1970-01-01T00:00:00.000000Z");
    assert_eq!(
        stamp(at_secs(951_782_400, 999_999_999)), // 2000-02-29, a leap day
        "2000-02-29T00:00:00.999999Z"
    );
    assert_eq!(
        stamp(at_secs(-1, 500_000_000)),
        "1969-12-31T23:59:59.500000Z"
    );
    assert_eq!(
        stamp(at_secs(253_402_300_799, 0)),
        "9999-12-31T23:59:59.000000Z"
    );
}

#[test]
fn a_clock_past_year_9999_is_written_as_it_reads_not_replaced() {
    assert_eq!(
        stamp(at_secs(253_402_300_800, 0)),
        "+10000-01-01T00:00:00.000000Z"
    );
}

#[test]
fn event_new_is_stamped_now() {
    let before = OffsetDateTime::now_utc();
    let e = Event::new("e", "t", "v", "m");
    let after = OffsetDateTime::now_utc();
    let parsed = OffsetDateTime::parse(&e.timestamp_utc, &Rfc3339).unwrap();
    // Microsecond precision: truncation may put it up to 1 µs before `before`.
    assert!(
        parsed >= before - Duration::from_micros(1) && parsed <= after,
        "{parsed}"
    );
}

proptest! {
    #[test]
    fn timestamps_agree_with_the_time_crate(
        secs in -62_167_219_200_i64..=253_402_300_799, // years 0000..=9999
        nanos in 0_u32..1_000_000_000,
    ) {
        let ts = stamp(at_secs(secs, nanos));
        prop_assert!(ts.ends_with('Z'));
        prop_assert_eq!(ts.len(), 27);
        let parsed = OffsetDateTime::parse(&ts, &Rfc3339).unwrap();
        let expected = i128::from(secs) * 1_000_000_000 + i128::from(nanos / 1000 * 1000);
        prop_assert_eq!(parsed.unix_timestamp_nanos(), expected);
    }

    #[test]
    fn attrs_serialise_in_sorted_key_order_and_read_back_equal(
        attrs in proptest::collection::hash_map(".{0,12}", ".{0,12}", 0..16),
    ) {
        let mut e = Event::new("e", "t", "v", "m");
        e.attrs = attrs.clone();
        let line = serde_json::to_string(&e).unwrap();
        // Key order on the wire.
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        let keys: Vec<&String> = value["attrs"].as_object().unwrap().keys().collect();
        let mut sorted = keys.clone();
        sorted.sort();
        prop_assert_eq!(keys, sorted);
        // Same bytes whatever the map's iteration order.
        let mut again = e.clone();
        again.attrs = attrs.into_iter().collect::<HashMap<_, _>>();
        prop_assert_eq!(serde_json::to_string(&again).unwrap(), line.clone());
        // Round trip.
        let back: Event = serde_json::from_str(&line).unwrap();
        prop_assert_eq!(back, e);
    }
}

#[test]
fn fields_are_in_the_spec_order() {
    let line = serde_json::to_string(&Event::new("n", "t", "v", "m").at(UNIX_EPOCH)).unwrap();
    let order = [
        "name",
        "tool",
        "tool_version",
        "machine_id",
        "timestamp_utc",
        "attrs",
    ];
    let positions: Vec<usize> = order
        .iter()
        .map(|f| line.find(&format!("\"{f}\":")).unwrap())
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{line}");
}
