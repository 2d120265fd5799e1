//! Text bound for a terminal: what the crate prints from files, paths and
//! the environment (`status`, `show`, debug mode) can never drive it.
//! The lowest room: it imports nothing of the crate.

use std::path::Path;

/// A bidirectional formatting character: it reorders what a terminal
/// shows around it (U+061C, U+200E/F, U+202A–E, U+2066–9: Unicode's
/// `Bidi_Control`).
pub(crate) fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
    )
}

/// `text` for a terminal: control and bidirectional formatting characters
/// escaped (`\u{1b}`), the rest as it is.
pub(crate) fn printable(text: &str) -> String {
    let mut shown = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() || is_bidi_control(c) {
            shown.extend(c.escape_default());
        } else {
            shown.push(c);
        }
    }
    shown
}

/// `path` for a terminal: control and bidirectional formatting characters
/// (a directory a cloned repository named with escape sequences) escaped.
pub(crate) fn shown(path: &Path) -> String {
    printable(&path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::printable;

    /// Every bidirectional formatting character Unicode lists
    /// (`Bidi_Control`) is escaped for the terminal, the Arabic letter mark
    /// included.
    #[test]
    fn every_bidi_control_is_escaped() {
        let all = [
            '\u{061c}', '\u{200e}', '\u{200f}', '\u{202a}', '\u{202b}', '\u{202c}', '\u{202d}',
            '\u{202e}', '\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}',
        ];
        for c in all {
            let shown = printable(&format!("a{c}b"));
            assert!(!shown.contains(c), "U+{:04X} printed raw", c as u32);
        }
    }

    #[test]
    fn controls_are_escaped_and_the_rest_kept() {
        assert_eq!(printable("a\u{1b}[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(printable("héllo wörld"), "héllo wörld");
    }
}
