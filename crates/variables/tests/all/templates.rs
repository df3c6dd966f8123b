//! `{{ name }}` template parsing, as Spin parses it.

use skiff_variables::{Template, Value, VariablesError};

fn expand(text: &str) -> Result<String, String> {
    let t = Template::parse(text)?;
    t.expand(|name| Ok(Value::new(format!("<{name}>"))))
        .map(Value::into_exposed)
        .map_err(|e| e.to_string())
}

#[test]
fn whitespace_inside_braces_is_allowed() {
    for text in ["{{x}}", "{{ x }}", "{{   x\t}}", "{{\nx\n}}"] {
        assert_eq!(expand(text).unwrap(), "<x>", "{text:?}");
    }
}

#[test]
fn literals_and_references_mix() {
    assert_eq!(expand("").unwrap(), "");
    assert_eq!(expand("no refs").unwrap(), "no refs");
    assert_eq!(expand("a{{x}}b{{ y }}c").unwrap(), "a<x>b<y>c");
    assert_eq!(expand("{{x}}{{y}}").unwrap(), "<x><y>");
    // A lone `}}` is text; the first `}}` after `{{` closes it.
    assert_eq!(expand("}} {{x}} }}").unwrap(), "}} <x> }}");
    // There is no escape: `{{{{ x }}}}` is `{{` + `{{ x` → name `{{ x` is invalid.
    assert!(
        expand("{{{{ x }}}}")
            .unwrap_err()
            .contains("must start with a letter")
    );
}

#[test]
fn malformed_templates_are_rejected_without_echoing_them() {
    for (text, reason) in [
        ("secret-literal {{ x", "`{{` has no matching `}}`"),
        ("secret-literal {{}}", "names no variable"),
        ("secret-literal {{ X }}", "must be lower-case"),
        ("secret-literal {{ a-b }}", "may contain only"),
    ] {
        let err = Template::parse(text).unwrap_err();
        assert!(err.contains(reason), "{text:?}: {err}");
        assert!(!err.contains("secret-literal"), "{err}");
    }
}

#[test]
fn expansion_stops_at_the_first_error() {
    let t = Template::parse("{{ a }}{{ b }}").unwrap();
    let mut asked = Vec::new();
    let err = t
        .expand(|name| {
            asked.push(name.to_string());
            Err(VariablesError::NoValue {
                name: name.to_string(),
            })
        })
        .unwrap_err();
    assert!(matches!(err, VariablesError::NoValue { name } if name == "a"));
    assert_eq!(asked, ["a"]);
}
