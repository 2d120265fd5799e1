//! URLs shown without credentials: for `Debug`, errors and `status`.

/// `raw` with anything that may be a credential replaced by `[redacted]`:
/// everything before the last `@` (after the scheme), and every query
/// value. Cautious rather than exact — a malformed URL may hide a password
/// anywhere before an `@`, or after a `?` — and control characters are
/// escaped, so what is printed cannot rewrite a terminal or a log line.
pub(crate) fn redact_url(raw: &str) -> String {
    let (scheme, rest) = match raw.find("://") {
        Some(i) => (&raw[..i + 3], &raw[i + 3..]),
        None => ("", raw),
    };
    let rest = match rest.rfind('@') {
        Some(at) => format!("[redacted]@{}", &rest[at + 1..]),
        None => rest.to_owned(),
    };
    let rest = rest
        .split_once('#')
        .map_or(rest.as_str(), |(before, _)| before);
    let mut out = String::with_capacity(raw.len());
    out.push_str(scheme);
    match rest.split_once('?') {
        Some((base, query)) => {
            out.push_str(base);
            out.push('?');
            let pairs: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((key, _)) => format!("{key}=[redacted]"),
                    None => "[redacted]".to_owned(),
                })
                .collect();
            out.push_str(&pairs.join("&"));
        }
        None => out.push_str(rest),
    }
    crate::text::printable(&out)
}
