//! Reading the TOML tree by hand: every key and value keeps its span, so each
//! problem can be reported with its line, column and dotted key path.

use std::ops::Range;
use std::path::Path;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::error::ManifestError;
use crate::span::{Loc, SourceMap};
use crate::suggest;

/// A parsed TOML table, every key and value with its span.
pub(crate) type Table<'i> = DeTable<'i>;
/// A parsed TOML value with its span.
pub(crate) type Value<'i> = Spanned<DeValue<'i>>;

/// State shared by the whole load: where errors go and how to locate them.
pub(crate) struct Ctx<'a> {
    pub file: &'a Path,
    pub map: SourceMap<'a>,
    pub errors: Vec<ManifestError>,
}

impl<'a> Ctx<'a> {
    pub(crate) fn new(file: &'a Path, text: &'a str) -> Self {
        Ctx {
            file,
            map: SourceMap::new(text),
            errors: Vec::new(),
        }
    }

    pub(crate) fn loc(&self, span: &Range<usize>) -> Loc {
        self.map.locate(span.start)
    }

    /// An error at `loc` about `key`.
    pub(crate) fn error_at(
        &self,
        loc: Loc,
        key: &str,
        message: impl Into<String>,
    ) -> ManifestError {
        ManifestError::new(self.file, message)
            .with_position(loc.line, loc.column)
            .with_key(key)
    }

    /// An error about `key` with no position (something missing from the whole file).
    pub(crate) fn error_nowhere(&self, key: &str, message: impl Into<String>) -> ManifestError {
        ManifestError::new(self.file, message).with_key(key)
    }

    /// An error at the start of `span` about `key`.
    pub(crate) fn error(
        &self,
        span: &Range<usize>,
        key: &str,
        message: impl Into<String>,
    ) -> ManifestError {
        self.error_at(self.loc(span), key, message)
    }

    pub(crate) fn push(&mut self, error: ManifestError) {
        self.errors.push(error);
    }

    /// Fails with the first collected error in file order, if there is any.
    pub(crate) fn finish_phase(&mut self) -> Result<(), ManifestError> {
        // A stable sort keeps insertion order for errors at the same spot.
        self.errors.sort_by_key(ManifestError::position);
        match self.errors.drain(..).next() {
            Some(first) => Err(first),
            None => Ok(()),
        }
    }

    /// Reports every key of `table` not in `known`, with a suggestion.
    pub(crate) fn check_keys(&mut self, table: &Table<'_>, path: &str, known: &[&str]) {
        for (key, _) in table.iter() {
            let name: &str = key.get_ref();
            if known.contains(&name) {
                continue;
            }
            let hint = match legacy_hint(name) {
                Some(hint) => hint.to_string(),
                None => match suggest::closest(name, known.iter().copied()) {
                    Some(close) => format!("did you mean `{close}`?"),
                    None => format!("expected one of: {}", suggest::list(known.iter().copied())),
                },
            };
            let error = self
                .error(
                    &key.span(),
                    &join(path, name),
                    format!("unknown key `{name}`"),
                )
                .with_hint(hint);
            self.push(error);
        }
    }

    /// The value of a required key, or an error at the table.
    pub(crate) fn require<'v, 'i>(
        &mut self,
        table: &'v Table<'i>,
        table_span: &Range<usize>,
        path: &str,
        name: &str,
    ) -> Option<&'v Value<'i>> {
        let value = table.get(name);
        if value.is_none() {
            // A misspelling of it (`sorce`) is what the user wrote: the
            // error points there, with the fix.
            let misspelt = table.iter().find(|(key, _)| {
                let key: &str = key.get_ref();
                key != name && suggest::closest(key, [name]).is_some()
            });
            let error = match misspelt {
                Some((key, _)) => self
                    .error(
                        &key.span(),
                        &join(path, name),
                        format!("missing required key `{name}`"),
                    )
                    .with_hint(format!("`{}` here: did you mean `{name}`?", key.get_ref())),
                None => self.error(
                    table_span,
                    &join(path, name),
                    format!("missing required key `{name}`"),
                ),
            };
            self.push(error);
        }
        value
    }

    /// Reports a value of the wrong type.
    pub(crate) fn wrong_type(&mut self, value: &Value<'_>, key: &str, expected: &str) {
        let error = self.error(
            &value.span(),
            key,
            format!("expected {expected}, found {}", type_name(value.get_ref())),
        );
        self.push(error);
    }

    pub(crate) fn string(&mut self, value: &Value<'_>, key: &str) -> Option<String> {
        match value.get_ref() {
            DeValue::String(s) => Some(s.to_string()),
            _ => {
                self.wrong_type(value, key, "a string");
                None
            }
        }
    }

    /// A string that must not be empty.
    pub(crate) fn non_empty_string(&mut self, value: &Value<'_>, key: &str) -> Option<String> {
        let s = self.string(value, key)?;
        if s.trim().is_empty() {
            let error = self.error(&value.span(), key, "must not be empty");
            self.push(error);
            return None;
        }
        Some(s)
    }

    pub(crate) fn bool(&mut self, value: &Value<'_>, key: &str) -> Option<bool> {
        match value.get_ref() {
            DeValue::Boolean(b) => Some(*b),
            _ => {
                self.wrong_type(value, key, "a boolean (`true` or `false`)");
                None
            }
        }
    }

    pub(crate) fn integer(&mut self, value: &Value<'_>, key: &str) -> Option<i64> {
        match value.get_ref() {
            DeValue::Integer(i) => match i64::from_str_radix(i.as_str(), i.radix()) {
                Ok(n) => Some(n),
                Err(_) => {
                    let error = self.error(&value.span(), key, "integer out of range");
                    self.push(error);
                    None
                }
            },
            _ => {
                self.wrong_type(value, key, "an integer");
                None
            }
        }
    }

    pub(crate) fn table<'v, 'i>(
        &mut self,
        value: &'v Value<'i>,
        key: &str,
        expected: &str,
    ) -> Option<&'v Table<'i>> {
        match value.get_ref() {
            DeValue::Table(t) => Some(t),
            _ => {
                self.wrong_type(value, key, expected);
                None
            }
        }
    }

    pub(crate) fn array<'v, 'i>(
        &mut self,
        value: &'v Value<'i>,
        key: &str,
        expected: &str,
    ) -> Option<&'v [Value<'i>]> {
        match value.get_ref() {
            DeValue::Array(a) => Some(a),
            _ => {
                self.wrong_type(value, key, expected);
                None
            }
        }
    }

    /// An array of strings, each with its location. A lone string gets a hint to wrap it.
    pub(crate) fn string_list(
        &mut self,
        value: &Value<'_>,
        key: &str,
    ) -> Option<Vec<(String, Loc)>> {
        let items = match value.get_ref() {
            DeValue::Array(items) => items,
            DeValue::String(s) => {
                let name = key.rsplit('.').next().unwrap_or(key);
                let error = self
                    .error(
                        &value.span(),
                        key,
                        "expected an array of strings, found a string",
                    )
                    .with_hint(format!("write a list: `{name} = [{s:?}]`"));
                self.push(error);
                return None;
            }
            _ => {
                self.wrong_type(value, key, "an array of strings");
                return None;
            }
        };
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            if let Some(s) = self.string(item, &format!("{key}[{i}]")) {
                out.push((s, self.loc(&item.span())));
            }
        }
        Some(out)
    }

    /// A table whose values are all strings: `(key, key location, value, value location)`.
    pub(crate) fn string_map(
        &mut self,
        value: &Value<'_>,
        key: &str,
    ) -> Option<Vec<(String, Loc, String, Loc)>> {
        let table = self.table(value, key, "a table of strings (`{ NAME = \"value\" }`)")?;
        let mut out = Vec::with_capacity(table.len());
        for (k, v) in table.iter() {
            let name: &str = k.get_ref();
            if let Some(s) = self.string(v, &join(key, name)) {
                out.push((
                    name.to_string(),
                    self.loc(&k.span()),
                    s,
                    self.loc(&v.span()),
                ));
            }
        }
        Some(out)
    }
}

/// Appends `name` to a dotted key path, quoting it when it is not a bare TOML key.
pub(crate) fn join(path: &str, name: &str) -> String {
    let bare = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    let name = if bare {
        name.to_string()
    } else {
        format!("{name:?}")
    };
    if path.is_empty() {
        name
    } else {
        format!("{path}.{name}")
    }
}

/// How a TOML value's type reads in an error message.
pub(crate) fn type_name(value: &DeValue<'_>) -> &'static str {
    match value {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date-time",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

/// Hints for keys from older manifest formats or other tools.
fn legacy_hint(name: &str) -> Option<&'static str> {
    Some(match name {
        "allowed_http_hosts" => {
            "replaced by `allowed_outbound_hosts`, whose entries name the scheme: \
             `allowed_outbound_hosts = [\"https://example.com\"]`"
        }
        "config" => "component configuration is now `variables = { name = \"value\" }`",
        "base" => "route prefixes are written into each `route` (`base` is a Spin v1 setting)",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_quotes_odd_keys() {
        assert_eq!(join("", "a"), "a");
        assert_eq!(join("component.api", "source"), "component.api.source");
        assert_eq!(
            join("component.api.environment", "A=B"),
            "component.api.environment.\"A=B\""
        );
        assert_eq!(join("x", ""), "x.\"\"");
    }
}
