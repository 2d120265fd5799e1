//! A catalogue as data: what `telemetry show --catalog` prints, what a
//! collector reads (`--catalog --json`), and the check of a received event
//! against it.

use std::fmt::{self, Write as _};

use serde::{Deserialize, Serialize};

use super::{Catalog, CatalogEvent, EventDecl};
use crate::Event;

/// A catalogue, described: its version and every event it declares. The
/// JSON form (`telemetry show --catalog --json`) is this struct through
/// serde; `docs/catalog.md` gives its rules for collectors in any
/// language.
///
/// # Example
///
/// ```
/// use rtb_telemetry::catalog::{AttrKind, CatalogSpec};
///
/// rtb_telemetry::catalog! {
///     pub catalog Mytool: version 3;
///     /// How a command ended.
///     pub enum Outcome { Ok = "ok", Failed = "failed" }
///     /// A build ended.
///     pub event Build = "build" { outcome: Outcome }
/// }
///
/// let spec = CatalogSpec::of::<Mytool>();
/// assert_eq!(spec.version, 3);
/// assert_eq!(spec.events[0].doc, "A build ended.");
/// assert_eq!(spec.events[0].attrs[0].kind, AttrKind::Enum(vec!["ok".into(), "failed".into()]));
/// let json = serde_json::to_string(&spec).unwrap();
/// assert!(json.starts_with(r#"{"version":3,"events":[{"name":"build""#), "{json}");
/// assert_eq!(serde_json::from_str::<CatalogSpec>(&json).unwrap(), spec);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CatalogSpec {
    /// The catalogue's version ([`Catalog::VERSION`]).
    pub version: u32,
    /// Every event, in declaration order.
    pub events: Vec<EventSpec>,
}

/// One declared event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct EventSpec {
    /// Its name on the wire.
    pub name: String,
    /// Its doc comment, lines joined.
    #[serde(default)]
    pub doc: String,
    /// Its attrs, in declaration order.
    #[serde(default)]
    pub attrs: Vec<AttrSpec>,
}

/// One declared attr.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AttrSpec {
    /// Its key on the wire.
    pub name: String,
    /// Its doc comment, lines joined.
    #[serde(default)]
    pub doc: String,
    /// The values it can take.
    #[serde(flatten)]
    pub kind: AttrKind,
}

/// The values an attr can take. In JSON, `"type"` (`enum`, `bool`,
/// `buckets`, `duration_ms`, `count`, `place`) and, for `enum` and
/// `buckets`, `"values"`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AttrKind {
    /// One of these names.
    Enum(Vec<String>),
    /// `true` or `false`.
    Bool,
    /// A bucket's lower bound: one of these (ascending, the first 0).
    Buckets(Vec<u64>),
    /// Whole milliseconds.
    DurationMs,
    /// How many times: a whole number from 1 (a `panic`'s `count`).
    Count,
    /// Where in which crate a panic happened:
    /// `<crate>@<version>/<path>:<line>:<column>`, each path component of
    /// ASCII letters, digits and `._+-` and none `..` (a `panic`'s
    /// `place`). Never an absolute path, a user's name or a message.
    Place,
    /// A kind this version of the crate does not know (a newer tool's
    /// catalogue): read, so the rest of the catalogue is; its values are
    /// never allowed, so a collector drops them and counts them.
    Unknown,
}

/// Written by hand, as read below (serde's derive for an adjacently tagged
/// enum did not compile before serde 1.0.185, the crate's floor).
impl Serialize for AttrKind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        let mut map = serializer.serialize_map(None)?;
        match self {
            Self::Enum(names) => {
                map.serialize_entry("type", "enum")?;
                map.serialize_entry("values", names)?;
            }
            Self::Bool => map.serialize_entry("type", "bool")?,
            Self::Buckets(bounds) => {
                map.serialize_entry("type", "buckets")?;
                map.serialize_entry("values", bounds)?;
            }
            Self::DurationMs => map.serialize_entry("type", "duration_ms")?,
            Self::Count => map.serialize_entry("type", "count")?,
            Self::Place => map.serialize_entry("type", "place")?,
            Self::Unknown => map.serialize_entry("type", "unknown")?,
        }
        map.end()
    }
}

/// Read by hand: a kind this version does not know is
/// [`Unknown`](AttrKind::Unknown) whatever its `values`, so a newer
/// catalogue reads (the rest of it is kept).
impl<'de> Deserialize<'de> for AttrKind {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Raw {
            #[serde(rename = "type")]
            kind: String,
            #[serde(default)]
            values: serde_json::Value,
        }
        fn values<T: serde::de::DeserializeOwned, E: serde::de::Error>(
            raw: &Raw,
            what: &str,
        ) -> Result<T, E> {
            serde_json::from_value(raw.values.clone())
                .map_err(|e| E::custom(format!("{what}: {e}")))
        }
        let raw = Raw::deserialize(deserializer)?;
        Ok(match raw.kind.as_str() {
            "enum" => Self::Enum(values::<_, D::Error>(&raw, "an enum's values")?),
            "bool" => Self::Bool,
            "buckets" => Self::Buckets(values::<_, D::Error>(&raw, "buckets")?),
            "duration_ms" => Self::DurationMs,
            "count" => Self::Count,
            "place" => Self::Place,
            _ => Self::Unknown,
        })
    }
}

impl AttrKind {
    /// Whether `value`, as the JSON wire carries it, is one this kind allows.
    #[must_use]
    pub fn allows(&self, value: &str) -> bool {
        match self {
            Self::Enum(names) => names.iter().any(|n| n == value),
            Self::Bool => matches!(value, "true" | "false"),
            Self::Buckets(bounds) => number(value).is_some_and(|n| bounds.contains(&n)),
            Self::DurationMs => number(value).is_some_and(|n| i64::try_from(n).is_ok()),
            Self::Count => number(value).is_some_and(|n| n > 0 && i64::try_from(n).is_ok()),
            Self::Place => crate::panics::is_place(value),
            Self::Unknown => false,
        }
    }

    /// `Some(n)` when this kind goes as an integer where the wire has
    /// types (OTLP's `int_value`) and `value` is one.
    #[cfg(feature = "otlp")]
    pub(crate) fn as_int(&self, value: &str) -> Option<i64> {
        match self {
            Self::Buckets(_) | Self::DurationMs | Self::Count => {
                number(value).and_then(|n| i64::try_from(n).ok())
            }
            Self::Enum(_) | Self::Bool | Self::Place | Self::Unknown => None,
        }
    }
}

/// A decimal without sign, leading zeros or anything else.
pub(crate) fn number(value: &str) -> Option<u64> {
    let digits = value.bytes().all(|b| b.is_ascii_digit());
    let canonical = value == "0" || !value.starts_with('0');
    if value.is_empty() || !digits || !canonical {
        return None;
    }
    value.parse().ok()
}

/// Why a received event, or part of it, is not in a catalogue: what a
/// collector counts instead of keeping.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Undeclared {
    /// No event of this name is declared.
    Event {
        /// The event's name.
        name: String,
    },
    /// The event is declared, this attr is not.
    Attr {
        /// The event's name.
        event: String,
        /// The attr's key.
        attr: String,
    },
    /// The attr is declared, this value is not one it allows.
    Value {
        /// The event's name.
        event: String,
        /// The attr's key.
        attr: String,
    },
}

impl fmt::Display for Undeclared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Names from the wire: shown escaped, values never (they may be
        // anything a client sent).
        match self {
            Self::Event { name } => write!(f, "event {name:?} is not declared"),
            Self::Attr { event, attr } => write!(f, "attr {attr:?} of {event:?} is not declared"),
            Self::Value { event, attr } => {
                write!(f, "a value of {event:?}'s {attr:?} is not a declared one")
            }
        }
    }
}

impl CatalogSpec {
    /// The description of catalogue `C`.
    #[must_use]
    pub fn of<C: Catalog>() -> Self {
        Self {
            version: C::VERSION,
            events: C::events(),
        }
    }

    /// The declared event named `name`.
    #[must_use]
    pub fn event(&self, name: &str) -> Option<&EventSpec> {
        self.events.iter().find(|e| e.name == name)
    }

    /// Keeps of `event` exactly what this catalogue declares, as a
    /// collector does: `Err` when the event itself is not declared (drop
    /// it, count it); otherwise removes every attr that is not declared or
    /// carries a value the attr does not allow, and returns what it
    /// removed (count them). A missing attr is no fault: an older client
    /// may not know it. Never rejects more than the one event, so a batch
    /// from a newer client (new events, new enum values) is kept but for
    /// what this version does not know.
    ///
    /// # Errors
    ///
    /// [`Undeclared::Event`] when no event of that name is declared.
    ///
    /// # Example
    ///
    /// ```
    /// use rtb_telemetry::{Event, catalog::{CatalogSpec, Undeclared}};
    ///
    /// rtb_telemetry::catalog! {
    ///     pub catalog Mytool: version 1;
    ///     pub enum Outcome { Ok = "ok", Failed = "failed" }
    ///     pub event Build = "build" { outcome: Outcome }
    /// }
    /// let spec = CatalogSpec::of::<Mytool>();
    ///
    /// let mut event = Event::new("build", "mytool", "1.0.0", "00".repeat(32))
    ///     .with_attr("outcome", "cancelled")   // a value from a newer version
    ///     .with_attr("path", "/home/ada");     // never declared
    /// let dropped = spec.filter(&mut event).unwrap();
    /// assert_eq!(dropped.len(), 2);
    /// assert!(event.attrs.is_empty());
    ///
    /// let mut unknown = Event::new("deploy", "mytool", "1.0.0", "00".repeat(32));
    /// assert_eq!(spec.filter(&mut unknown), Err(Undeclared::Event { name: "deploy".into() }));
    /// ```
    pub fn filter(&self, event: &mut Event) -> Result<Vec<Undeclared>, Undeclared> {
        let Some(declared) = self.event(&event.name) else {
            return Err(Undeclared::Event {
                name: event.name.clone(),
            });
        };
        let mut dropped = Vec::new();
        event.attrs.retain(|key, value| {
            let problem = match declared.attrs.iter().find(|a| a.name == *key) {
                None => Undeclared::Attr {
                    event: declared.name.clone(),
                    attr: key.clone(),
                },
                Some(attr) if !attr.kind.allows(value) => Undeclared::Value {
                    event: declared.name.clone(),
                    attr: key.clone(),
                },
                Some(_) => return true,
            };
            dropped.push(problem);
            false
        });
        dropped.sort_by(|a, b| format!("{a}").cmp(&format!("{b}")));
        Ok(dropped)
    }

    /// The catalogue as text for a terminal (`telemetry show --catalog`):
    /// each event, its attrs, and the values each can take.
    #[must_use]
    pub fn to_text(&self, tool: &str) -> String {
        let mut out = format!(
            "{tool} can send these events (catalogue version {}), and nothing else:\n",
            self.version
        );
        for event in &self.events {
            let _ = write!(out, "\n  {}", event.name);
            if !event.doc.is_empty() {
                let _ = write!(out, " — {}", crate::text::printable(&event.doc));
            }
            out.push('\n');
            if event.attrs.is_empty() {
                out.push_str("      (no attrs)\n");
            }
            for attr in &event.attrs {
                let _ = write!(out, "      {}: {}", attr.name, values(&attr.kind));
                if !attr.doc.is_empty() {
                    let _ = write!(out, " — {}", crate::text::printable(&attr.doc));
                }
                out.push('\n');
            }
        }
        out
    }

    /// The catalogue as a Markdown table, one row per attr: the "what we
    /// collect" table of a tool's privacy page (see `docs/privacy.md`).
    #[must_use]
    pub fn to_markdown(&self) -> String {
        let mut out = String::from("| event | attr | values | what it is |\n|---|---|---|---|\n");
        for event in &self.events {
            let _ = writeln!(out, "| `{}` | | | {} |", event.name, cell(&event.doc));
            for attr in &event.attrs {
                let _ = writeln!(
                    out,
                    "| | `{}` | {} | {} |",
                    attr.name,
                    cell(&values(&attr.kind)),
                    cell(&attr.doc)
                );
            }
        }
        let _ = write!(out, "\nCatalogue version {}.\n", self.version);
        out
    }

    /// One line per event, its attrs after it: for a notice.
    #[must_use]
    pub fn summary(&self) -> String {
        let mut out = String::new();
        for event in &self.events {
            let _ = write!(out, "  {}", event.name);
            if !event.attrs.is_empty() {
                let names: Vec<&str> = event.attrs.iter().map(|a| a.name.as_str()).collect();
                let _ = write!(out, " ({})", names.join(", "));
            }
            out.push('\n');
        }
        out
    }
}

/// An attr's values, as a person reads them.
fn values(kind: &AttrKind) -> String {
    match kind {
        AttrKind::Enum(names) => format!("one of {}", crate::text::printable(&names.join(", "))),
        AttrKind::Bool => "true or false".to_owned(),
        AttrKind::Buckets(bounds) => {
            let mut ranges = Vec::new();
            // Saturating: a catalogue read from elsewhere may not ascend.
            for (i, low) in bounds.iter().enumerate() {
                ranges.push(match bounds.get(i + 1) {
                    Some(high) if *high == low.saturating_add(1) => format!("{low}"),
                    Some(high) => format!("{low}–{}", high.saturating_sub(1)),
                    None => format!("{low}+"),
                });
            }
            format!("a count by bucket: {}", ranges.join(", "))
        }
        AttrKind::DurationMs => "a duration, in whole milliseconds".to_owned(),
        AttrKind::Count => "a count, from 1".to_owned(),
        AttrKind::Place => "a place in the code, crate@version/path:line:column".to_owned(),
        AttrKind::Unknown => "values of a kind this version does not know".to_owned(),
    }
}

/// `text` for a Markdown table cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

impl EventSpec {
    /// The description of a declaration made by the macro.
    #[doc(hidden)]
    #[must_use]
    pub fn from_decl(decl: &EventDecl) -> Self {
        Self {
            name: decl.name.to_owned(),
            doc: super::doc_text(decl.doc),
            attrs: decl
                .attrs
                .iter()
                .map(|a| AttrSpec {
                    name: a.name.to_owned(),
                    doc: super::doc_text(a.doc),
                    kind: (a.kind)(),
                })
                .collect(),
        }
    }

    /// The description of `E`.
    #[must_use]
    pub fn of<E: CatalogEvent>() -> Self {
        E::spec()
    }

    /// An event the crate records itself.
    pub(crate) fn new(name: &str, doc: &str, attrs: Vec<AttrSpec>) -> Self {
        Self {
            name: name.to_owned(),
            doc: doc.to_owned(),
            attrs,
        }
    }
}

impl AttrSpec {
    /// An attr of an event the crate records itself.
    pub(crate) fn new(name: &str, doc: &str, kind: AttrKind) -> Self {
        Self {
            name: name.to_owned(),
            doc: doc.to_owned(),
            kind,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a collector keeps of a panic: a place's shape and a count
    /// from 1; a path from someone's machine or a message is dropped.
    #[test]
    fn a_panics_place_and_count_are_checked() {
        let spec = crate::catalog::with_panic(CatalogSpec {
            version: 1,
            events: Vec::new(),
        });
        let kept = |place: &str, count: &str| {
            let mut event = Event::new("panic", "t", "1.0.0", "00".repeat(32))
                .with_attr("place", place)
                .with_attr("count", count);
            spec.filter(&mut event).unwrap();
            let mut keys: Vec<String> = event.attrs.into_keys().collect();
            keys.sort();
            keys
        };
        assert_eq!(kept("t@1.0.0/src/main.rs:1:2", "3"), ["count", "place"]);
        assert_eq!(kept("/home/ada/src/main.rs:1:2", "0"), Vec::<String>::new());
        assert_eq!(
            kept("called `unwrap()` on `None`", "-1"),
            Vec::<String>::new()
        );
        assert_eq!(
            kept("t@1/../../etc/passwd:1:2", "9223372036854775808"),
            Vec::<String>::new()
        );
    }

    #[test]
    fn numbers_are_canonical() {
        assert_eq!(number("0"), Some(0));
        assert_eq!(number("120"), Some(120));
        for bad in [
            "",
            "-1",
            "01",
            "1.5",
            " 1",
            "1e3",
            "+1",
            "99999999999999999999999",
        ] {
            assert_eq!(number(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_newer_catalogues_unknown_kind_reads_and_allows_nothing() {
        let json = r#"{"version":9,"events":[{"name":"run","attrs":[
            {"name":"h","type":"histogram","values":[1,2]},
            {"name":"ok","type":"bool"}]}]}"#;
        let spec: CatalogSpec = serde_json::from_str(json).unwrap();
        assert_eq!(spec.events[0].attrs[0].kind, AttrKind::Unknown);
        assert!(!AttrKind::Unknown.allows("1"));
        let mut event = Event::new("run", "t", "1", "0")
            .with_attr("h", "1")
            .with_attr("ok", "true");
        assert_eq!(spec.filter(&mut event).unwrap().len(), 1);
        assert_eq!(event.attrs.len(), 1);
        // A hostile catalogue's buckets render without overflow.
        let hostile = AttrKind::Buckets(vec![0, 0, u64::MAX, 1]);
        assert!(values(&hostile).starts_with("a count by bucket"));
    }

    #[test]
    fn buckets_read_as_ranges() {
        assert_eq!(
            values(&AttrKind::Buckets(vec![0, 1, 10, 100])),
            "a count by bucket: 0, 1–9, 10–99, 100+"
        );
    }
}
