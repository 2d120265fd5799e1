//! [`catalog!`](crate::catalog!): the declaration, in Rust, with no build
//! step outside cargo.

/// Declares a tool's telemetry catalogue: every event it can send, and
/// each event's attrs with their types (see [the module](mod@crate::catalog)).
///
/// ```text
/// /// docs…
/// pub catalog Name: version N;          // first, once
/// /// docs…
/// pub enum Outcome { Ok = "ok", … }     // a fixed set of names
/// /// docs…
/// pub buckets Files = [0, 1, 10, 100];  // a count, by bucket (from 0, ascending)
/// value_enum Format;                    // a clap `ValueEnum` of the tool (feature `clap`)
/// /// docs…
/// pub event Build = "build" {           // an event and its wire name
///     /// docs…
///     attr: Type,                       // bool, Duration, or one of the above
/// }
/// ```
///
/// Each `event` becomes a struct with one public field per attr (and
/// `Clone`, which every declared value has), each
/// `enum` an enum with `as_str()`, each `buckets` a tuple struct over
/// `u64`. Doc comments become the descriptions `telemetry show --catalog`
/// prints. Checked at compile time: every attr's type is a declared value
/// (no `String`, no raw number), names are `a-z0-9_.-` starting with a
/// letter, event names and enum values are distinct, buckets start at 0
/// and ascend.
///
/// # Example
///
/// (`value_enum` needs the `clap` feature.)
///
/// ```
/// # #[cfg(feature = "clap")] {
/// use std::time::Duration;
///
/// #[derive(Clone, Copy, clap::ValueEnum)]
/// enum Format { Text, Json }
///
/// rtb_telemetry::catalog! {
///     /// What mytool can send.
///     pub catalog Mytool: version 2;
///
///     /// How a command ended.
///     pub enum Outcome { Ok = "ok", Failed = "failed" }
///     value_enum Format;
///
///     /// `mytool run` ended.
///     pub event Run = "run" {
///         /// How it ended.
///         outcome: Outcome,
///         /// `--format`.
///         format: Format,
///         /// How long it took.
///         took: Duration,
///     }
/// }
///
/// let run = Run { outcome: Outcome::Ok, format: Format::Json, took: Duration::ZERO };
/// assert_eq!(run.outcome.as_str(), "ok");
/// let spec = rtb_telemetry::catalog::CatalogSpec::of::<Mytool>();
/// assert!(spec.to_text("mytool").contains("format: one of text, json"));
/// # }
/// ```
#[macro_export]
macro_rules! catalog {
    (
        $(#[doc = $doc:literal])*
        $vis:vis catalog $catalog:ident : version $version:literal ;
        $($items:tt)*
    ) => {
        $(#[doc = $doc])*
        #[doc = "\n\nA telemetry catalogue: `telemetry show --catalog` lists its events."]
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        $vis enum $catalog {}

        $crate::__catalog_items! { ($catalog, $version) [] $($items)* }
    };
}

/// The items of a [`catalog!`], one at a time; the events are gathered
/// for the catalogue's list.
#[doc(hidden)]
#[macro_export]
macro_rules! __catalog_items {
    // The end: the catalogue and its list of events.
    (($catalog:ident, $version:literal) [$($event:ident)*]) => {
        impl $crate::catalog::Catalog for $catalog {
            const VERSION: u32 = $version;
            const EVENTS: &'static [$crate::catalog::EventDecl] = &[
                $(<$event as $crate::catalog::CatalogEvent>::DECL),*
            ];
        }
        const _: () = ::core::assert!(
            $crate::catalog::check::distinct(&[
                $(<$event as $crate::catalog::CatalogEvent>::NAME),*
            ]),
            "two events of the catalogue have the same name"
        );
    };

    // enum Outcome { Ok = "ok", Failed = "failed" }
    (
        $head:tt [$($event:ident)*]
        $(#[doc = $doc:literal])*
        $vis:vis enum $name:ident {
            $( $(#[doc = $vdoc:literal])* $variant:ident = $value:literal ),+ $(,)?
        }
        $($rest:tt)*
    ) => {
        $(#[doc = $doc])*
        #[doc = "\n\nValues an attr of a telemetry catalogue can take."]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        $vis enum $name {
            $( $(#[doc = $vdoc])* #[doc = $crate::catalog::__private::concat!("\n\nSent as `", $value, "`.")] $variant, )+
        }

        impl $name {
            /// The value's name on the wire.
            #[allow(dead_code)]
            #[must_use]
            pub const fn as_str(self) -> &'static str {
                match self {
                    $( Self::$variant => $value, )+
                }
            }
        }

        const _: () = {
            $( ::core::assert!($crate::catalog::check::value($value), "an enum value must be 1-64 printable ASCII characters, without `\"` or `\\`"); )+
            ::core::assert!($crate::catalog::check::distinct(&[$($value),+]), "two values of the enum have the same name");
        };

        impl $crate::catalog::__sealed::Declared for $name {}
        impl $crate::catalog::AttrValue for $name {
            fn kind() -> $crate::catalog::AttrKind {
                $crate::catalog::AttrKind::Enum($crate::catalog::__private::vec![
                    $( ::std::string::String::from($value) ),+
                ])
            }
            #[inline]
            fn write(&self, out: &mut ::std::string::String) {
                out.push_str(self.as_str());
            }
            #[inline]
            fn index(&self, _: &$crate::catalog::AttrShape) -> ::core::option::Option<u32> {
                // Declared without discriminants: the declaration's order.
                ::core::option::Option::Some(*self as u32)
            }
        }

        $crate::__catalog_items! { $head [$($event)*] $($rest)* }
    };

    // buckets Files = [0, 1, 10, 100];
    (
        $head:tt [$($event:ident)*]
        $(#[doc = $doc:literal])*
        $vis:vis buckets $name:ident = [ $($bound:literal),+ $(,)? ] ;
        $($rest:tt)*
    ) => {
        $(#[doc = $doc])*
        #[doc = $crate::catalog::__private::concat!("\n\nSent as the lower bound of its bucket, one of ", $crate::catalog::__private::stringify!($($bound),+), ".")]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        $vis struct $name(pub u64);

        impl $name {
            /// The buckets' lower bounds.
            #[allow(dead_code)]
            pub const BOUNDS: &'static [u64] = &[$($bound),+];
        }

        const _: () = ::core::assert!(
            $crate::catalog::check::buckets(&[$($bound),+]),
            "buckets start at 0, ascend, and are at most i64::MAX"
        );

        impl ::core::convert::From<usize> for $name {
            fn from(n: usize) -> Self {
                Self(u64::try_from(n).unwrap_or(u64::MAX))
            }
        }

        impl $crate::catalog::__sealed::Declared for $name {}
        impl $crate::catalog::AttrValue for $name {
            fn kind() -> $crate::catalog::AttrKind {
                $crate::catalog::AttrKind::Buckets(::std::vec::Vec::from(Self::BOUNDS))
            }
            #[inline]
            fn write(&self, out: &mut ::std::string::String) {
                $crate::catalog::write_u64(out, $crate::catalog::bucket_of(Self::BOUNDS, self.0));
            }
            #[inline]
            fn index(&self, _: &$crate::catalog::AttrShape) -> ::core::option::Option<u32> {
                ::core::option::Option::Some($crate::catalog::bucket_index(Self::BOUNDS, self.0))
            }
        }

        $crate::__catalog_items! { $head [$($event)*] $($rest)* }
    };

    // value_enum Format;
    (
        $head:tt [$($event:ident)*]
        value_enum $name:ty ;
        $($rest:tt)*
    ) => {
        $crate::__catalog_needs_clap!();
        impl $crate::catalog::__sealed::Declared for $name {}
        impl $crate::catalog::AttrValue for $name {
            fn kind() -> $crate::catalog::AttrKind {
                $crate::catalog::value_enum_kind::<$name>()
            }
            #[inline]
            fn write(&self, out: &mut ::std::string::String) {
                $crate::catalog::write_value_enum(self, out);
            }
            #[inline]
            fn index(&self, attr: &$crate::catalog::AttrShape) -> ::core::option::Option<u32> {
                $crate::catalog::value_enum_index(self, attr)
            }
        }

        $crate::__catalog_items! { $head [$($event)*] $($rest)* }
    };

    // event Build = "build" { outcome: Outcome, … }
    (
        ($catalog:ident, $version:literal) [$($event:ident)*]
        $(#[doc = $doc:literal])*
        $vis:vis event $name:ident = $wire:literal {
            $( $(#[doc = $adoc:literal])* $attr:ident : $ty:ty ),* $(,)?
        }
        $($rest:tt)*
    ) => {
        $(#[doc = $doc])*
        #[doc = $crate::catalog::__private::concat!("\n\nThe event `", $wire, "` of [`", $crate::catalog::__private::stringify!($catalog), "`].")]
        #[derive(Clone)]
        $vis struct $name {
            $( $(#[doc = $adoc])* #[doc = $crate::catalog::__private::concat!("\n\nThe attr `", $crate::catalog::__private::stringify!($attr), "`.")] pub $attr: $ty, )*
        }

        const _: () = {
            ::core::assert!($crate::catalog::check::name($wire), "an event name is 1-64 bytes of a-z, 0-9, `_`, `.`, `-`, starting with a letter");
            $( ::core::assert!($crate::catalog::check::name($crate::catalog::__private::stringify!($attr)), "an attr name is 1-64 bytes of a-z, 0-9, `_`, starting with a letter"); )*
        };

        impl $crate::catalog::CatalogEvent for $name {
            type Catalog = $catalog;
            const NAME: &'static str = $wire;
            const INDEX: usize = {
                let before: &[&str] = &[$($crate::catalog::__private::stringify!($event)),*];
                before.len()
            };

            #[inline]
            fn write_attrs(&self, _attrs: &mut $crate::catalog::Attrs<'_>) {
                $( _attrs.put($crate::catalog::__private::stringify!($attr), &self.$attr); )*
            }

            #[inline]
            fn write_key(&self, _key: &mut $crate::catalog::Key<'_>) {
                $( _key.put(&self.$attr); )*
            }

            const DECL: $crate::catalog::EventDecl = $crate::catalog::EventDecl {
                name: $wire,
                doc: $crate::catalog::__private::concat!($($doc, "\n"),*),
                attrs: &[
                    $( $crate::catalog::AttrDecl {
                        name: $crate::catalog::__private::stringify!($attr),
                        doc: $crate::catalog::__private::concat!($($adoc, "\n"),*),
                        kind: <$ty as $crate::catalog::AttrValue>::kind,
                    } ),*
                ],
            };
        }

        $crate::__catalog_items! { ($catalog, $version) [$($event)* $name] $($rest)* }
    };
}

/// Nothing: `value_enum` has what it needs.
#[cfg(feature = "clap")]
#[doc(hidden)]
#[macro_export]
macro_rules! __catalog_needs_clap {
    () => {};
}

/// `value_enum` without the `clap` feature: a clear error, not a missing
/// function.
#[cfg(not(feature = "clap"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __catalog_needs_clap {
    () => {
        ::core::compile_error!(
            "`value_enum` in `rtb_telemetry::catalog!` needs rtb-telemetry's `clap` feature"
        );
    };
}
