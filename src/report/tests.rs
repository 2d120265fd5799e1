#![allow(
    unreachable_pub,
    reason = "`catalog!` makes its items `pub`, as a tool's are"
)]

use std::collections::BTreeMap;
use std::time::Duration;

use proptest::prelude::*;

use super::wire::{self, Tally};
use super::*;
use crate::catalog::Key;
use crate::catalog::shape::Shape;
use crate::catalog::{Attrs, Catalog, CatalogEvent, CatalogSpec};

crate::catalog! {
    catalog Tool: version 4;
    enum Outcome { Ok = "ok", Failed = "failed", Cancelled = "cancelled" }
    buckets Files = [0, 1, 10, 100, 1000];
    event Build = "build" { outcome: Outcome, release: bool, files: Files, took: Duration }
    event Deploy = "deploy" { outcome: Outcome }
    event Ping = "ping" {}
}

fn shape() -> Shape {
    Shape::of(&CatalogSpec::of::<Tool>())
}

fn outcome(i: u8) -> Outcome {
    [Outcome::Ok, Outcome::Failed, Outcome::Cancelled][usize::from(i % 3)]
}

proptest! {
    /// A counter's key is the event's values as the wire carries them
    /// (a duration by its bucket): the key made without a string, the
    /// one made from the event's written attrs, and back.
    #[test]
    fn a_key_is_the_declared_values_and_back(
        o in 0..3_u8, release: bool, files: u64, millis in 0..10_000_000_u64,
    ) {
        let event = Build {
            outcome: outcome(o),
            release,
            files: Files(files),
            took: Duration::from_millis(millis),
        };
        let shape = shape();
        let build = &shape.events[Build::INDEX];
        let mut key = Key::new(build);
        event.write_key(&mut key);
        let key = key.value().unwrap();

        let mut written = std::collections::HashMap::new();
        event.write_attrs(&mut Attrs::new(&mut written));
        let bucket = DURATION_BUCKETS_MS[DURATION_BUCKETS_MS.partition_point(|&b| b <= millis) - 1];
        written.insert("took".into(), bucket.to_string());
        let values: BTreeMap<String, String> = written.into_iter().collect();
        prop_assert_eq!(build.key_of(&values), Some(key));
        prop_assert_eq!(build.values_of(key), Some(values));
    }
}

#[test]
fn events_have_their_place_in_the_catalogue() {
    assert_eq!((Build::INDEX, Deploy::INDEX, Ping::INDEX), (0, 1, 2));
    let names: Vec<&str> = Tool::EVENTS.iter().map(|e| e.name).collect();
    assert_eq!(names, ["build", "deploy", "ping"]);
    let shape = shape();
    let mut key = Key::new(&shape.events[Ping::INDEX]);
    Ping {}.write_key(&mut key);
    assert_eq!(key.value(), Some(0));
}

#[test]
fn the_week_is_its_monday() {
    let at =
        |secs: u64| crate::timestamp::week_of(std::time::UNIX_EPOCH + Duration::from_secs(secs));
    assert_eq!(at(0), "1969-12-29"); // a Thursday
    assert_eq!(at(1_796_601_600), "2026-12-07"); // Monday 2026-12-07 00:00
    assert_eq!(at(1_796_601_600 - 1), "2026-11-30"); // the Sunday before, 23:59:59
    assert_eq!(at(1_796_601_600 + 7 * 86_400 - 1), "2026-12-07"); // that Sunday
}

#[test]
fn rates_outside_0_to_1_are_taken_as_the_nearest_and_said() {
    let reports = Reports::<Tool>::weekly()
        .rate(1.5)
        .event_rate::<Deploy>(f64::NAN)
        .event_rate::<Ping>(-1.0)
        .into_settings();
    assert!((reports.rate - 1.0).abs() < f64::EPSILON);
    assert!(reports.rate_of(Some(Deploy::INDEX)).abs() < f64::EPSILON);
    assert_eq!(reports.problems.len(), 3, "{:?}", reports.problems);
    assert!(reports.problems[1].contains("`deploy`"));
    // An event's rate is never above the report's.
    let reports = Reports::<Tool>::weekly()
        .rate(0.1)
        .event_rate::<Deploy>(0.5)
        .into_settings();
    assert!((reports.rate_of(Some(Deploy::INDEX)) - 0.1).abs() < f64::EPSILON);
    assert!((reports.rate_of(Some(Build::INDEX)) - 0.1).abs() < f64::EPSILON);
}

/// 100,000 installs seal a report each at rate 0.1, events at 0.1, 0.05,
/// 0.01 and 0.001: the share that uploads is within ±0.3 % of 10 %, and in
/// every report a counter of a lower rate is there only when every counter
/// of a higher rate is.
#[test]
fn sampling_100_000_installs_at_a_tenth() {
    let rates = [0.1, 0.05, 0.01, 0.001];
    let tallies: Vec<Tally> = (0..rates.len())
        .map(|i| Tally {
            event: format!("e{i}"),
            attrs: BTreeMap::new(),
            count: 1,
        })
        .collect();
    let (mut uploaded, mut per_rate) = (0_u32, [0_u32; 4]);
    for install in 0..100_000_u32 {
        let (id, x) = wire::fresh_id_and_x(&install.to_le_bytes());
        assert!((0.0..1.0).contains(&x));
        assert_eq!(wire::x_of(&id).to_bits(), x.to_bits());
        let sent = wire::sampled(x, tallies.iter().zip(rates));
        if x < 0.1 && !sent.is_empty() {
            uploaded += 1;
        }
        let present: Vec<bool> = tallies
            .iter()
            .map(|t| sent.iter().any(|c| c.event == t.event))
            .collect();
        for (i, &p) in present.iter().enumerate() {
            per_rate[i] += u32::from(p);
            if p {
                assert!(
                    present[..i].iter().all(|&q| q),
                    "nesting broken: {present:?} at x={x}"
                );
            }
        }
        for counter in &sent {
            assert!(x < counter.rate);
        }
    }
    let share = f64::from(uploaded) / 100_000.0;
    eprintln!("uploaded {share:.4}; per rate {per_rate:?}");
    assert!((share - 0.1).abs() <= 0.003, "{share}");
    assert_eq!(per_rate[0], uploaded);
}

/// The key of every combination of a catalogue's values is distinct.
#[test]
fn every_combination_has_its_own_key() {
    let shape = shape();
    let build = &shape.events[Build::INDEX];
    let combinations: u64 = build.attrs.iter().map(|a| a.card).product();
    assert_eq!(combinations, 3 * 2 * 5 * DURATION_BUCKETS_MS.len() as u64);
    let mut seen = std::collections::HashSet::new();
    for key in 0..combinations {
        let values = build.values_of(key).unwrap();
        assert_eq!(build.key_of(&values), Some(key));
        assert!(seen.insert(values));
    }
    assert_eq!(build.values_of(combinations), None);
}
