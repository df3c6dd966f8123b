//! `{{ name }}` templates, as in component `variables` and `allowed_outbound_hosts`.
//!
//! The syntax is Spin's: `{{` opens a reference and the first `}}` after it closes it;
//! the name in between may have whitespace around it and must be a valid variable name.
//! There is no escape sequence — a literal `{{` cannot be written (Spin has none either),
//! while a lone `}}` is just text.

use std::fmt;

use crate::name::validate_name;
use crate::{Value, VariablesError};

/// A parsed template: literal text and variable references, in order.
#[derive(Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Variable(String),
}

impl Template {
    /// Parses `text`. The error says what is wrong without repeating the text (a
    /// component may hold a secret as a literal).
    ///
    /// ```
    /// use skiff_variables::Template;
    /// let t = Template::parse("https://{{ host }}:{{port}}/v1").unwrap();
    /// assert_eq!(t.variables().collect::<Vec<_>>(), ["host", "port"]);
    /// assert!(Template::parse("{{ host").is_err());
    /// ```
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("{{") {
            if start > 0 {
                parts.push(Part::Literal(rest[..start].to_string()));
            }
            let after = &rest[start + 2..];
            let Some(end) = after.find("}}") else {
                return Err(
                    "`{{` has no matching `}}` (a reference looks like `{{ name }}`)".into(),
                );
            };
            let name = after[..end].trim();
            if name.is_empty() {
                return Err(
                    "`{{ }}` names no variable (a reference looks like `{{ name }}`)".into(),
                );
            }
            validate_name(name).map_err(|e| format!("in `{{{{ }}}}`: {e}"))?;
            parts.push(Part::Variable(name.to_string()));
            rest = &after[end + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_string()));
        }
        Ok(Template { parts })
    }

    /// The names referenced, in order of appearance (repeats included).
    pub fn variables(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Variable(name) => Some(name.as_str()),
            Part::Literal(_) => None,
        })
    }

    /// Whether the template is plain text, with no references.
    pub fn is_literal(&self) -> bool {
        self.variables().next().is_none()
    }

    /// Expands every reference with `resolve(name)`, stopping at its first error.
    pub fn expand<F>(&self, mut resolve: F) -> Result<Value, VariablesError>
    where
        F: FnMut(&str) -> Result<Value, VariablesError>,
    {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(text) => out.push_str(text),
                Part::Variable(name) => out.push_str(resolve(name)?.expose()),
            }
        }
        Ok(Value::new(out))
    }
}

/// Shows the references only; literal text could be a secret.
impl fmt::Debug for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Template(\"")?;
        for part in &self.parts {
            match part {
                Part::Literal(_) => f.write_str("…")?,
                Part::Variable(name) => write!(f, "{{{{ {name} }}}}")?,
            }
        }
        f.write_str("\")")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand(text: &str) -> String {
        Template::parse(text)
            .unwrap()
            .expand(|name| Ok(Value::new(name.to_uppercase())))
            .unwrap()
            .into_exposed()
    }

    #[test]
    fn expands_references() {
        assert_eq!(expand(""), "");
        assert_eq!(expand("plain"), "plain");
        assert_eq!(expand("{{a}}"), "A");
        assert_eq!(expand("x{{ a }}y{{  b_2\t}}z"), "xAyB_2z");
        assert_eq!(expand("{{a}}{{b}}"), "AB");
        assert_eq!(expand("a }} b"), "a }} b");
        assert_eq!(expand("{{ a }}}}"), "A}}");
    }

    #[test]
    fn rejects_bad_references() {
        for (text, why) in [
            ("{{ a", "has no matching"),
            ("x {{ a }} {{", "has no matching"),
            ("{{}}", "names no variable"),
            ("{{   }}", "names no variable"),
            ("{{ API }}", "must be lower-case"),
            ("{{ a-b }}", "may contain only"),
            ("{{{ a }}}", "must start with a letter"),
        ] {
            let err = Template::parse(text).unwrap_err();
            assert!(err.contains(why), "{text:?}: {err}");
        }
    }

    #[test]
    fn debug_hides_literals() {
        let t = Template::parse("secret-literal {{ a }}").unwrap();
        let debug = format!("{t:?}");
        assert_eq!(debug, "Template(\"…{{ a }}\")");
        assert!(t.variables().eq(["a"]));
        assert!(!t.is_literal());
        assert!(Template::parse("x").unwrap().is_literal());
    }
}
