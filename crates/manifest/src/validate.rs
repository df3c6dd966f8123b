//! Rules for names written in manifests: component ids, variable names, store
//! labels, environment keys and `{{ variable }}` templates.

use crate::model::ManifestKind;

/// Component ids are kebab-case: words of lowercase ASCII letters and digits joined
/// by `-`, starting with a letter (`api`, `static-files`, `v2-api`). Spin manifests
/// also allow all-UPPERCASE words, as Spin does.
pub(crate) fn component_id(id: &str, kind: ManifestKind) -> Result<(), String> {
    words(id, '-', kind == ManifestKind::Spin)
        .map_err(|reason| format!("invalid component id `{id}`: {reason}"))
}

/// Variable names are snake_case: words of lowercase ASCII letters and digits
/// joined by `_`, starting with a letter (`api_key`, `db_url2`).
pub(crate) fn variable_name(name: &str) -> Result<(), String> {
    words(name, '_', false).map_err(|reason| format!("invalid variable name `{name}`: {reason}"))
}

/// Key-value store and SQLite database labels are kebab-case or snake_case.
pub(crate) fn label(label: &str) -> Result<(), String> {
    match words(label, '-', true).or_else(|_| words(label, '_', true)) {
        Ok(()) => Ok(()),
        Err(_) => Err(format!(
            "invalid label `{label}`: expected kebab-case or snake_case (letters, digits, and `-` or `_`), starting with a letter"
        )),
    }
}

/// Environment variable names must be non-empty and free of `=` and NUL.
pub(crate) fn env_key(key: &str) -> Result<(), String> {
    if key.is_empty() {
        Err("environment variable names must not be empty".to_string())
    } else if key.contains('=') {
        Err(format!(
            "environment variable name `{key}` must not contain `=`"
        ))
    } else if key.contains('\0') {
        Err(format!(
            "environment variable name {key:?} must not contain NUL"
        ))
    } else {
        Ok(())
    }
}

/// The variable names a template string such as `"https://{{ host }}/v1"` refers to.
/// An HTTP header name: a token (letters, digits and ``!#$%&'*+-.^_`|~``).
pub(crate) fn header_name(name: &str) -> Result<(), String> {
    let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if !name.is_empty() && name.chars().all(token) {
        Ok(())
    } else {
        Err(format!("`{name}` is not an HTTP header name"))
    }
}

/// An HTTP header value: visible characters, spaces and tabs (no line breaks).
pub(crate) fn header_value(value: &str) -> Result<(), String> {
    if value
        .chars()
        .all(|c| c == '\t' || (c >= ' ' && c != '\u{7f}'))
    {
        Ok(())
    } else {
        Err("a header value may not hold line breaks or control characters".to_string())
    }
}

pub(crate) fn template_refs(template: &str) -> Result<Vec<String>, String> {
    let mut names = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            return Err(format!(
                "unclosed `{{{{` in `{template}` (a template looks like `{{{{ name }}}}`)"
            ));
        };
        let name = after[..end].trim();
        if name.is_empty() {
            return Err(format!(
                "empty `{{{{ }}}}` in `{template}`: name a variable"
            ));
        }
        variable_name(name).map_err(|e| format!("in template `{template}`: {e}"))?;
        names.push(name.to_string());
        rest = &after[end + 2..];
    }
    Ok(names)
}

/// A likely intended id for a rejected one (`My_App` → `my-app`), for hints.
pub(crate) fn suggest_id(id: &str, delim: char) -> String {
    let mut out = String::new();
    for c in id.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with(delim) {
            out.push(delim);
        }
    }
    let out = out
        .trim_end_matches(delim)
        .trim_start_matches(|c: char| c.is_ascii_digit());
    if out.is_empty() {
        "my-id".replace('-', &delim.to_string())
    } else {
        out.to_string()
    }
}

/// Checks `id` is `delim`-separated words of ASCII letters and digits; the first
/// word starts with a letter; every word is lowercase (or, if `upper_words`,
/// all uppercase).
fn words(id: &str, delim: char, upper_words: bool) -> Result<(), String> {
    if id.is_empty() {
        return Err("must not be empty".to_string());
    }
    let other = if delim == '-' { '_' } else { '-' };
    if id.contains(other) {
        return Err(format!(
            "words must be separated by `{delim}`, not `{other}`"
        ));
    }
    for (i, word) in id.split(delim).enumerate() {
        let Some(first) = word.chars().next() else {
            return Err(format!(
                "must not start or end with `{delim}` or contain `{delim}{delim}`"
            ));
        };
        if i == 0 && !first.is_ascii_alphabetic() {
            return Err("must start with a letter".to_string());
        }
        if let Some(bad) = word.chars().find(|c| !c.is_ascii_alphanumeric()) {
            return Err(format!(
                "may contain only ASCII letters, digits and `{delim}` (found {bad:?})"
            ));
        }
        let lower = word.chars().all(|c| !c.is_ascii_uppercase());
        let upper = word.chars().all(|c| !c.is_ascii_lowercase());
        if !(lower || (upper_words && upper)) {
            return Err("must be lowercase".to_string());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ManifestKind::{Skiff, Spin};

    #[test]
    fn component_ids() {
        for ok in ["api", "static-files", "v2-api", "a-1", "a1b2"] {
            assert_eq!(component_id(ok, Skiff), Ok(()), "{ok}");
        }
        assert_eq!(component_id("API-v2", Spin), Ok(()));
        assert_eq!(
            component_id("API-v2", Skiff).unwrap_err(),
            "invalid component id `API-v2`: must be lowercase"
        );
        assert_eq!(
            component_id("my_api", Spin).unwrap_err(),
            "invalid component id `my_api`: words must be separated by `-`, not `_`"
        );
        assert_eq!(
            component_id("1api", Skiff).unwrap_err(),
            "invalid component id `1api`: must start with a letter"
        );
        assert_eq!(
            component_id("a--b", Skiff).unwrap_err(),
            "invalid component id `a--b`: must not start or end with `-` or contain `--`"
        );
        assert_eq!(
            component_id("a.b", Skiff).unwrap_err(),
            "invalid component id `a.b`: may contain only ASCII letters, digits and `-` (found '.')"
        );
        assert_eq!(
            component_id("", Skiff).unwrap_err(),
            "invalid component id ``: must not be empty"
        );
        assert_eq!(
            component_id("Api", Spin).unwrap_err(),
            "invalid component id `Api`: must be lowercase"
        );
    }

    #[test]
    fn variable_names() {
        for ok in ["greeting", "api_key", "db2", "a_1"] {
            assert_eq!(variable_name(ok), Ok(()), "{ok}");
        }
        assert_eq!(
            variable_name("api-key").unwrap_err(),
            "invalid variable name `api-key`: words must be separated by `_`, not `-`"
        );
        assert_eq!(
            variable_name("API_KEY").unwrap_err(),
            "invalid variable name `API_KEY`: must be lowercase"
        );
        assert!(
            variable_name("_x")
                .unwrap_err()
                .contains("must not start or end")
        );
        assert_eq!(
            variable_name("2x").unwrap_err(),
            "invalid variable name `2x`: must start with a letter"
        );
    }

    #[test]
    fn labels() {
        assert_eq!(label("default"), Ok(()));
        assert_eq!(label("my-store"), Ok(()));
        assert_eq!(label("my_store"), Ok(()));
        assert!(
            label("b@d")
                .unwrap_err()
                .starts_with("invalid label `b@d`: expected kebab-case or snake_case")
        );
    }

    #[test]
    fn env_keys() {
        assert_eq!(env_key("RUST_LOG"), Ok(()));
        assert_eq!(
            env_key("").unwrap_err(),
            "environment variable names must not be empty"
        );
        assert_eq!(
            env_key("A=B").unwrap_err(),
            "environment variable name `A=B` must not contain `=`"
        );
    }

    #[test]
    fn templates() {
        assert_eq!(template_refs("plain"), Ok(vec![]));
        assert_eq!(
            template_refs("https://{{ host }}:{{port}}/x"),
            Ok(vec!["host".to_string(), "port".to_string()])
        );
        assert_eq!(
            template_refs("{{ host").unwrap_err(),
            "unclosed `{{` in `{{ host` (a template looks like `{{ name }}`)"
        );
        assert_eq!(
            template_refs("a{{ }}").unwrap_err(),
            "empty `{{ }}` in `a{{ }}`: name a variable"
        );
        assert_eq!(
            template_refs("{{ Host }}").unwrap_err(),
            "in template `{{ Host }}`: invalid variable name `Host`: must be lowercase"
        );
    }

    #[test]
    fn suggested_ids() {
        assert_eq!(suggest_id("My_App", '-'), "my-app");
        assert_eq!(suggest_id("apiKey", '_'), "apikey");
        assert_eq!(suggest_id("API-KEY", '_'), "api_key");
        assert_eq!(suggest_id("1x", '-'), "x");
        assert_eq!(suggest_id("--", '-'), "my-id");
    }
}
