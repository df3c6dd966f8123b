//! Secret values never show up in errors, `Debug` output or logs.

use skiff_variables::{StaticProvider, Value, VariablesError};

use crate::{default, env, required_secret, resolver};

const SECRETS: &[&str] = &[
    "s3cr3t-static-value",
    "s3cr3t-env-value",
    "s3cr3t-default",
    "s3cr3t-literal",
];

fn assert_clean(text: &str) {
    for secret in SECRETS {
        assert!(!text.contains(secret), "a secret leaked into {text:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn secrets_stay_out_of_errors_and_debug() -> anyhow::Result<()> {
    env();
    let runtime_config = r#"
        [[variables_provider]]
        type = "static"
        values = { static_secret = "s3cr3t-static-value" }
    "#;
    let r = resolver(
        &[
            ("static_secret", required_secret()),
            ("vt_secret_from_env", required_secret()),
            ("defaulted", default("s3cr3t-default")),
            ("missing_secret", required_secret()),
        ],
        &[
            ("token", "Bearer {{ static_secret }}"),
            ("env_token", "{{ vt_secret_from_env }}"),
            ("literal", "s3cr3t-literal"),
            ("mixed", "{{ defaulted }}:{{ missing_secret }}"),
        ],
        runtime_config,
    )?;

    // The values do reach the guest...
    assert_eq!(
        r.get("c", "token").await?.as_deref(),
        Some("Bearer s3cr3t-static-value")
    );
    assert_eq!(
        r.get("c", "env_token").await?.as_deref(),
        Some("s3cr3t-env-value")
    );
    assert!(r.is_secret("static_secret"));
    assert!(!r.is_secret("defaulted"));

    // ...but not errors or Debug output.
    let missing = r.check_required().unwrap_err();
    assert!(
        matches!(&missing, VariablesError::MissingRequired { names } if names == &["missing_secret"])
    );
    let mixed = r.get("c", "mixed").await.unwrap_err();
    let mut texts = vec![
        missing.to_string(),
        format!("{missing:?}"),
        mixed.to_string(),
        format!("{mixed:?}"),
        format!("{r:?}"),
        format!("{:?}", crate::providers(runtime_config)),
        format!("{:?}", StaticProvider::new([("k", "s3cr3t-static-value")])?),
        format!("{:?}", Value::new("s3cr3t-literal")),
        Value::new("s3cr3t-literal").to_string(),
        format!(
            "{:?}",
            skiff_variables::Template::parse("s3cr3t-literal{{ a }}").unwrap()
        ),
    ];
    let state = skiff_variables::VariablesState::new(std::sync::Arc::new(r), "c");
    texts.push(format!("{state:?}"));
    for text in &texts {
        assert_clean(text);
    }
    // The Debug output still says what is there.
    assert!(texts[4].contains("static_secret"), "{}", texts[4]);
    Ok(())
}

#[test]
fn runtime_config_errors_do_not_echo_values() {
    let table: toml::Table = toml::from_str(
        r#"
        [[variables_provider]]
        type = "static"
        values = { "Bad Name" = "s3cr3t-static-value" }
        "#,
    )
    .unwrap();
    let err = skiff_variables::providers_from_runtime_config(&table).unwrap_err();
    assert_clean(&err.to_string());
    assert_clean(&format!("{err:?}"));
    assert!(
        err.to_string()
            .contains("variables_provider[0].values.Bad Name")
    );
}
