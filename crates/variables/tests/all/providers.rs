//! The `env` and `static` providers and the runtime-config parser.

use skiff_variables::{
    EnvProvider, Provider, StaticProvider, VariablesError, providers_from_runtime_config,
};

use crate::env;

fn get(provider: &dyn Provider, name: &str) -> Option<String> {
    provider
        .get(name)
        .expect("provider lookup")
        .map(|v| v.expose().to_string())
}

fn config_error(toml: &str) -> (String, String) {
    let table: toml::Table = toml::from_str(toml).unwrap();
    match providers_from_runtime_config(&table) {
        Err(VariablesError::RuntimeConfig { key, message }) => (key, message),
        Err(other) => panic!("expected a runtime-config error, got {other}"),
        Ok(providers) => panic!("expected an error, got {providers:?}"),
    }
}

#[test]
fn env_reads_skiff_and_spin_prefixes_and_skiff_wins() {
    env();
    let provider = EnvProvider::default();
    assert_eq!(
        get(&provider, "vt_env_skiff_only").as_deref(),
        Some("from-skiff")
    );
    assert_eq!(
        get(&provider, "vt_env_spin_only").as_deref(),
        Some("from-spin")
    );
    assert_eq!(get(&provider, "vt_env_both").as_deref(), Some("skiff-wins"));
    assert_eq!(get(&provider, "vt_env_nowhere"), None);
    assert_eq!(
        provider.keys("api_key"),
        ["SKIFF_VARIABLE_API_KEY", "SPIN_VARIABLE_API_KEY"]
    );
}

#[test]
fn env_with_custom_prefix_reads_only_that_prefix() {
    env();
    for prefix in ["VTPREFIX", "VTPREFIX_"] {
        let provider = EnvProvider::with_prefix(prefix);
        assert_eq!(provider.keys("vt_env_custom"), ["VTPREFIX_VT_ENV_CUSTOM"]);
        assert_eq!(
            get(&provider, "vt_env_custom").as_deref(),
            Some("from-custom-prefix")
        );
        assert_eq!(get(&provider, "vt_env_skiff_only"), None);
    }
}

#[test]
fn static_provider_answers_from_its_map() {
    let provider = StaticProvider::new([("greeting", "hello")]).unwrap();
    assert_eq!(get(&provider, "greeting").as_deref(), Some("hello"));
    assert_eq!(get(&provider, "other"), None);
    assert_eq!(provider.kind(), "static");
    let err = StaticProvider::new([("Bad-Name", "x")]).unwrap_err();
    assert!(matches!(err, VariablesError::InvalidName { .. }), "{err}");
}

#[test]
fn runtime_config_keeps_order_and_appends_env() {
    let kinds = |toml: &str| -> Vec<String> {
        crate::providers(toml)
            .iter()
            .map(|p| p.kind().to_string())
            .collect()
    };
    assert_eq!(kinds(""), ["env"]);
    assert_eq!(
        kinds("[key_value_store.default]\ntype = \"redis\""),
        ["env"]
    );
    assert_eq!(
        kinds(
            r#"
            [[variables_provider]]
            type = "static"
            values = { a = "1" }
            [[variables_provider]]
            type = "static"
            values = { b = "2" }
            "#
        ),
        ["static", "static", "env"]
    );
    // An explicit `env` entry is placed where written, and not added again.
    assert_eq!(
        kinds(
            r#"
            [[variables_provider]]
            type = "env"
            [[variables_provider]]
            type = "static"
            values = {}
            "#
        ),
        ["env", "static"]
    );
}

#[test]
fn runtime_config_env_prefix() {
    env();
    let providers = crate::providers(
        r#"
        [[variables_provider]]
        type = "env"
        prefix = "VTPREFIX"
        "#,
    );
    assert_eq!(providers.len(), 1);
    assert_eq!(
        get(providers[0].as_ref(), "vt_env_custom").as_deref(),
        Some("from-custom-prefix")
    );
}

#[test]
fn runtime_config_errors_name_the_key() {
    for (toml, want_key, want_message) in [
        (
            "variables_provider = 3",
            "variables_provider",
            "array of tables",
        ),
        (
            "variables_provider = [1]",
            "variables_provider[0]",
            "expected a table",
        ),
        (
            "[[variables_provider]]\nprefix = \"X\"",
            "variables_provider[0]",
            "missing `type`",
        ),
        (
            "[[variables_provider]]\ntype = 7",
            "variables_provider[0].type",
            "expected a string",
        ),
        (
            "[[variables_provider]]\ntype = \"static\"\nvalues = {}\n[[variables_provider]]\ntype = \"vault\"",
            "variables_provider[1].type",
            "unknown variables provider type `vault`",
        ),
        (
            "[[variables_provider]]\ntype = \"env\"\nprefx = \"X\"",
            "variables_provider[0].prefx",
            "unknown key (expected `type`, `prefix`)",
        ),
        (
            "[[variables_provider]]\ntype = \"env\"\nprefix = \"\"",
            "variables_provider[0].prefix",
            "non-empty",
        ),
        (
            "[[variables_provider]]\ntype = \"env\"\nprefix = 1",
            "variables_provider[0].prefix",
            "expected a string",
        ),
        (
            "[[variables_provider]]\ntype = \"static\"",
            "variables_provider[0]",
            "missing `values`",
        ),
        (
            "[[variables_provider]]\ntype = \"static\"\nvalues = \"a=b\"",
            "variables_provider[0].values",
            "expected a table",
        ),
        (
            "[[variables_provider]]\ntype = \"static\"\nvalues = { API_KEY = \"x\" }",
            "variables_provider[0].values.API_KEY",
            "must be lower-case",
        ),
        (
            "[[variables_provider]]\ntype = \"static\"\nvalues = { port = 8080 }",
            "variables_provider[0].values.port",
            "expected a string, found integer",
        ),
    ] {
        let (key, message) = config_error(toml);
        assert_eq!(key, want_key, "{toml}");
        assert!(message.contains(want_message), "{toml}: {message}");
    }
    let table: toml::Table = toml::from_str("[[variables_provider]]\ntype = \"vault\"").unwrap();
    let err = providers_from_runtime_config(&table).unwrap_err();
    assert_eq!(
        err.to_string(),
        "runtime config `variables_provider[0].type`: unknown variables provider type `vault` (expected `env` or `static`)"
    );
}
