//! What a tool can send, declared in Rust: a typed event catalogue.
//!
//! A tool declares every event it can send with [`catalog!`](crate::catalog!),
//! and each event's attrs with their types. Only four kinds of value exist,
//! and none of them is a free string or a raw number:
//!
//! | declared as | on the JSON wire | in OTLP | [`AttrKind`] |
//! |---|---|---|---|
//! | an `enum` of the catalogue (`Ok = "ok"`), a clap `ValueEnum` (`value_enum Format;`), [`CommandName<Cli>`] | the value's name | `string_value` | `Enum` |
//! | `bool` | `"true"`, `"false"` | `bool_value` | `Bool` |
//! | `buckets Files = [0, 1, 10, 100]` | the bucket's lower bound, `"10"` | `int_value` | `Buckets` |
//! | [`Duration`] | whole milliseconds, `"1234"` | `int_value` | `DurationMs` |
//!
//! A [`Telemetry`](crate::Telemetry) made with
//! [`catalog::<C>()`](crate::TelemetryBuilder::catalog) records only `C`'s
//! events; a [`TelemetryContext`](crate::TelemetryContext) records any
//! catalogue's with [`record_event`](crate::TelemetryContext::record_event).
//! Every typed event carries its catalogue's version
//! ([`Event::catalog_version`](crate::Event::catalog_version)), skips the
//! scrubber (its values come from declared sets), and is described, with
//! the rest of the catalogue, by `telemetry show --catalog` (`--json` for
//! collectors, which [check](CatalogSpec::filter) what they receive
//! against it: see `docs/catalog.md`).
//!
//! The untyped `record(name)` / `record_with_attrs(name, map)` stay for
//! tools without a catalogue.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use rtb_telemetry::{MemorySink, TelemetryContext};
//!
//! rtb_telemetry::catalog! {
//!     /// What mytool can send.
//!     pub catalog Mytool: version 1;
//!
//!     /// How a command ended.
//!     pub enum Outcome { Ok = "ok", Failed = "failed" }
//!
//!     /// How many files a command read.
//!     pub buckets Files = [0, 1, 10, 100];
//!
//!     /// `mytool build` ended.
//!     pub event Build = "build" {
//!         /// How it ended.
//!         outcome: Outcome,
//!         /// How long it took.
//!         took: Duration,
//!         /// How many files it read, by bucket.
//!         files: Files,
//!         /// Whether `--release` was given.
//!         release: bool,
//!     }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let sink = MemorySink::new();
//! let ctx = TelemetryContext::builder()
//!     .tool("mytool").tool_version("1.0.0").salt("s")
//!     .sink(sink.clone())
//!     .enabled();
//! ctx.record_event(Build {
//!     outcome: Outcome::Ok,
//!     took: Duration::from_millis(1234),
//!     files: Files(42),
//!     release: true,
//! })
//! .await?;
//! let event = &sink.snapshot()[0];
//! assert_eq!(event.name, "build");
//! assert_eq!(event.attrs["files"], "10"); // the bucket 10..100
//! assert_eq!(event.attrs["took"], "1234");
//! assert_eq!(event.catalog_version, Some(1));
//!
//! // What `telemetry show --catalog` prints, from the same declaration:
//! let spec = rtb_telemetry::catalog::CatalogSpec::of::<Mytool>();
//! assert_eq!(spec.events[0].attrs[0].name, "outcome");
//! # Ok::<(), rtb_telemetry::TelemetryError>(()) }).unwrap();
//! ```
//!
//! # What does not compile
//!
//! A free string as an attr:
//!
//! ```compile_fail,E0277
//! rtb_telemetry::catalog! {
//!     pub catalog Mytool: version 1;
//!     pub event Build = "build" {
//!         branch: String, // error: `String` is not a declared value
//!     }
//! }
//! ```
//!
//! A number without buckets:
//!
//! ```compile_fail,E0277
//! rtb_telemetry::catalog! {
//!     pub catalog Mytool: version 1;
//!     pub event Build = "build" {
//!         files: u64, // error: `u64` is not a declared value
//!     }
//! }
//! ```
//!
//! An event by name, through a handle made with a catalogue:
//!
//! ```compile_fail,E0277
//! # rtb_telemetry::catalog! {
//! #     pub catalog Mytool: version 1;
//! #     pub event Build = "build" {}
//! # }
//! let telemetry = rtb_telemetry::Telemetry::builder("mytool", "1.0.0")
//!     .catalog::<Mytool>()
//!     .init();
//! telemetry.record("deploy"); // error: `&str` is not an event of `Mytool`
//! ```
//!
//! Another catalogue's event:
//!
//! ```compile_fail,E0271
//! # rtb_telemetry::catalog! {
//! #     pub catalog Mytool: version 1;
//! #     pub event Build = "build" {}
//! # }
//! # mod other {
//! #     rtb_telemetry::catalog! {
//! #         pub catalog Other: version 1;
//! #         pub event Deploy = "deploy" {}
//! #     }
//! # }
//! let telemetry = rtb_telemetry::Telemetry::builder("mytool", "1.0.0")
//!     .catalog::<Mytool>()
//!     .init();
//! telemetry.record(other::Deploy {}); // error: `Deploy` is `Other`'s
//! ```
//!
//! The same, with what is declared, compiles:
//!
//! ```
//! # rtb_telemetry::catalog! {
//! #     pub catalog Mytool: version 1;
//! #     pub buckets Files = [0, 10];
//! #     pub event Build = "build" { files: Files }
//! # }
//! let telemetry = rtb_telemetry::Telemetry::builder("mytool", "1.0.0")
//!     .catalog::<Mytool>()
//!     .init();
//! telemetry.record(Build { files: Files(3) });
//! ```

use std::fmt::Write as _;
use std::time::Duration;

mod macros;
mod own;
pub(crate) mod registry;
pub(crate) mod shape;
mod spec;
#[cfg(feature = "clap")]
mod values_clap;

pub(crate) use own::{panics_untyped, show, with_own_events, with_panic};
pub use shape::DURATION_BUCKETS_MS;
#[doc(hidden)]
pub use shape::{AttrShape, Key};
pub(crate) use spec::number;
pub use spec::{AttrKind, AttrSpec, CatalogSpec, EventSpec, Undeclared};
#[cfg(feature = "clap")]
#[cfg_attr(docsrs, doc(cfg(feature = "clap")))]
pub use values_clap::CommandName;
#[cfg(feature = "clap")]
#[doc(hidden)]
pub use values_clap::{value_enum_index, value_enum_kind, write_value_enum};

/// A tool's catalogue: its version and the events it declares. Made by
/// [`catalog!`](crate::catalog!); the type has no values.
pub trait Catalog: 'static {
    /// The catalogue's version: raise it when events, attrs or values are
    /// added. Every typed event carries it.
    const VERSION: u32;

    /// Every declared event, as data (one table per catalogue, not code
    /// per event).
    #[doc(hidden)]
    const EVENTS: &'static [EventDecl];

    /// Every declared event, described, in declaration order.
    #[must_use]
    fn events() -> Vec<EventSpec> {
        Self::EVENTS.iter().map(EventSpec::from_decl).collect()
    }
}

/// One declared event: a struct made by [`catalog!`](crate::catalog!)
/// whose fields are its attrs.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a declared event",
    label = "not an event of a catalogue",
    note = "a handle made with a catalogue records only its declared events (structs made by `rtb_telemetry::catalog!`), never a name or a string"
)]
pub trait CatalogEvent: Send + 'static {
    /// The catalogue that declares it.
    type Catalog: Catalog;

    /// The event's name on the wire.
    const NAME: &'static str;

    /// The event as data.
    #[doc(hidden)]
    const DECL: EventDecl;

    /// The event's place in its catalogue's list (its `EVENTS`).
    #[doc(hidden)]
    const INDEX: usize;

    /// Puts each attr into `attrs`.
    #[doc(hidden)]
    fn write_attrs(&self, attrs: &mut Attrs<'_>);

    /// Puts each attr's value into a report counter's key (report mode:
    /// see [`Reports`](crate::Reports)).
    #[doc(hidden)]
    fn write_key(&self, key: &mut Key<'_>);

    /// The event as the catalogue describes it.
    #[must_use]
    fn spec() -> EventSpec {
        EventSpec::from_decl(&Self::DECL)
    }
}

/// An event's declaration as [`catalog!`](crate::catalog!) writes it: static
/// data, described on demand by [`EventSpec::from_decl`].
#[doc(hidden)]
#[derive(Debug, Clone, Copy)]
pub struct EventDecl {
    pub name: &'static str,
    pub doc: &'static str,
    pub attrs: &'static [AttrDecl],
}

/// An attr's declaration: its name, doc and how to describe its values.
#[doc(hidden)]
#[derive(Debug, Clone, Copy)]
pub struct AttrDecl {
    pub name: &'static str,
    pub doc: &'static str,
    pub kind: fn() -> AttrKind,
}

/// How [`CommandName`] names a subcommand the tool does not define (what a
/// tool that takes external subcommands was given): never the word typed.
#[cfg(feature = "clap")]
pub const EXTERNAL: &str = "(external)";

/// No catalogue: the handle records events by name
/// ([`Telemetry::record`](crate::Telemetry::record)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Untyped {}

/// A value an attr may take: one of the four kinds in the [module's
/// table](self). Implemented for `bool` and [`Duration`], and by
/// [`catalog!`](crate::catalog!) for the catalogue's `enum`s, `buckets`
/// and clap `value_enum`s; it cannot be implemented by hand (free strings
/// and raw numbers stay out by construction).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a declared value: an attr is a catalogue `enum`, `buckets`, `bool`, `Duration` or a clap `value_enum`",
    label = "not a declared value",
    note = "declare the values it can take in `rtb_telemetry::catalog!` (an `enum` with fixed names, or `buckets` for a number)"
)]
pub trait AttrValue: __sealed::Declared {
    /// What values the attr can take, for the catalogue.
    fn kind() -> AttrKind;

    /// Appends the value as the JSON wire carries it.
    #[doc(hidden)]
    fn write(&self, out: &mut String);

    /// The value's place among the values `attr` declares (for a report's
    /// counters), without allocating: a catalogue's `enum`s, `buckets`,
    /// `bool` and [`Duration`] know theirs; a clap value enum looks its
    /// variant up (a table made at its first count); a command name its
    /// path. By default, the name [`write`](Self::write) writes, looked up.
    #[doc(hidden)]
    #[inline]
    fn index(&self, attr: &AttrShape) -> Option<u32> {
        let mut name = String::new();
        self.write(&mut name);
        let at = attr.values.iter().position(|v| *v == name)?;
        u32::try_from(at).ok()
    }
}

#[doc(hidden)]
pub mod __sealed {
    /// Only the crate and [`catalog!`](crate::catalog!) implement
    /// [`AttrValue`](super::AttrValue).
    pub trait Declared {}
}

/// What a builder knows of its catalogue: none, or `C`'s.
#[doc(hidden)]
pub trait Described {
    /// The catalogue's version; `None` without one.
    const VERSION: Option<u32>;
    /// Whether the catalogue declares an event named `name`.
    fn declares(name: &str) -> bool;
    /// Notes `tool`'s catalogue for the exporters (typed values).
    fn register(tool: &str);
    /// The catalogue, described; `None` without one. Generic, so a tool
    /// without a catalogue links none of the description's code.
    fn spec() -> Option<CatalogSpec>;
}

impl Described for Untyped {
    const VERSION: Option<u32> = None;
    fn declares(_: &str) -> bool {
        false
    }
    fn register(_: &str) {}
    fn spec() -> Option<CatalogSpec> {
        None
    }
}

impl<C: Catalog> Described for C {
    const VERSION: Option<u32> = Some(C::VERSION);
    fn declares(name: &str) -> bool {
        C::EVENTS.iter().any(|event| event.name == name)
    }
    fn register(tool: &str) {
        registry::register::<C>(tool);
    }
    fn spec() -> Option<CatalogSpec> {
        Some(CatalogSpec::of::<C>())
    }
}

/// Where an event's attrs are written: reuses the strings of the event
/// recorded before it, so a typed record allocates nothing once warm.
#[doc(hidden)]
pub struct Attrs<'a> {
    map: &'a mut std::collections::HashMap<String, String>,
    /// How many attrs were put (an event's keys are distinct).
    written: usize,
}

impl<'a> Attrs<'a> {
    pub(crate) fn new(map: &'a mut std::collections::HashMap<String, String>) -> Self {
        Self { map, written: 0 }
    }

    /// Whether the map holds only what was put: no key of an earlier
    /// event is left over.
    pub(crate) fn only_written(&self) -> bool {
        self.map.len() == self.written
    }

    /// Sets `key` to `value`.
    #[inline]
    pub fn put<V: AttrValue>(&mut self, key: &'static str, value: &V) {
        self.put_with(key, &|out| value.write(out));
    }

    /// Sets `key` to what `write` writes: not generic, so a catalogue's
    /// events share one copy of the map's code.
    #[inline(never)]
    fn put_with(&mut self, key: &'static str, write: &dyn Fn(&mut String)) {
        self.written += 1;
        if let Some(slot) = self.map.get_mut(key) {
            slot.clear();
            write(slot);
        } else {
            let mut slot = String::new();
            write(&mut slot);
            self.map.insert(key.to_owned(), slot);
        }
    }
}

impl __sealed::Declared for bool {}
impl AttrValue for bool {
    fn kind() -> AttrKind {
        AttrKind::Bool
    }
    #[inline]
    fn write(&self, out: &mut String) {
        out.push_str(if *self { "true" } else { "false" });
    }
    #[inline]
    fn index(&self, _: &AttrShape) -> Option<u32> {
        Some(u32::from(*self))
    }
}

impl __sealed::Declared for Duration {}
impl AttrValue for Duration {
    fn kind() -> AttrKind {
        AttrKind::DurationMs
    }
    #[inline]
    fn write(&self, out: &mut String) {
        // At most `i64::MAX` (OTLP's `int_value`): 292 million years.
        let millis = u64::try_from(self.as_millis()).unwrap_or(u64::MAX);
        write_u64(out, millis.min(i64::MAX.unsigned_abs()));
    }
    /// A report counts durations by bucket
    /// ([`DURATION_BUCKETS_MS`]).
    #[inline]
    fn index(&self, _: &AttrShape) -> Option<u32> {
        let millis = u64::try_from(self.as_millis()).unwrap_or(u64::MAX);
        Some(bucket_index(DURATION_BUCKETS_MS, millis))
    }
}

/// `n` in decimal, without `fmt`'s machinery.
#[doc(hidden)]
#[inline]
pub fn write_u64(out: &mut String, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        // `n % 10` is below 10.
        digits[at] = b'0' + u8::try_from(n % 10).unwrap_or(0);
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &d in &digits[at..] {
        out.push(char::from(d));
    }
}

/// The lower bound of the bucket `n` falls in (`bounds` ascend from 0).
#[doc(hidden)]
#[inline]
#[must_use]
pub fn bucket_of(bounds: &[u64], n: u64) -> u64 {
    let at = bounds.partition_point(|&b| b <= n);
    bounds[at.saturating_sub(1)]
}

/// The place of the bucket `n` falls in (`bounds` ascend from 0).
#[doc(hidden)]
#[inline]
#[must_use]
pub fn bucket_index(bounds: &[u64], n: u64) -> u32 {
    let at = bounds.partition_point(|&b| b <= n).saturating_sub(1);
    u32::try_from(at).unwrap_or(u32::MAX)
}

/// Compile-time checks of a declaration, called by [`catalog!`](crate::catalog!).
#[doc(hidden)]
pub mod check {
    /// A name the wire and every backend take: 1–64 bytes of `a-z`,
    /// `0-9`, `_`, `.`, `-`, starting with a letter.
    #[must_use]
    pub const fn name(name: &str) -> bool {
        let b = name.as_bytes();
        if b.is_empty() || b.len() > 64 || !b[0].is_ascii_lowercase() {
            return false;
        }
        let mut i = 0;
        while i < b.len() {
            let c = b[i];
            if !(c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'_' | b'.' | b'-')) {
                return false;
            }
            i += 1;
        }
        true
    }

    const fn same(a: &str, b: &str) -> bool {
        let (a, b) = (a.as_bytes(), b.as_bytes());
        if a.len() != b.len() {
            return false;
        }
        let mut i = 0;
        while i < a.len() {
            if a[i] != b[i] {
                return false;
            }
            i += 1;
        }
        true
    }

    /// No two of `names` are the same.
    #[must_use]
    pub const fn distinct(names: &[&str]) -> bool {
        let mut i = 0;
        while i < names.len() {
            let mut j = i + 1;
            while j < names.len() {
                if same(names[i], names[j]) {
                    return false;
                }
                j += 1;
            }
            i += 1;
        }
        true
    }

    /// An enum's value: 1–64 bytes, printable ASCII, no quote or backslash.
    #[must_use]
    pub const fn value(value: &str) -> bool {
        let b = value.as_bytes();
        if b.is_empty() || b.len() > 64 {
            return false;
        }
        let mut i = 0;
        while i < b.len() {
            if !(b[i].is_ascii_graphic() || b[i] == b' ') || matches!(b[i], b'"' | b'\\') {
                return false;
            }
            i += 1;
        }
        true
    }

    /// Buckets start at 0, ascend strictly, and fit an `i64` (OTLP's
    /// `int_value`).
    #[must_use]
    pub const fn buckets(bounds: &[u64]) -> bool {
        if bounds.is_empty() || bounds[0] != 0 || bounds[bounds.len() - 1] > i64::MAX as u64 {
            return false;
        }
        let mut i = 1;
        while i < bounds.len() {
            if bounds[i] <= bounds[i - 1] {
                return false;
            }
            i += 1;
        }
        true
    }
}

/// What [`catalog!`](crate::catalog!) expands to needs from the crate.
#[doc(hidden)]
pub mod __private {
    #[cfg(feature = "clap")]
    pub use clap;
    pub use std::{concat, stringify, vec};
}

/// The text of `doc` lines (`/// …` comments), joined with spaces.
pub(crate) fn doc_text(lines: &str) -> String {
    let mut out = String::new();
    for line in lines.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if !out.is_empty() {
            out.push(' ');
        }
        let _ = write!(out, "{line}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_buckets() {
        for n in [0, 7, 10, 99, 12_345, u64::MAX] {
            let mut s = String::new();
            write_u64(&mut s, n);
            assert_eq!(s, n.to_string());
        }
        let b = [0, 1, 10, 100];
        assert_eq!(
            [0, 1, 9, 10, 99, 100, u64::MAX].map(|n| bucket_of(&b, n)),
            [0, 1, 1, 10, 10, 100, 100]
        );
    }

    #[test]
    fn declarations_are_checked() {
        assert!(check::name("run") && check::name("usage_error") && check::name("a.b-c9"));
        assert!(
            !check::name("") && !check::name("Run") && !check::name("9a") && !check::name("a b")
        );
        assert!(check::distinct(&["a", "b", "ab"]) && !check::distinct(&["a", "b", "a"]));
        assert!(
            check::buckets(&[0, 1, 10])
                && !check::buckets(&[1, 10])
                && !check::buckets(&[0, 10, 10])
        );
        assert!(
            check::value("ok") && !check::value("") && !check::value("a\"b") && !check::value("é")
        );
    }
}
