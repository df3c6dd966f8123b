//! `skiff new`: a new app (or command) from a template built into Skiff, ready
//! for `skiff up --build` (or `cargo build` and `skiff run`); `skiff add`: a
//! template's component added to an existing app.

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
    /// The project's own files.
    files: &'static [(&'static str, &'static str)],
    /// For an app component: the manifest `skiff new` writes beside the
    /// files, and the sections `skiff add` appends to an app's manifest
    /// (`{{route}}`, and `{{component_dir}}` relative to the manifest).
    app: Option<AppParts>,
    /// What to type next, `{{dir}}` being the new directory.
    next: &'static str,
}

/// What an app-component template adds to an app.
struct AppParts {
    manifest: &'static str,
    sections: &'static str,
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
                "src/lib.rs",
                include_str!("../../templates/http-rust/src/lib.rs.tmpl"),
            ),
            (
                ".gitignore",
                include_str!("../../templates/http-rust/gitignore.tmpl"),
            ),
        ],
        app: Some(AppParts {
            manifest: include_str!("../../templates/http-rust/skiff.toml.tmpl"),
            sections: include_str!("../../templates/http-rust/component.toml.tmpl"),
        }),
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
        app: None,
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
    let template = find_template(&args.template)?;
    let dir = args.dir.clone().unwrap_or_else(|| PathBuf::from(name));
    check_dir(&dir)?;
    let fill = |text: &str| fill(text, name).replace("{{dir}}", &shown(&dir));
    write_files(&dir, template, &fill)?;
    if let Some(app) = &template.app {
        let path = dir.join("skiff.toml");
        std::fs::write(&path, fill(app.manifest))
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

/// Arguments of `skiff add`.
#[derive(Args, Debug)]
pub struct AddArgs {
    /// The new component's id, also its directory's and crate's name:
    /// kebab-case (`users-api`).
    pub name: String,
    /// The template (see `skiff new --list`); an app component's.
    #[arg(short, long, default_value = "http-rust")]
    pub template: String,
    /// The HTTP route it serves (default `/NAME/...`).
    #[arg(long)]
    pub route: Option<String>,
    /// The app: its manifest, or the directory holding it.
    #[arg(long, default_value = ".")]
    pub app: PathBuf,
}

/// Runs `skiff add`: the template's project in a new directory beside the
/// manifest, and its trigger and component appended to the manifest, which
/// must load with them (or nothing is left changed).
pub fn add(args: AddArgs) -> Result<()> {
    let name = args.name.as_str();
    check_name(name)?;
    let template = find_template(&args.template)?;
    let Some(parts) = &template.app else {
        bail!(
            "template `{}` makes a command, not an app component; `skiff add` takes {}",
            template.name,
            TEMPLATES
                .iter()
                .filter(|t| t.app.is_some())
                .map(|t| format!("`{}`", t.name))
                .collect::<Vec<_>>()
                .join(", ")
        );
    };
    let manifest = skiff_manifest::resolve_manifest_path(&args.app)?;
    let app = skiff_manifest::load_for_build(&manifest)
        .context("the app's manifest must load before a component is added to it")?;
    if app.components.contains_key(name) {
        bail!(
            "`{}` already has a component `{name}`; choose another name",
            manifest.display()
        );
    }
    let dir = app.base_dir.join(name);
    check_dir(&dir)?;
    let route = args.route.unwrap_or_else(|| format!("/{name}/..."));
    let fill = |text: &str| {
        fill(text, name)
            .replace("{{route}}", &route)
            .replace("{{component_dir}}", name)
    };
    let text = std::fs::read_to_string(&manifest)
        .with_context(|| format!("could not read `{}`", manifest.display()))?;
    let mut updated = text.clone();
    if !updated.is_empty() && !updated.ends_with('\n') {
        updated.push('\n');
    }
    updated.push_str(&fill(parts.sections));

    let existed = dir.exists();
    write_files(&dir, template, &fill)?;
    // The manifest with the component, checked before it replaces the old
    // one: written beside it (relative paths resolve alike), loaded, renamed.
    let staged = manifest.with_extension("toml.skiff-add");
    let checked = std::fs::write(&staged, &updated)
        .with_context(|| format!("could not write `{}`", staged.display()))
        .and_then(|()| {
            skiff_manifest::load_for_build(&staged).with_context(|| {
                format!(
                    "`{}` would not load with component `{name}` at route `{route}`; \
                     nothing was changed",
                    manifest.display()
                )
            })
        })
        .and_then(|_| {
            std::fs::rename(&staged, &manifest)
                .with_context(|| format!("could not replace `{}`", manifest.display()))
        });
    if let Err(err) = checked {
        let _ = std::fs::remove_file(&staged);
        let _ = match existed {
            true => remove_contents(&dir),
            false => std::fs::remove_dir_all(&dir),
        };
        return Err(err);
    }
    println!(
        "Added component `{name}` (template `{}`) in {}, serving `{route}`",
        template.name,
        dir.display()
    );
    println!("Next: skiff up {} --build", shown(&args.app));
    Ok(())
}

/// The template called `name`, or an error listing them.
fn find_template(name: &str) -> Result<&'static Template> {
    TEMPLATES.iter().find(|t| t.name == name).ok_or_else(|| {
        anyhow::anyhow!(
            "no template `{name}`; the templates are {} (`skiff new --list`)",
            TEMPLATES
                .iter()
                .map(|t| format!("`{}`", t.name))
                .collect::<Vec<_>>()
                .join(", ")
        )
    })
}

/// `text` with the project's name filled in.
fn fill(text: &str, name: &str) -> String {
    text.replace("{{name}}", name)
        .replace("{{crate_file}}", &name.replace('-', "_"))
}

/// Writes `template`'s files under `dir`, filled in by `fill`.
fn write_files(dir: &Path, template: &Template, fill: &dyn Fn(&str) -> String) -> Result<()> {
    for (path, text) in template.files {
        let path = dir.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("could not create `{}`", parent.display()))?;
        }
        std::fs::write(&path, fill(text))
            .with_context(|| format!("could not write `{}`", path.display()))?;
    }
    Ok(())
}

/// Empties `dir` (an empty directory `skiff add` wrote into and now takes back).
fn remove_contents(dir: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            std::fs::remove_dir_all(&path)?;
        } else {
            std::fs::remove_file(&path)?;
        }
    }
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
                        ["name", "crate_file", "dir", "route", "component_dir"].contains(&key),
                        "{}/{path}: unknown placeholder `{key}`",
                        t.name
                    );
                    rest = &rest[end + 2..];
                }
            }
        }
    }
}
