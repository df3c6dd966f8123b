//! Checking `[[trigger.messaging]]` subjects and queue groups, which follow NATS:
//! a subject is `.`-separated non-empty tokens without whitespace (`orders.new`);
//! a `*` token matches any one token and a `>` token, last only, matches the rest
//! (`orders.*.created`, `events.>`).

/// Why a subject or queue group was rejected.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct SyntaxError {
    pub message: String,
    pub hint: Option<String>,
}

impl SyntaxError {
    fn new(message: impl Into<String>) -> Self {
        SyntaxError {
            message: message.into(),
            hint: None,
        }
    }

    fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

/// Checks a subject without `{{ variable }}` templates (one with templates is
/// checked only once its variables are known).
pub(crate) fn check_subject(subject: &str) -> Result<(), SyntaxError> {
    if let Some(c) = subject
        .chars()
        .find(|c| c.is_whitespace() || c.is_control())
    {
        return Err(SyntaxError::new(format!(
            "subject `{subject}` contains whitespace or a control character ({c:?})"
        ))
        .hint("a subject is `.`-separated tokens without spaces, e.g. \"orders.created\""));
    }
    let tokens: Vec<&str> = subject.split('.').collect();
    if tokens.iter().any(|t| t.is_empty()) {
        let error = SyntaxError::new(format!(
            "subject `{subject}` has an empty token (a leading or trailing `.`, or `..`)"
        ));
        let kept: Vec<&str> = tokens.into_iter().filter(|t| !t.is_empty()).collect();
        return Err(if kept.is_empty() {
            error.hint("a subject is `.`-separated tokens, e.g. \"orders.created\"")
        } else {
            error.hint(format!("did you mean \"{}\"?", kept.join(".")))
        });
    }
    let last = tokens.len() - 1;
    for (i, token) in tokens.iter().enumerate() {
        match *token {
            "*" => {}
            ">" if i == last => {}
            ">" => {
                let one: Vec<&str> = tokens
                    .iter()
                    .enumerate()
                    .map(|(j, t)| if *t == ">" && j != last { "*" } else { t })
                    .collect();
                return Err(SyntaxError::new(format!(
                    "subject `{subject}`: `>` is only allowed as the last token (`prefix.>`)"
                ))
                .hint(format!(
                    "`>` matches all the remaining tokens; `*` matches one: \"{}\"",
                    one.join(".")
                )));
            }
            _ if token.contains(['*', '>']) => {
                return Err(SyntaxError::new(format!(
                    "subject `{subject}`: token `{token}` mixes a wildcard with other characters"
                ))
                .hint("a wildcard is a whole token: `*` matches one token (`orders.*`), a final `>` the rest (`orders.>`)"));
            }
            _ => {}
        }
    }
    Ok(())
}

/// Checks a queue group name: one word, no whitespace (emptiness is checked
/// with the value's type).
pub(crate) fn check_queue_group(group: &str) -> Result<(), SyntaxError> {
    match group.chars().find(|c| c.is_whitespace() || c.is_control()) {
        Some(c) => Err(SyntaxError::new(format!(
            "queue group `{group}` contains whitespace or a control character ({c:?})"
        ))
        .hint("a queue group is one name, e.g. \"workers\"")),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(s: &str) -> SyntaxError {
        check_subject(s).unwrap_err()
    }

    #[test]
    fn valid_subjects() {
        for ok in [
            "orders",
            "orders.created",
            "orders.*",
            "orders.*.created",
            "*",
            ">",
            "events.>",
            "*.>",
            "a-b_c.D9.$SYS",
        ] {
            assert_eq!(check_subject(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn invalid_subjects() {
        let e = err("orders..new");
        assert_eq!(
            e.message,
            "subject `orders..new` has an empty token (a leading or trailing `.`, or `..`)"
        );
        assert_eq!(e.hint.as_deref(), Some("did you mean \"orders.new\"?"));
        assert_eq!(err(".a.").hint.as_deref(), Some("did you mean \"a\"?"));
        assert_eq!(
            err("").hint.as_deref(),
            Some("a subject is `.`-separated tokens, e.g. \"orders.created\"")
        );
        assert_eq!(err("..").hint, err("").hint);

        let e = err("a.>.b");
        assert_eq!(
            e.message,
            "subject `a.>.b`: `>` is only allowed as the last token (`prefix.>`)"
        );
        assert_eq!(
            e.hint.as_deref(),
            Some("`>` matches all the remaining tokens; `*` matches one: \"a.*.b\"")
        );

        let e = err("with space");
        assert_eq!(
            e.message,
            "subject `with space` contains whitespace or a control character (' ')"
        );
        assert_eq!(
            err("a\tb").message,
            "subject `a\tb` contains whitespace or a control character ('\\t')"
        );

        for bad in ["orders.new*", "orders.>>", "a.*b.c", "x>"] {
            assert!(
                err(bad)
                    .message
                    .ends_with("mixes a wildcard with other characters"),
                "{bad}"
            );
        }
    }

    #[test]
    fn queue_groups() {
        assert_eq!(check_queue_group("workers"), Ok(()));
        assert_eq!(check_queue_group("billing.v2-workers"), Ok(()));
        let e = check_queue_group("my workers").unwrap_err();
        assert_eq!(
            e.message,
            "queue group `my workers` contains whitespace or a control character (' ')"
        );
        assert_eq!(
            e.hint.as_deref(),
            Some("a queue group is one name, e.g. \"workers\"")
        );
    }
}
