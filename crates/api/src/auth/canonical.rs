//! Byte-level helpers shared by both signature schemes: the Alibaba flavour of RFC 3986
//! percent-encoding, `application/x-www-form-urlencoded` decoding, and header lookup.
//!
//! Everything works on bytes rather than `str` so that a request whose query decodes to
//! invalid UTF-8 is still canonicalised exactly as sent (the SDKs encode the UTF-8 bytes of
//! each string; re-encoding the decoded bytes reproduces that without a lossy round trip).

use percent_encoding::{percent_decode, AsciiSet, NON_ALPHANUMERIC};

/// Everything but RFC 3986 "unreserved" characters (`A-Z a-z 0-9 - _ . ~`) is escaped.
///
/// This is what Python's `quote(s, safe='~')` produces, which both SDK generations use:
/// space becomes `%20` (never `+`), `*` becomes `%2A`, `~` stays, hex digits are upper case.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Percent-encodes `bytes` with the Alibaba rules (see [`UNRESERVED`]).
pub fn percent_encode(bytes: &[u8]) -> String {
    percent_encoding::percent_encode(bytes, UNRESERVED).to_string()
}

/// Decodes one `application/x-www-form-urlencoded` component: `+` is a space, `%XX` a byte.
///
/// The new SDK sends query strings built with Python's `urlencode` (spaces as `+`), the old
/// SDK rewrites them to `%20`; both decode to the same bytes here. A literal `+` is always
/// sent as `%2B`. Malformed escapes (`%zz`) are kept verbatim, as browsers and Python do.
pub fn form_decode(component: &[u8]) -> Vec<u8> {
    let plus_as_space: Vec<u8> = component
        .iter()
        .map(|&b| if b == b'+' { b' ' } else { b })
        .collect();
    percent_decode(&plus_as_space).collect()
}

/// Splits a raw query string (or form body) into decoded `(key, value)` byte pairs.
///
/// Order and duplicates are preserved; empty segments (`a=1&&b=2`) are skipped; a segment
/// without `=` is a key with an empty value.
pub fn parse_urlencoded(raw: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    raw.split(|&b| b == b'&')
        .filter(|segment| !segment.is_empty())
        .map(|segment| match segment.iter().position(|&b| b == b'=') {
            Some(eq) => (form_decode(&segment[..eq]), form_decode(&segment[eq + 1..])),
            None => (form_decode(segment), Vec::new()),
        })
        .collect()
}

/// Decodes a raw query string or form body into `String` pairs (invalid UTF-8 is replaced).
///
/// Convenience for the HTTP layer, so that the parameters it acts on are decoded exactly the
/// way the signature code decoded them.
pub fn parse_urlencoded_lossy(raw: &[u8]) -> Vec<(String, String)> {
    parse_urlencoded(raw)
        .into_iter()
        .map(|(k, v)| {
            (
                String::from_utf8_lossy(&k).into_owned(),
                String::from_utf8_lossy(&v).into_owned(),
            )
        })
        .collect()
}

/// All values of header `name` (case-insensitive), in the order received.
pub fn header_values<'h>(headers: &'h [(String, String)], name: &str) -> Vec<&'h str> {
    headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
        .collect()
}

/// The first value of header `name` (case-insensitive).
pub fn header<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_like_python_quote_with_tilde_safe() {
        assert_eq!(percent_encode(b"AZaz09-_.~"), "AZaz09-_.~");
        assert_eq!(
            percent_encode(b"a b*c+d/e=f&g%h"),
            "a%20b%2Ac%2Bd%2Fe%3Df%26g%25h"
        );
        assert_eq!(percent_encode("ü表".as_bytes()), "%C3%BC%E8%A1%A8");
        assert_eq!(percent_encode(b"\"'{}:,"), "%22%27%7B%7D%3A%2C");
    }

    #[test]
    fn decodes_plus_and_percent() {
        assert_eq!(form_decode(b"a+b%20c%2Bd"), b"a b c+d");
        assert_eq!(form_decode(b"%zz%4"), b"%zz%4");
        assert_eq!(form_decode(b"%C3%BC"), "ü".as_bytes());
    }

    #[test]
    fn splits_pairs() {
        let pairs = parse_urlencoded(b"a=1&&b=&c&d=x=y");
        let expected: Vec<(Vec<u8>, Vec<u8>)> = vec![
            (b"a".to_vec(), b"1".to_vec()),
            (b"b".to_vec(), b"".to_vec()),
            (b"c".to_vec(), b"".to_vec()),
            (b"d".to_vec(), b"x=y".to_vec()),
        ];
        assert_eq!(pairs, expected);
        assert!(parse_urlencoded(b"").is_empty());
    }

    #[test]
    fn header_lookup_is_case_insensitive() {
        let h = vec![
            ("x-a".to_string(), "1".to_string()),
            ("X-A".to_string(), "2".to_string()),
        ];
        assert_eq!(header(&h, "x-a"), Some("1"));
        assert_eq!(header_values(&h, "X-a"), vec!["1", "2"]);
        assert_eq!(header(&h, "x-b"), None);
    }
}
