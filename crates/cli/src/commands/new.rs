//! `skiff new`: a new app (or command) from a template built into Skiff, ready
//! for `skiff up --build` (or `cargo build` and `skiff run`).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;

/// Arguments of `skiff new`.
#[derive(Args, Debug)]
pub struct NewArgs {
    /// The name of the app and of its component: kebab-case (`my-api`).
    #[arg(required_unless_present = "list")]
    pub name: Option<String>,
    /// The template (see `--list`).
    #[arg(short, long, default_value = "http-rust")]
    pub template: String,
    /// Where to write it (default: a new directory NAME here). It must not
    /// exist, or be empty.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Lists the templates and exits.
    #[arg(long)]
    pub list: bool,
}

/// A template: its files, with `{{name}}` and `{{crate_file}}` to fill in.
struct Template {
    name: &'static str,
    about: &'static str,
    files: &'static [(&'static str, &'static str)],
    /// What to type next, `{{dir}}` being the new directory.
    next: &'static str,
}

const TEMPLATES: &[Template] = &[
    Template {
        name: "http-rust",
        about: "an app with one `wasi:http` component in Rust, served on every path",
        files: &[
            (
                "Cargo.toml",
                include_str!("../../templates/http-rust/Cargo.toml.tmpl"),
            ),
            (
                "skiff.toml",
                include_str!("../../templates/http-rust/skiff.toml.tmpl"),
            ),
            (
                "src/lib.rs",
                include_str!("../../templates/http-rust/src/lib.rs.tmpl"),
            ),
            (
                ".gitignore",
                include_str!("../../templates/http-rust/gitignore.tmpl"),
            ),
        ],
        next: "skiff up {{dir}} --build",
    },
    Template {
        name: "command-rust",
        about: "a WASI command (`wasi:cli/run`) in Rust, for `skiff run`",
        files: &[
            (
                "Cargo.toml",
                include_str!("../../templates/command-rust/Cargo.toml.tmpl"),
            ),
            (
                "src/main.rs",
                include_str!("../../templates/command-rust/src/main.rs.tmpl"),
            ),
            (
                ".gitignore",
                include_str!("../../templates/command-rust/gitignore.tmpl"),
            ),
        ],
        next: "cd {{dir}} && cargo build --target wasm32-wasip2 --release && \
               skiff run target/wasm32-wasip2/release/{{name}}.wasm -- you",
    },
];

/// Runs `skiff new`.
pub fn new(args: NewArgs) -> Result<()> {
    if args.list {
        for t in TEMPLATES {
            println!("{:<14} {}", t.name, t.about);
        }
        return Ok(());
    }
    let name = args.name.as_deref().unwrap_or_default();
    check_name(name)?;
    let Some(template) = TEMPLATES.iter().find(|t| t.name == args.template) else {
        bail!(
            "no template `{}`; the templates are {} (`skiff new --list`)",
            args.template,
            TEMPLATES
                .iter()
                .map(|t| format!("`{}`", t.name))
                .collect::<Vec<_>>()
                .join(", ")
        );
    };
    let dir = args.dir.clone().unwrap_or_else(|| PathBuf::from(name));
    check_dir(&dir)?;
    let fill = |text: &str| {
        text.replace("{{name}}", name)
            .replace("{{crate_file}}", &name.replace('-', "_"))
            .replace("{{dir}}", &shown(&dir))
    };
    for (path, text) in template.files {
        let path = dir.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("could not create `{}`", parent.display()))?;
        }
        std::fs::write(&path, fill(text))
            .with_context(|| format!("could not write `{}`", path.display()))?;
    }
    println!(
        "Created `{}` from template `{}` in {}",
        name,
        template.name,
        dir.display()
    );
    println!("Next: {}", fill(template.next));
    Ok(())
}

/// The directory as a user would type it in the next command.
fn shown(dir: &Path) -> String {
    let text = dir.display().to_string();
    if text.contains(char::is_whitespace) {
        format!("'{text}'")
    } else {
        text
    }
}

/// A name is kebab-case: lowercase ASCII letters and digits in words joined
/// by `-`, starting with a letter. It is the component's id and the crate's
/// name, so it must suit both.
fn check_name(name: &str) -> Result<()> {
    let words_ok = name.split('-').all(|w| {
        !w.is_empty()
            && w.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    });
    if words_ok && name.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Ok(());
    }
    let suggestion: String = name
        .trim()
        .chars()
        .map(|c| match c {
            c if c.is_ascii_alphanumeric() => c.to_ascii_lowercase(),
            _ => '-',
        })
        .collect::<String>()
        .split('-')
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    let hint = match suggestion.starts_with(|c: char| c.is_ascii_lowercase()) {
        true => format!("; try `{suggestion}`"),
        false => String::new(),
    };
    bail!(
        "`{name}` cannot name an app: it is its component's id and its crate's name, so it must \
         be kebab-case (lowercase letters and digits in words joined by `-`, starting with a \
         letter){hint}"
    )
}

/// Fails unless `dir` is absent or an empty directory: nothing is overwritten.
fn check_dir(dir: &Path) -> Result<()> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                bail!(
                    "`{}` already exists and is not empty; nothing was written (choose another \
                     name, or `--dir`)",
                    dir.display()
                );
            }
            Ok(())
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::NotADirectory => bail!(
            "`{}` already exists and is a file; nothing was written",
            dir.display()
        ),
        Err(err) => Err(err).with_context(|| format!("could not read `{}`", dir.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["api", "my-api", "v2-api", "a1"] {
            check_name(ok).unwrap();
        }
        for (bad, hint) in [
            ("My App", Some("my-app")),
            ("my_api", Some("my-api")),
            ("2fast", None),
            ("", None),
            ("a--b", Some("a-b")),
            ("api-", Some("api")),
        ] {
            let err = check_name(bad).unwrap_err().to_string();
            assert!(err.contains("must be kebab-case"), "{bad}: {err}");
            match hint {
                Some(hint) => assert!(err.contains(&format!("try `{hint}`")), "{bad}: {err}"),
                None => assert!(!err.contains("try"), "{bad}: {err}"),
            }
        }
    }

    #[test]
    fn every_placeholder_is_known() {
        for t in TEMPLATES {
            for (path, text) in t
                .files
                .iter()
                .map(|(p, t)| (*p, *t))
                .chain([("next", t.next)])
            {
                let mut rest = text;
                while let Some(at) = rest.find("{{") {
                    let end = rest[at..].find("}}").expect("closed placeholder") + at;
                    let key = &rest[at + 2..end];
                    assert!(
                        ["name", "crate_file", "dir"].contains(&key),
                        "{}/{path}: unknown placeholder `{key}`",
                        t.name
                    );
                    rest = &rest[end + 2..];
                }
            }
        }
    }
}
