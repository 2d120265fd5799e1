//! How messages name the `telemetry` verbs: as the tool mounted them.

/// `verb` as users of `tool` type it, in backticks: after `verbs` (how the
/// tool mounted the verbs, up to the verb), else `<tool> telemetry`.
pub(crate) fn verb_as(tool: &str, verbs: Option<&str>, verb: &str) -> String {
    match verbs.map(str::trim).filter(|v| !v.is_empty()) {
        Some(command) => format!("`{command} {verb}`"),
        None => format!("`{tool} telemetry {verb}`"),
    }
}
