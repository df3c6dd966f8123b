//! Resolution order, required variables, component templates and name validation.

use skiff_variables::{Resolver, VariablesError};

use crate::{component, default, env, required, resolver, vars};

const STATIC_A_B: &str = r#"
    [[variables_provider]]
    type = "static"
    values = { vt_order_static_first = "first", vt_order_env_and_static = "from-static" }

    [[variables_provider]]
    type = "static"
    values = { vt_order_static_first = "second", vt_order_second_only = "second-only" }
"#;

#[tokio::test(flavor = "multi_thread")]
async fn providers_in_config_order_then_env_then_default() -> anyhow::Result<()> {
    env();
    let r = resolver(
        &[
            ("vt_order_static_first", default("default")),
            ("vt_order_second_only", default("default")),
            ("vt_order_env_and_static", default("default")),
            ("vt_order_env_and_default", default("default")),
            ("vt_order_default_only", default("default")),
        ],
        &[],
        STATIC_A_B,
    )?;
    let get = |name: &str| r.resolve_app_variable(name).unwrap();
    // The first provider that has a value wins.
    assert_eq!(get("vt_order_static_first").as_deref(), Some("first"));
    assert_eq!(get("vt_order_second_only").as_deref(), Some("second-only"));
    // Static providers come before the (implicit) environment provider...
    assert_eq!(
        get("vt_order_env_and_static").as_deref(),
        Some("from-static")
    );
    // ...which comes before the manifest default.
    assert_eq!(get("vt_order_env_and_default").as_deref(), Some("from-env"));
    assert_eq!(get("vt_order_default_only").as_deref(), Some("default"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn an_explicit_env_entry_can_come_first() -> anyhow::Result<()> {
    env();
    let r = resolver(
        &[("vt_order_env_and_static", default("default"))],
        &[],
        r#"
        [[variables_provider]]
        type = "env"
        [[variables_provider]]
        type = "static"
        values = { vt_order_env_and_static = "from-static" }
        "#,
    )?;
    assert_eq!(
        r.resolve_app_variable("vt_order_env_and_static")?
            .as_deref(),
        Some("from-env")
    );
    Ok(())
}

#[test]
fn resolve_app_variable_errors() {
    env();
    let r = resolver(
        &[("declared", default("d")), ("unset", required())],
        &[],
        "",
    )
    .unwrap();
    assert_eq!(r.resolve_app_variable("unset").unwrap(), None);
    let err = r.resolve_app_variable("nope").unwrap_err();
    assert!(matches!(err, VariablesError::Undeclared { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        "variable `nope` is not declared in the application's [variables]"
    );
    let err = r.resolve_app_variable("Bad").unwrap_err();
    assert!(matches!(err, VariablesError::InvalidName { .. }), "{err}");
    let names: Vec<&str> = r.variable_names().collect();
    assert_eq!(names, ["declared", "unset"]);
}

#[test]
fn check_required_names_every_missing_variable() {
    env();
    let ok = resolver(
        &[
            ("vt_env_skiff_only", required()),
            ("has_default", default("x")),
        ],
        &[],
        "",
    )
    .unwrap();
    ok.check_required().unwrap();

    let one = resolver(&[("vt_missing_one", required())], &[], "").unwrap();
    assert_eq!(
        one.check_required().unwrap_err().to_string(),
        "required variable `vt_missing_one` has no value: set `SKIFF_VARIABLE_VT_MISSING_ONE` \
         (or add it to a `static` variables provider in the runtime config)"
    );

    let many = resolver(
        &[
            ("vt_missing_b", required()),
            ("vt_missing_a", required()),
            ("vt_missing_c", required()),
            ("vt_env_skiff_only", required()),
            ("not_required", default("x")),
        ],
        &[],
        "",
    )
    .unwrap();
    match many.check_required().unwrap_err() {
        VariablesError::MissingRequired { names } => {
            assert_eq!(names, ["vt_missing_a", "vt_missing_b", "vt_missing_c"]);
        }
        other => panic!("unexpected {other}"),
    }
    let message = many.check_required().unwrap_err().to_string();
    assert!(
        message.starts_with(
            "required variables `vt_missing_a`, `vt_missing_b` and `vt_missing_c` have no value: \
             set `SKIFF_VARIABLE_VT_MISSING_A`, `SKIFF_VARIABLE_VT_MISSING_B` and `SKIFF_VARIABLE_VT_MISSING_C`"
        ),
        "{message}"
    );

    // A static provider satisfies a required variable.
    let r = resolver(
        &[("vt_missing_a", required())],
        &[],
        "[[variables_provider]]\ntype = \"static\"\nvalues = { vt_missing_a = \"v\" }",
    )
    .unwrap();
    r.check_required().unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn component_templates_expand() -> anyhow::Result<()> {
    env();
    let r = resolver(
        &[
            ("host", default("api.example.com")),
            ("port", default("8443")),
            ("vt_env_both", default("unused")),
            ("unset", required()),
        ],
        &[
            ("url", "https://{{ host }}:{{port}}/v1"),
            ("from_env", "{{vt_env_both}}"),
            ("literal", "just text"),
            ("twice", "{{ host }}/{{ host }}"),
            ("needs_unset", "x{{ unset }}"),
        ],
        "",
    )?;
    assert_eq!(
        r.get("c", "url").await?.as_deref(),
        Some("https://api.example.com:8443/v1")
    );
    assert_eq!(r.get("c", "from_env").await?.as_deref(), Some("skiff-wins"));
    // A component may set a literal that `[variables]` does not declare.
    assert_eq!(r.get("c", "literal").await?.as_deref(), Some("just text"));
    assert_eq!(
        r.get("c", "twice").await?.as_deref(),
        Some("api.example.com/api.example.com")
    );
    // An app variable is not visible unless the component maps it.
    assert_eq!(r.get("c", "host").await?, None);
    assert_eq!(r.get("c", "missing").await?, None);

    let err = r.get("c", "needs_unset").await.unwrap_err();
    assert!(
        matches!(&err, VariablesError::NoValue { name } if name == "unset"),
        "{err}"
    );
    let err = r.get("c", "Not-Valid").await.unwrap_err();
    assert!(matches!(err, VariablesError::InvalidName { .. }), "{err}");
    // A component the resolver was not given has no variables.
    assert_eq!(r.get("nobody", "url").await?, None);
    assert!(r.get_all("nobody").await?.is_empty());

    // get_all: every key with a value, sorted; `needs_unset` is left out.
    let all = r.get_all("c").await?;
    let keys: Vec<&str> = all.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["from_env", "literal", "twice", "url"]);
    assert!(all.contains(&("url".into(), "https://api.example.com:8443/v1".into())));
    Ok(())
}

#[test]
fn bad_templates_and_names_fail_at_build() {
    let build = |app: &[(&str, skiff_manifest::Variable)], c: &[(&str, &str)]| {
        resolver(app, c, "").unwrap_err().to_string()
    };
    assert_eq!(
        build(&[], &[("url", "{{ host }}")]),
        "component `c` variable `url`: `{{ host }}` refers to undeclared variable `host`"
    );
    assert_eq!(
        build(&[("host", default("h"))], &[("url", "https://{{ host ")]),
        "component `c` variable `url`: `{{` has no matching `}}` (a reference looks like `{{ name }}`)"
    );
    assert!(build(&[], &[("url", "{{}}")]).contains("names no variable"));
    assert!(build(&[], &[("url", "{{ Host }}")]).contains("must be lower-case"));
    assert_eq!(
        build(&[], &[("Bad-Key", "x")]),
        "component `c` variable `Bad-Key`: invalid variable name `Bad-Key`: must be lower-case"
    );
    let err =
        Resolver::new(&vars(&[("2fast", default("x"))]), [], crate::providers("")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid variable name `2fast`: must start with a letter"
    );
    let _ = component(&[]);
}

#[test]
fn name_validation() {
    for ok in ["a", "api_key", "db2", "a1_b2"] {
        skiff_variables::validate_name(ok).unwrap();
    }
    for (bad, reason) in [
        ("", "must not be empty"),
        ("Api", "must be lower-case"),
        ("1a", "must start with a letter"),
        ("_a", "must not start or end with `_`"),
        ("a_", "must not start or end with `_`"),
        ("a__b", "must not contain `__`"),
        ("a-b", "may contain only lower-case letters, digits and `_`"),
        ("a.b", "may contain only lower-case letters, digits and `_`"),
    ] {
        let err = skiff_variables::validate_name(bad).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("invalid variable name `{bad}`: {reason}")
        );
    }
}

/// A resolver redeclared for a new version of the app keeps the providers of
/// the one it came from (including a later replacement's), with the new
/// declarations and templates; a bad new template is refused.
#[tokio::test(flavor = "multi_thread")]
async fn redeclare_keeps_the_providers() -> anyhow::Result<()> {
    let first = resolver(
        &[("who", default("a")), ("token", required())],
        &[("greeting", "hi {{ who }}"), ("key", "{{ token }}")],
        "[[variables_provider]]\ntype = \"static\"\nvalues = { token = \"t1\" }",
    )?;
    first.replace_providers(crate::providers(
        "[[variables_provider]]\ntype = \"static\"\nvalues = { token = \"t2\" }",
    ))?;
    let second = first.redeclare(
        &vars(&[("who", default("b")), ("token", required())]),
        [(
            "c".to_string(),
            component(&[("greeting", "hello {{ who }}"), ("key", "{{ token }}")]),
        )],
    )?;
    second.check_required()?;
    assert_eq!(
        second.get("c", "greeting").await?.as_deref(),
        Some("hello b")
    );
    assert_eq!(second.get("c", "key").await?.as_deref(), Some("t2"));
    // The first is unchanged.
    assert_eq!(first.get("c", "greeting").await?.as_deref(), Some("hi a"));

    let Err(err) = first.redeclare(
        &vars(&[("who", default("b"))]),
        [("c".to_string(), component(&[("x", "{{ nobody }}")]))],
    ) else {
        panic!("an undeclared variable was accepted");
    };
    assert!(
        err.to_string().contains("undeclared variable `nobody`"),
        "{err}"
    );
    Ok(())
}
