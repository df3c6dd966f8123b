//! NATS subject rules, shared by every backend so that a subject the
//! embedded broker accepts is one a NATS server accepts too.
//!
//! A subject is a non-empty sequence of `.`-separated, non-empty tokens
//! without whitespace or control characters. Subscriptions may use
//! wildcards: a `*` token matches exactly one token, and a `>` token, only
//! as the last one, matches one or more tokens.
//!
//! A `*` or `>` inside a longer token (`a*b`, `x>`) is not a wildcard: NATS
//! treats it as a plain character, and so do these functions, which accept
//! such tokens as literals in both publish and subscribe subjects.
//!
//! ```
//! use skiff_messaging::subject::{check_publish, check_subscribe, matches};
//!
//! assert!(check_publish("orders.eu.created").is_ok());
//! assert!(check_publish("orders.*").is_err());
//! assert!(check_subscribe("orders.*.created").is_ok());
//! assert!(matches("orders.>", "orders.eu.created"));
//! assert!(!matches("orders.*", "orders.eu.created"));
//! ```

use crate::error::Error;

/// Checks a subject to publish (or send a request) on: non-empty, no
/// empty tokens (`a..b`, a leading or trailing `.`), no whitespace or
/// control characters, and no wildcard tokens (`*`, `>`).
pub fn check_publish(subject: &str) -> Result<(), Error> {
    check(subject, false)
}

/// Checks a subject to subscribe to: the rules of [`check_publish`], except
/// that `*` may stand as a whole token anywhere and `>` as the whole last
/// token. Partial wildcards (`a*b`) are accepted as literal characters, as
/// NATS does.
pub fn check_subscribe(subject: &str) -> Result<(), Error> {
    check(subject, true)
}

/// Checks a queue group name: non-empty, no whitespace or control
/// characters (NATS's protocol framing forbids them).
pub fn check_queue_group(group: &str) -> Result<(), Error> {
    if group.is_empty() {
        return Err(Error::InvalidSubject(
            "queue group name must not be empty".to_string(),
        ));
    }
    if let Some(c) = group.chars().find(|c| is_forbidden(*c)) {
        return Err(Error::InvalidSubject(format!(
            "queue group `{}` contains {}",
            group.escape_debug(),
            describe_char(c)
        )));
    }
    Ok(())
}

/// Whether `subject` (a plain subject) is matched by `pattern` (a
/// subscription subject), token by token: `*` matches any one token, a
/// final `>` one or more tokens, any other token only itself.
///
/// Both are assumed to be valid ([`check_subscribe`], [`check_publish`]);
/// for invalid input the answer is merely some answer.
pub fn matches(pattern: &str, subject: &str) -> bool {
    let mut pattern_tokens = pattern.split('.');
    let mut subject_tokens = subject.split('.');
    loop {
        match (pattern_tokens.next(), subject_tokens.next()) {
            // `>` must be last and needs at least one token to match.
            (Some(">"), Some(_)) => return pattern_tokens.next().is_none(),
            (Some("*"), Some(_)) => {}
            (Some(p), Some(s)) if p == s => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

fn check(subject: &str, wildcards: bool) -> Result<(), Error> {
    let invalid = |what: String| {
        Err(Error::InvalidSubject(format!(
            "invalid subject `{}`: {what}",
            subject.escape_debug()
        )))
    };
    if subject.is_empty() {
        return Err(Error::InvalidSubject(
            "invalid subject: it is empty".to_string(),
        ));
    }
    if let Some(c) = subject.chars().find(|c| is_forbidden(*c)) {
        return invalid(format!("it contains {}", describe_char(c)));
    }
    let count = subject.split('.').count();
    for (i, token) in subject.split('.').enumerate() {
        let last = i + 1 == count;
        match token {
            "" if i == 0 => return invalid("it starts with `.`".to_string()),
            "" if last => return invalid("it ends with `.`".to_string()),
            "" => return invalid("it has an empty token (`..`)".to_string()),
            "*" | ">" if !wildcards => {
                return invalid(format!(
                    "the wildcard `{token}` is only allowed in subscriptions, not when publishing"
                ));
            }
            ">" if !last => {
                return invalid("the wildcard `>` is only allowed as the last token".to_string());
            }
            _ => {}
        }
    }
    Ok(())
}

fn is_forbidden(c: char) -> bool {
    c.is_whitespace() || c.is_control()
}

fn describe_char(c: char) -> String {
    match c {
        ' ' => "a space".to_string(),
        '\t' => "a tab".to_string(),
        '\r' | '\n' => "a line break".to_string(),
        c if c.is_control() => format!("the control character U+{:04X}", c as u32),
        c => format!("the whitespace character U+{:04X}", c as u32),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_subjects() {
        let ok = [
            "a",
            "orders",
            "orders.eu.created",
            "_INBOX.abc123",
            "a-b_c.d~e",
            "späße.ключ",
            // Partial wildcards are plain characters.
            "a*b",
            "x>.y",
            "a.*b.c>",
        ];
        for subject in ok {
            assert_eq!(check_publish(subject), Ok(()), "{subject:?}");
        }
        let bad = [
            ("", "empty"),
            (".a", "starts with `.`"),
            ("a.", "ends with `.`"),
            (".", "starts with `.`"),
            ("a..b", "empty token"),
            ("a b", "a space"),
            ("a\tb", "a tab"),
            ("a\nb", "a line break"),
            ("a\r", "a line break"),
            ("a\u{0}b", "control character U+0000"),
            ("a\u{7f}", "control character U+007F"),
            ("a\u{a0}b", "whitespace character U+00A0"),
            ("*", "only allowed in subscriptions"),
            ("a.*", "only allowed in subscriptions"),
            ("a.*.b", "only allowed in subscriptions"),
            (">", "only allowed in subscriptions"),
            ("a.>", "only allowed in subscriptions"),
        ];
        for (subject, why) in bad {
            match check_publish(subject) {
                Err(Error::InvalidSubject(message)) => {
                    assert!(message.contains(why), "{subject:?}: {message}");
                    if !subject.is_empty() {
                        assert!(
                            message.contains(&subject.escape_debug().to_string()),
                            "{subject:?}: {message}"
                        );
                    }
                }
                other => panic!("{subject:?}: expected InvalidSubject, got {other:?}"),
            }
        }
    }

    #[test]
    fn subscribe_subjects() {
        let ok = [
            "a", "a.b.c", "*", ">", "a.*", "*.b", "a.*.c", "*.*.*", "a.>", "*.>", "a*b", "a.b>",
        ];
        for subject in ok {
            assert_eq!(check_subscribe(subject), Ok(()), "{subject:?}");
        }
        let bad = [
            ("", "empty"),
            ("a..b", "empty token"),
            (".>", "starts with `.`"),
            ("a.*.", "ends with `.`"),
            ("a b.>", "a space"),
            (">.a", "only allowed as the last token"),
            ("a.>.b", "only allowed as the last token"),
            ("a.>.>", "only allowed as the last token"),
        ];
        for (subject, why) in bad {
            match check_subscribe(subject) {
                Err(Error::InvalidSubject(message)) => {
                    assert!(message.contains(why), "{subject:?}: {message}")
                }
                other => panic!("{subject:?}: expected InvalidSubject, got {other:?}"),
            }
        }
    }

    #[test]
    fn queue_groups() {
        assert_eq!(check_queue_group("workers"), Ok(()));
        assert_eq!(check_queue_group("a.b-c"), Ok(()));
        assert!(check_queue_group("").is_err());
        assert!(check_queue_group("two words").is_err());
        assert!(check_queue_group("line\nbreak").is_err());
    }

    #[test]
    fn matching() {
        let table = [
            ("a", "a", true),
            ("a", "b", false),
            ("a.b", "a.b", true),
            ("a.b", "a", false),
            ("a", "a.b", false),
            ("a.b", "a.c", false),
            ("*", "a", true),
            ("*", "a.b", false),
            ("a.*", "a.b", true),
            ("a.*", "a", false),
            ("a.*", "a.b.c", false),
            ("*.b", "a.b", true),
            ("*.b", "a.c", false),
            ("a.*.c", "a.b.c", true),
            ("a.*.c", "a.b.d", false),
            ("*.*", "a.b", true),
            (">", "a", true),
            (">", "a.b.c", true),
            ("a.>", "a.b", true),
            ("a.>", "a.b.c", true),
            ("a.>", "a", false),
            ("a.>", "b.c", false),
            ("*.>", "a.b", true),
            ("*.>", "a", false),
            ("a.*.>", "a.b.c.d", true),
            ("a.*.>", "a.b", false),
            // Partial wildcards are literal.
            ("a*", "a*", true),
            ("a*", "ab", false),
            ("a.b>", "a.b>", true),
            ("a.b>", "a.bc", false),
            // A plain subject that spells a wildcard matches only itself.
            ("a.b", "a.*", false),
        ];
        for (pattern, subject, expected) in table {
            assert_eq!(
                matches(pattern, subject),
                expected,
                "matches({pattern:?}, {subject:?})"
            );
        }
    }
}
