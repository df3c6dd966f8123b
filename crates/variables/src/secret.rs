//! [`Value`]: a variable's text, which never shows up in `Debug` or `Display`.

use std::fmt;

/// The text of a variable (a default, a provider's answer, an expanded template).
///
/// Every value is treated as a possible secret: its `Debug` and `Display` print
/// `<redacted>`, so a value cannot reach a log line or an error message by accident.
/// [`Value::expose`] is the one way to read it.
///
/// ```
/// use skiff_variables::Value;
/// let token = Value::new("hunter2");
/// assert_eq!(format!("{token} {token:?}"), "<redacted> Value(<redacted>)");
/// assert_eq!(token.expose(), "hunter2");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Value(String);

impl Value {
    /// Wraps `text`.
    pub fn new(text: impl Into<String>) -> Self {
        Value(text.into())
    }

    /// The text itself. Call this only to hand the value to the guest (or to whatever
    /// needs it to work, such as a host name), never to print it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The text itself, by value.
    pub fn into_exposed(self) -> String {
        self.0
    }
}

impl From<String> for Value {
    fn from(text: String) -> Self {
        Value(text)
    }
}

impl From<&str> for Value {
    fn from(text: &str) -> Self {
        Value(text.to_string())
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Value(<redacted>)")
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}
