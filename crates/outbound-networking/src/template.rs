//! `{{ variable }}` expansion in `allowed_outbound_hosts` entries, as Spin's expressions do it.

use crate::error::PatternErrorKind;

/// Expands every `{{ name }}` in `pattern` with `resolve(name)` (the name trimmed of
/// whitespace). Returns `Ok(None)` when the pattern has no `{{` at all. Values are inserted as
/// they are: braces in a value are not expanded again.
pub(crate) fn expand(
    pattern: &str,
    resolve: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<String>, PatternErrorKind> {
    if !pattern.contains("{{") {
        return Ok(None);
    }
    let mut out = String::with_capacity(pattern.len());
    let mut rest = pattern;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or(PatternErrorKind::UnclosedTemplate)?;
        let name = after[..end].trim();
        if name.is_empty() {
            return Err(PatternErrorKind::EmptyVariable);
        }
        let value = resolve(name).ok_or_else(|| PatternErrorKind::UnresolvedVariable {
            name: name.to_string(),
        })?;
        out.push_str(&value);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(name: &str) -> Option<String> {
        match name {
            "host" => Some("api.example.com".into()),
            "port" => Some("8443".into()),
            "braces" => Some("{{ host }}".into()),
            _ => None,
        }
    }

    #[test]
    fn expands_variables() {
        assert_eq!(expand("https://example.com", &vars), Ok(None));
        assert_eq!(
            expand("https://{{host}}:{{ port }}", &vars),
            Ok(Some("https://api.example.com:8443".into()))
        );
        assert_eq!(expand("{{ braces }}", &vars), Ok(Some("{{ host }}".into())));
        assert_eq!(
            expand("https://{{ nope }}", &vars),
            Err(PatternErrorKind::UnresolvedVariable {
                name: "nope".into()
            })
        );
        assert_eq!(
            expand("https://{{ host", &vars),
            Err(PatternErrorKind::UnclosedTemplate)
        );
        assert_eq!(
            expand("https://{{ }}", &vars),
            Err(PatternErrorKind::EmptyVariable)
        );
    }
}
