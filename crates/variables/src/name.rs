//! Variable names: lower-case words of ASCII letters and digits joined by single `_`,
//! starting with a letter (`api_key`, `db2_url`) — the same rule as Spin and the manifest.

use crate::VariablesError;

/// Checks that `name` is a valid variable name, returning why it is not.
///
/// ```
/// assert!(skiff_variables::validate_name("api_key").is_ok());
/// let err = skiff_variables::validate_name("API_KEY").unwrap_err();
/// assert_eq!(err.to_string(), "invalid variable name `API_KEY`: must be lower-case");
/// ```
pub fn validate_name(name: &str) -> Result<(), VariablesError> {
    match problem(name) {
        None => Ok(()),
        Some(reason) => Err(VariablesError::InvalidName {
            name: name.to_string(),
            reason,
        }),
    }
}

/// What is wrong with `name`, if anything.
fn problem(name: &str) -> Option<&'static str> {
    let Some(first) = name.chars().next() else {
        return Some("must not be empty");
    };
    if !first.is_ascii_alphabetic() {
        return Some(if first == '_' {
            "must not start or end with `_`"
        } else {
            "must start with a letter"
        });
    }
    if name.ends_with('_') {
        return Some("must not start or end with `_`");
    }
    if name.contains("__") {
        return Some("must not contain `__`");
    }
    for c in name.chars() {
        if c.is_ascii_uppercase() {
            return Some("must be lower-case");
        }
        if !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
            return Some("may contain only lower-case letters, digits and `_`");
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(name: &str) -> Option<&'static str> {
        match validate_name(name) {
            Ok(()) => None,
            Err(VariablesError::InvalidName { reason, .. }) => Some(reason),
            Err(other) => panic!("unexpected error {other}"),
        }
    }

    #[test]
    fn valid_names() {
        for ok in ["a", "api_key", "db2", "a_1", "x9_y8_z7"] {
            assert_eq!(reason(ok), None, "{ok}");
        }
    }

    #[test]
    fn invalid_names() {
        for (bad, why) in [
            ("", "must not be empty"),
            ("API_KEY", "must be lower-case"),
            ("apiKey", "must be lower-case"),
            ("2x", "must start with a letter"),
            ("_x", "must not start or end with `_`"),
            ("x_", "must not start or end with `_`"),
            ("a__b", "must not contain `__`"),
            (
                "api-key",
                "may contain only lower-case letters, digits and `_`",
            ),
            ("a b", "may contain only lower-case letters, digits and `_`"),
            ("é", "must start with a letter"),
        ] {
            assert_eq!(reason(bad), Some(why), "{bad:?}");
        }
    }
}
