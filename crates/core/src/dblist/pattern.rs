//! Source object names, which may be the restricted regular expressions of
//! seed §6.4.19.1 ("支持的正则表达式", catalogue §8.5).
//!
//! Only `.`, `*`, `?`, `[abc]`, `[^abc]` and `[a-z]` are supported. We do not
//! hand the user's text to a regex engine: we translate it token by token into
//! a regex-lite pattern, so any syntax outside the seed's list is rejected with
//! a clear message instead of silently meaning something else.

use regex_lite::Regex;

/// Longest accepted object name or pattern, in characters. Real engines allow
/// 64 (MySQL) or 63 (PostgreSQL); the bound only keeps hostile input small.
pub const MAX_NAME_CHARS: usize = 256;

/// Characters that make a name a pattern. A plain object name never uses them.
const PATTERN_CHARS: [char; 5] = ['.', '*', '?', '[', ']'];

/// Regular-expression syntax the seed does not list. Object names containing
/// these are refused outright: a user who writes `(a|b)` or `^orders` expects
/// regex semantics we do not provide, and matching them literally would
/// silently select nothing.
const UNSUPPORTED_CHARS: [char; 8] = ['(', ')', '|', '+', '{', '}', '\\', '^'];

/// A source database or table name: either a literal name or a pattern.
///
/// Matching is case-sensitive, like the seed's keys. Patterns are anchored:
/// `order.*` matches `orders` but not `old_orders`.
#[derive(Debug, Clone)]
pub struct NamePattern {
    text: String,
    /// Present only when `text` is a pattern.
    regex: Option<Regex>,
}

impl PartialEq for NamePattern {
    /// The compiled regex is derived from the text, so the text decides.
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl NamePattern {
    /// Parses a source name. The error is a reason, without the field path.
    pub fn parse(text: &str) -> Result<NamePattern, String> {
        check_name_text(text)?;
        if !text.contains(PATTERN_CHARS) {
            if let Some(c) = text.chars().find(|c| UNSUPPORTED_CHARS.contains(c)) {
                return Err(unsupported_char_reason(c));
            }
            return Ok(NamePattern { text: text.to_owned(), regex: None });
        }
        let translated = translate(text)?;
        let regex = Regex::new(&format!("^(?:{translated})$"))
            .map_err(|e| format!("is not a valid pattern: {e}"))?;
        Ok(NamePattern { text: text.to_owned(), regex: Some(regex) })
    }

    /// The name exactly as the user wrote it.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether this is a regular expression rather than a literal name.
    pub fn is_pattern(&self) -> bool {
        self.regex.is_some()
    }

    /// Whether `name` is selected by this name or pattern.
    pub fn matches(&self, name: &str) -> bool {
        match &self.regex {
            Some(re) => re.is_match(name),
            None => self.text == name,
        }
    }
}

/// Rules every object name (source or destination) follows.
pub fn check_name_text(text: &str) -> Result<(), String> {
    if text.trim().is_empty() {
        return Err("must not be empty".into());
    }
    if text.chars().count() > MAX_NAME_CHARS {
        return Err(format!("is longer than {MAX_NAME_CHARS} characters"));
    }
    if text.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    Ok(())
}

fn unsupported_char_reason(c: char) -> String {
    format!(
        "contains '{c}', which is not supported in object names; patterns may only use \
         . * ? [abc] [^abc] [a-z]"
    )
}

/// What the previous token was, to validate `*` and `?`.
#[derive(Clone, Copy, PartialEq)]
enum Prev {
    Nothing,
    Atom,
    Quantifier,
}

/// Translates the seed's pattern syntax into an (unanchored) regex-lite pattern.
fn translate(text: &str) -> Result<String, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::new();
    let mut prev = Prev::Nothing;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '.' => {
                // The seed: any single character except '\r' and '\n'.
                out.push_str(r"[^\r\n]");
                prev = Prev::Atom;
            }
            '*' | '?' => {
                if prev != Prev::Atom {
                    return Err(format!(
                        "'{c}' at character {} has nothing to repeat; use '.*' to match any \
                         sequence of characters",
                        i + 1
                    ));
                }
                out.push(c);
                prev = Prev::Quantifier;
            }
            '[' => {
                let (class, next) = translate_class(&chars, i)?;
                out.push_str(&class);
                i = next;
                prev = Prev::Atom;
                continue;
            }
            ']' => {
                return Err(format!("has an unmatched ']' at character {}", i + 1));
            }
            c if UNSUPPORTED_CHARS.contains(&c) => return Err(unsupported_char_reason(c)),
            c => {
                out.push_str(&regex_lite::escape(c.encode_utf8(&mut [0; 4])));
                prev = Prev::Atom;
            }
        }
        i += 1;
    }
    Ok(out)
}

/// Translates the bracket expression starting at `chars[start] == '['`.
/// Returns the regex text and the index just past the closing `]`.
fn translate_class(chars: &[char], start: usize) -> Result<(String, usize), String> {
    let mut out = String::from("[");
    let mut i = start + 1;
    if chars.get(i) == Some(&'^') {
        out.push('^');
        i += 1;
    }
    let body_start = i;
    while i < chars.len() && chars[i] != ']' {
        let c = chars[i];
        if c == '\\' {
            return Err("backslash escapes are not supported in patterns".into());
        }
        let is_range =
            chars.get(i + 1) == Some(&'-') && chars.get(i + 2).is_some_and(|&end| end != ']');
        if is_range {
            let end = chars[i + 2];
            if end == '\\' {
                return Err("backslash escapes are not supported in patterns".into());
            }
            if end < c {
                return Err(format!("has an invalid range '{c}-{end}' (start is after end)"));
            }
            out.push_str(&escape_char(c));
            out.push('-');
            out.push_str(&escape_char(end));
            i += 3;
        } else {
            out.push_str(&escape_char(c));
            i += 1;
        }
    }
    if i >= chars.len() {
        return Err(format!("has an unclosed '[' at character {}", start + 1));
    }
    if i == body_start {
        return Err(format!("has an empty character set at character {}", start + 1));
    }
    out.push(']');
    Ok((out, i + 1))
}

fn escape_char(c: char) -> String {
    regex_lite::escape(c.encode_utf8(&mut [0; 4]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pat(text: &str) -> NamePattern {
        NamePattern::parse(text).unwrap()
    }

    #[test]
    fn plain_names_match_exactly_and_case_sensitively() {
        let p = pat("orders");
        assert!(!p.is_pattern());
        assert!(p.matches("orders"));
        assert!(!p.matches("Orders"));
        assert!(!p.matches("orders2"));
        // `$` and spaces are legal identifier characters, taken literally.
        assert!(pat("a$b").matches("a$b"));
        assert!(pat("gmt modify").matches("gmt modify"));
    }

    #[test]
    fn seed_examples_behave_as_documented() {
        let p = pat("h.*llo");
        assert!(p.is_pattern());
        assert!(p.matches("hllo") && p.matches("heeeello"));
        let p = pat("h.?llo");
        assert!(p.matches("hllo") && p.matches("hello") && !p.matches("haello"));
        let p = pat("h[ae]llo");
        assert!(p.matches("hallo") && p.matches("hello") && !p.matches("hillo"));
        let p = pat("h[^ae]llo");
        assert!(p.matches("hcllo") && p.matches("hdllo"));
        assert!(!p.matches("hallo") && !p.matches("hello"));
        let p = pat("t[0-9]");
        assert!(p.matches("t7") && !p.matches("ta") && !p.matches("t10"));
        assert!(pat("[a-z]*").matches("abc"));
    }

    #[test]
    fn patterns_are_anchored() {
        let p = pat("order.*");
        assert!(p.matches("orders") && p.matches("order"));
        assert!(!p.matches("old_orders"));
    }

    #[test]
    fn dot_does_not_match_line_breaks() {
        let p = pat("a.b");
        assert!(p.matches("a-b"));
        assert!(!p.matches("a\nb") && !p.matches("a\rb"));
    }

    #[test]
    fn class_members_are_literal() {
        let p = pat("x[-&~.]");
        assert!(p.matches("x-") && p.matches("x&") && p.matches("x~") && p.matches("x."));
        assert!(!p.matches("xa"));
        assert!(pat("x[a-]").matches("x-"));
    }

    #[test]
    fn unsupported_syntax_is_rejected() {
        for bad in ["(a|b).*", "a+.*", "a{2}.*", r"a\.b", "^a.*", "a|b", "(orders)"] {
            let err = NamePattern::parse(bad).unwrap_err();
            assert!(err.contains("not supported"), "{bad}: {err}");
        }
    }

    #[test]
    fn malformed_patterns_are_rejected() {
        assert!(NamePattern::parse("*abc").unwrap_err().contains("nothing to repeat"));
        assert!(NamePattern::parse("a**").unwrap_err().contains("nothing to repeat"));
        assert!(NamePattern::parse("a[bc").unwrap_err().contains("unclosed"));
        assert!(NamePattern::parse("ab]").unwrap_err().contains("unmatched"));
        assert!(NamePattern::parse("a[]").unwrap_err().contains("empty character set"));
        assert!(NamePattern::parse("a[z-a]").unwrap_err().contains("invalid range"));
        assert!(NamePattern::parse(r"a[\d]").unwrap_err().contains("backslash"));
    }

    #[test]
    fn name_text_rules() {
        assert!(NamePattern::parse("").unwrap_err().contains("empty"));
        assert!(NamePattern::parse("  ").unwrap_err().contains("empty"));
        assert!(NamePattern::parse("a\tb").unwrap_err().contains("control"));
        let long = "a".repeat(MAX_NAME_CHARS + 1);
        assert!(NamePattern::parse(&long).unwrap_err().contains("longer"));
    }

    #[test]
    fn equality_follows_the_text() {
        assert_eq!(pat("a.*"), pat("a.*"));
        assert_ne!(pat("a.*"), pat("a.?"));
    }
}
