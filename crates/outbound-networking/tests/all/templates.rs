//! `{{ variable }}` templates in entries.

use skiff_outbound_networking::{AllowedHosts, PatternErrorKind};

use crate::{no_vars, target, vars};

#[test]
fn variables_are_expanded_before_parsing() {
    let allowed =
        AllowedHosts::parse(&["https://{{ host }}", "http://{{host}}:{{ port }}"], &vars).unwrap();
    assert!(allowed.allows(&target("https://api.example.com")));
    assert!(allowed.allows(&target("http://api.example.com:8443")));
    assert!(!allowed.allows(&target("http://api.example.com")));
    let entries: Vec<_> = allowed.iter().map(|e| e.as_str().to_string()).collect();
    assert_eq!(
        entries,
        ["https://api.example.com", "http://api.example.com:8443"]
    );
}

#[test]
fn an_unresolvable_variable_is_named() {
    let err = AllowedHosts::parse(&["https://{{ api_host }}"], &no_vars).unwrap_err();
    assert_eq!(
        err.kind(),
        &PatternErrorKind::UnresolvedVariable {
            name: "api_host".into()
        }
    );
    assert_eq!(
        err.to_string(),
        "invalid `allowed_outbound_hosts` entry `https://{{ api_host }}`: the variable `api_host` \
         has no value: declare it in the application's `[variables]` with a default, or give it a \
         value at run time"
    );
}

#[test]
fn errors_after_expansion_show_both_forms() {
    let err = AllowedHosts::parse(&["https://{{ bad_host }}"], &vars).unwrap_err();
    assert_eq!(err.pattern(), "https://{{ bad_host }}");
    assert_eq!(err.expanded(), Some("https://api.example.com/v1"));
    assert_eq!(
        err.to_string(),
        "invalid `allowed_outbound_hosts` entry `https://{{ bad_host }}` (expanded to \
         `https://api.example.com/v1`): it has a path (`/v1`); entries name a scheme, host and \
         port only: write `https://api.example.com`"
    );
}

#[test]
fn malformed_templates() {
    for (pattern, kind) in [
        ("https://{{ host", PatternErrorKind::UnclosedTemplate),
        ("https://{{}}", PatternErrorKind::EmptyVariable),
    ] {
        let err = AllowedHosts::parse(&[pattern], &vars).unwrap_err();
        assert_eq!(err.kind(), &kind, "{pattern}");
    }
    assert_eq!(
        AllowedHosts::parse(&["https://{{ host"], &vars)
            .unwrap_err()
            .to_string(),
        "invalid `allowed_outbound_hosts` entry `https://{{ host`: `{{` has no matching `}}`: \
         variables are written `{{ name }}`"
    );
}

#[test]
fn validate_skips_templates_it_cannot_resolve() {
    assert!(
        AllowedHosts::validate(&["https://{{ unknown }}", "https://ok.example"], &vars).is_ok()
    );
    let err = AllowedHosts::validate(&["https://{{ bad_host }}"], &vars).unwrap_err();
    assert!(matches!(err.kind(), PatternErrorKind::HasPath { .. }));
    let err = AllowedHosts::validate(&["https://{{ unknown }}", "nope"], &vars).unwrap_err();
    assert_eq!(err.pattern(), "nope");
    assert!(AllowedHosts::validate(&["https://{{ unclosed"], &vars).is_err());
}
