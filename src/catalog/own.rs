//! What the crate adds of its own to a tool's catalogue: `telemetry show
//! --catalog [--json]`, and the events `Telemetry::parse` records.

use super::{AttrKind, AttrSpec, CatalogSpec, EventSpec};

/// What `telemetry show --catalog [--json]` prints for `tool`, whose
/// handle was made with `spec` (`None`: no catalogue).
pub(crate) fn show(tool: &str, spec: Option<&CatalogSpec>, json: bool) -> String {
    #[derive(serde::Serialize)]
    struct Shown<'a> {
        tool: &'a str,
        #[serde(flatten)]
        spec: Option<&'a CatalogSpec>,
    }
    match (spec, json) {
        (_, true) => {
            let mut out = Vec::new();
            let shown = Shown { tool, spec };
            // Names and docs are the tool's own; escaped as event text is.
            match crate::event::write_json(&mut out, &shown) {
                Ok(()) => String::from_utf8_lossy(&out).into_owned(),
                Err(e) => format!("{{\"tool\":{tool:?},\"error\":{:?}}}", e.to_string()),
            }
        }
        (Some(spec), false) => spec.to_text(tool),
        (None, false) => format!(
            "{tool} declares no catalogue: it records events by name, with attrs of its \
             choosing (scrubbed of paths, secrets and names). `{tool} telemetry show` lists \
             what waits to be sent."
        ),
    }
}

/// `spec` with the `panic` event (for a tool that counts panics), unless
/// the tool declares an event of that name itself.
pub(crate) fn with_panic(mut spec: CatalogSpec) -> CatalogSpec {
    use crate::panics::{COUNT, EVENT, PLACE};
    if spec.event(EVENT).is_none() {
        spec.events.push(EventSpec::new(
            EVENT,
            "The tool panicked (recorded by rtb-telemetry's panic hook): where, and how many \
             times; never the message.",
            vec![
                AttrSpec::new(
                    PLACE,
                    "Where it panicked: the path inside the crate, never where the crate was \
                     on the machine.",
                    AttrKind::Place,
                ),
                AttrSpec::new(
                    COUNT,
                    "Panics at this place since the last upload.",
                    AttrKind::Count,
                ),
            ],
        ));
    }
    spec
}

/// What `show --catalog` says of panics in a tool without a catalogue.
pub(crate) fn panics_untyped(tool: &str) -> String {
    format!(
        "\n{tool} also counts its panics: an event named `panic` with `place` \
         (crate@version/path:line:column, the path inside the crate) and `count`; never the \
         message."
    )
}

/// `spec` with the events the crate records itself when a tool parses
/// with [`Telemetry::parse`](crate::Telemetry::parse): clap's refusals,
/// help and version, by kind.
#[cfg(not(feature = "clap"))]
pub(crate) fn with_own_events(spec: CatalogSpec) -> CatalogSpec {
    spec
}

/// `spec` with the events the crate records itself when a tool parses
/// with [`Telemetry::parse`](crate::Telemetry::parse): clap's refusals,
/// help and version, by kind.
#[cfg(feature = "clap")]
pub(crate) fn with_own_events(mut spec: CatalogSpec) -> CatalogSpec {
    use crate::telemetry::parse::{KINDS, event_of, kind_name};
    for (name, doc) in [
        (
            "usage_error",
            "clap refused the command line (recorded by rtb-telemetry's `parse`).",
        ),
        (
            "help",
            "Help was shown (recorded by rtb-telemetry's `parse`).",
        ),
        (
            "version",
            "The version was shown (recorded by rtb-telemetry's `parse`).",
        ),
    ] {
        // A tool's own event of the same name wins (a collector keeps the
        // first of a name): the crate's is not added.
        if spec.event(name).is_some() {
            continue;
        }
        // The kinds `parse` records under this name, named as it names them.
        let kinds = KINDS
            .iter()
            .filter(|&&k| event_of(k) == name)
            .map(|&k| kind_name(k))
            .collect();
        spec.events.push(EventSpec::new(
            name,
            doc,
            vec![AttrSpec::new(
                "kind",
                "clap's error kind, never what was typed.",
                AttrKind::Enum(kinds),
            )],
        ));
    }
    spec
}
