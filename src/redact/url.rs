//! URLs shown without credentials: for `Debug`, errors and `status`.

/// `raw` with anything that may be a credential replaced by `[redacted]`:
/// everything before the last `@` ahead of the query (after the scheme),
/// and every query value; the fragment is dropped. Cautious rather than
/// exact — a malformed URL may hide a password anywhere before an `@` (a
/// `/` in an unencoded password), or after a `?` — and control characters
/// are escaped, so what is printed cannot rewrite a terminal or a log line.
pub(crate) fn redact_url(raw: &str) -> String {
    let (scheme, rest) = match raw.find("://") {
        Some(i) => (&raw[..i + 3], &raw[i + 3..]),
        None => ("", raw),
    };
    // An `@` in the query or the fragment is not user info: the query's
    // values are redacted on their own (an `@` there used to hide the host
    // and show the rest of a query secret).
    let (base, tail) = rest.split_at(rest.find(['?', '#']).unwrap_or(rest.len()));
    let mut out = String::with_capacity(raw.len());
    out.push_str(scheme);
    if tail.contains('@') && !base.contains('/') {
        // No path before the `?` or `#`: the `@` after it may end user info
        // whose password holds a `?` or `#` (`user:SE?CRET@host`), or be
        // part of a query value (`host?key=a@SECRET`). Either way, nothing
        // of it is shown.
        out.push_str("[redacted]");
        return crate::text::printable(&out);
    }
    match base.rfind('@') {
        Some(at) => {
            out.push_str("[redacted]@");
            out.push_str(&base[at + 1..]);
        }
        None => out.push_str(base),
    }
    if let Some(query) = tail.strip_prefix('?') {
        let query = query.split_once('#').map_or(query, |(before, _)| before);
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
    crate::text::printable(&out)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::redact_url;

    #[test]
    fn an_at_in_the_query_is_no_user_info() {
        assert_eq!(
            redact_url("https://collector.example/v1/logs?api_key=ab@cdSECRET"),
            "https://collector.example/v1/logs?api_key=[redacted]"
        );
        assert_eq!(
            redact_url("https://u:p@h.example/x?k=a@b#frag@x"),
            "https://[redacted]@h.example/x?k=[redacted]"
        );
        assert_eq!(redact_url("http://h/p#a@b"), "http://h/p");
        // Ambiguous: a `?` in an unencoded password, or an `@` in a query
        // with no path before it. Nothing shown.
        assert_eq!(
            redact_url("http://user:SEC?RET@host/x"),
            "http://[redacted]"
        );
        assert_eq!(
            redact_url("https://host?k=ab@cdSECRET"),
            "https://[redacted]"
        );
    }

    proptest! {
        /// A secret in the user info, a query value or the fragment never
        /// shows, wherever `@`, `?`, `#`, `/`, `&` and `=` fall around it.
        #[test]
        fn secrets_never_show(
            secret in "[A-Za-z0-9]{12}",
            user in "[a-z@/:%]{0,6}",
            host in "[a-z.]{1,10}(:[0-9]{1,5})?",
            path in "(/[a-z@#?=&]{0,6}){0,3}",
            key in "[a-z@]{1,5}",
            noise in "[a-z@=&/]{0,6}",
            place in 0..3usize,
        ) {
            let url = match place {
                0 => format!("https://{user}:{secret}@{host}{path}"),
                1 => format!("https://{host}{path}?{key}={noise}{secret}&x=1"),
                _ => format!("https://{host}{path}#{noise}{secret}"),
            };
            let shown = redact_url(&url);
            prop_assert!(!shown.contains(&secret), "{url} -> {shown}");
        }
    }
}
