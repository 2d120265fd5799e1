//! A catalogue as a report counts it: each event's attrs and how many
//! values each can take, so a counter's key is one number (the values'
//! places, in mixed radix) and back.

use std::collections::BTreeMap;

use super::{AttrKind, CatalogSpec};

/// The buckets a report counts a [`Duration`](std::time::Duration) attr
/// in, in milliseconds: a counter says "between 1 and 5 seconds", never
/// how long to the millisecond.
pub const DURATION_BUCKETS_MS: &[u64] = &[
    0, 10, 100, 500, 1_000, 5_000, 10_000, 60_000, 600_000, 3_600_000,
];

/// One attr: its name and the values it can take, by place.
#[doc(hidden)]
#[derive(Debug, Clone)]
pub struct AttrShape {
    pub(crate) name: String,
    /// How many values it can take.
    pub(crate) card: u64,
    /// The values' names, in place order (looked up for a command name).
    pub(crate) values: Vec<String>,
    /// A clap value enum's variants (in `value_variants` order) to their
    /// places among `values`: made at its first count.
    #[cfg_attr(
        not(feature = "clap"),
        allow(dead_code, reason = "for clap's value enums")
    )]
    pub(crate) by_variant: std::sync::OnceLock<Box<[Option<u32>]>>,
}

/// One event: its name, its attrs, and whether its keys fit a `u64`.
#[derive(Debug, Clone)]
pub(crate) struct EventShape {
    pub(crate) name: String,
    pub(crate) attrs: Vec<AttrShape>,
    /// `false` when the product of its attrs' value counts passes `u64`
    /// (or an attr is of a kind a report cannot count): never counted.
    pub(crate) countable: bool,
    /// How many combinations of values it has (`u64::MAX` when it passes).
    pub(crate) combinations: u64,
}

/// Every event a report can count, in the catalogue's order (so an
/// event's `INDEX` is its place), then the crate's own.
#[derive(Debug, Clone)]
pub(crate) struct Shape {
    pub(crate) events: Vec<EventShape>,
}

impl Shape {
    pub(crate) fn of(spec: &CatalogSpec) -> Self {
        let events = spec
            .events
            .iter()
            .map(|event| {
                let attrs: Vec<AttrShape> = event
                    .attrs
                    .iter()
                    .map(|attr| {
                        let (card, values) = match &attr.kind {
                            AttrKind::Enum(names) => (names.len() as u64, names.clone()),
                            AttrKind::Bool => (2, vec!["false".into(), "true".into()]),
                            AttrKind::Buckets(bounds) => (
                                bounds.len() as u64,
                                bounds.iter().map(u64::to_string).collect(),
                            ),
                            AttrKind::DurationMs => (
                                DURATION_BUCKETS_MS.len() as u64,
                                DURATION_BUCKETS_MS.iter().map(u64::to_string).collect(),
                            ),
                            AttrKind::Count | AttrKind::Place | AttrKind::Unknown => {
                                (0, Vec::new())
                            }
                        };
                        AttrShape {
                            name: attr.name.clone(),
                            card,
                            values,
                            by_variant: std::sync::OnceLock::new(),
                        }
                    })
                    .collect();
                let combinations = attrs.iter().try_fold(1_u64, |n, a| {
                    if a.card == 0 {
                        None
                    } else {
                        n.checked_mul(a.card)
                    }
                });
                EventShape {
                    name: event.name.clone(),
                    attrs,
                    countable: combinations.is_some(),
                    combinations: combinations.unwrap_or(u64::MAX),
                }
            })
            .collect();
        Self { events }
    }

    /// The event named `name` and its place.
    pub(crate) fn find(&self, name: &str) -> Option<(usize, &EventShape)> {
        self.events.iter().enumerate().find(|(_, e)| e.name == name)
    }
}

impl EventShape {
    /// The attr values `key` stands for, by name (as the wire carries
    /// them: a bucket's or a duration bucket's lower bound, a name).
    pub(crate) fn values_of(&self, mut key: u64) -> Option<BTreeMap<String, String>> {
        let mut out = BTreeMap::new();
        for attr in self.attrs.iter().rev() {
            let at = usize::try_from(key % attr.card.max(1)).ok()?;
            key /= attr.card.max(1);
            out.insert(attr.name.clone(), attr.values.get(at)?.clone());
        }
        (key == 0).then_some(out)
    }

    /// The key of `values` (as [`values_of`](Self::values_of) gives
    /// them): `None` when one is missing or not declared.
    pub(crate) fn key_of(&self, values: &BTreeMap<String, String>) -> Option<u64> {
        if values.len() != self.attrs.len() {
            return None;
        }
        self.key_by(|name| values.get(name).map(String::as_str))
    }

    /// The key of the values `value_of` gives each attr, by name.
    pub(crate) fn key_by<'a>(&self, value_of: impl Fn(&str) -> Option<&'a str>) -> Option<u64> {
        if !self.countable {
            return None;
        }
        let mut key = 0_u64;
        for attr in &self.attrs {
            let value = value_of(&attr.name)?;
            let at = attr.values.iter().position(|v| v == value)? as u64;
            key = key * attr.card + at;
        }
        Some(key)
    }
}

/// Where a declared event's values make a counter's key: written by
/// [`catalog!`](crate::catalog!)'s `write_key`, one `put` per attr, in
/// declaration order. Allocates nothing.
#[doc(hidden)]
pub struct Key<'a> {
    attrs: &'a [AttrShape],
    at: usize,
    sum: u64,
    ok: bool,
}

impl<'a> Key<'a> {
    pub(crate) fn new(event: &'a EventShape) -> Self {
        Self {
            attrs: &event.attrs,
            at: 0,
            sum: 0,
            ok: event.countable,
        }
    }

    /// The key, when every attr was put with a declared value.
    pub(crate) fn value(&self) -> Option<u64> {
        (self.ok && self.at == self.attrs.len()).then_some(self.sum)
    }

    /// The next attr's value.
    #[inline]
    pub fn put<V: super::AttrValue>(&mut self, value: &V) {
        let Some(attr) = self.attrs.get(self.at) else {
            self.ok = false;
            return;
        };
        self.at += 1;
        match value.index(attr) {
            // No overflow: the product of every `card` fits (`countable`).
            Some(i) if u64::from(i) < attr.card => {
                self.sum = self.sum.wrapping_mul(attr.card).wrapping_add(u64::from(i));
            }
            _ => self.ok = false,
        }
    }
}
