//! The crate's one error type: a manifest problem located by file, line, column and key.

use std::fmt;
use std::path::{Path, PathBuf};

/// A problem with a manifest, located as precisely as the loader could.
///
/// Displays as `FILE:LINE:COLUMN: `KEY`: MESSAGE`, followed by `\n  hint: HINT`
/// when there is a hint; parts that are unknown are left out.
///
/// ```
/// use skiff_manifest::ManifestError;
///
/// let err = ManifestError::new("/app/skiff.toml", "unknown key `sourse`")
///     .with_position(7, 1)
///     .with_key("component.api.sourse")
///     .with_hint("did you mean `source`?");
/// assert_eq!(
///     err.to_string(),
///     "/app/skiff.toml:7:1: `component.api.sourse`: unknown key `sourse`\n  hint: did you mean `source`?"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub struct ManifestError {
    /// The manifest file (or, when no manifest was found, the path that was searched).
    pub file: PathBuf,
    /// 1-based line of the offending key or value.
    pub line: Option<usize>,
    /// 1-based column (in characters) of the offending key or value.
    pub column: Option<usize>,
    /// Dotted path of the offending key, e.g. `component.api.allowed_outbound_hosts`
    /// (array elements as `trigger.http[0]`, counted from 0).
    pub key: Option<String>,
    /// What is wrong.
    pub message: String,
    /// How to fix it, when the loader has an idea.
    pub hint: Option<String>,
}

impl ManifestError {
    /// An error about `file` with no position, key or hint yet.
    pub fn new(file: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        ManifestError {
            file: file.into(),
            line: None,
            column: None,
            key: None,
            message: message.into(),
            hint: None,
        }
    }

    /// An error for a failed read of `path` (missing file, permissions, not UTF-8 …).
    pub fn io(path: &Path, err: &std::io::Error) -> Self {
        let message = match err.kind() {
            std::io::ErrorKind::NotFound => "file not found".to_string(),
            std::io::ErrorKind::InvalidData => "file is not valid UTF-8".to_string(),
            _ => format!("could not read file: {err}"),
        };
        ManifestError::new(path, message)
    }

    /// Sets the 1-based line and column.
    pub fn with_position(mut self, line: usize, column: usize) -> Self {
        self.line = Some(line);
        self.column = Some(column);
        self
    }

    /// Sets the 1-based line only.
    pub fn with_line(mut self, line: usize) -> Self {
        self.line = Some(line);
        self
    }

    /// Sets the dotted key path.
    pub fn with_key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// Sets the hint.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Sort key putting errors in file order; errors without a position (things
    /// missing from the whole file) come last, as they are often consequences.
    pub(crate) fn position(&self) -> (usize, usize) {
        (
            self.line.unwrap_or(usize::MAX),
            self.column.unwrap_or(usize::MAX),
        )
    }
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        f.write_str(": ")?;
        if let Some(key) = &self.key {
            write!(f, "`{key}`: ")?;
        }
        f.write_str(&self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_omits_missing_parts() {
        let e = ManifestError::new("a/skiff.toml", "boom");
        assert_eq!(e.to_string(), "a/skiff.toml: boom");
        let e = e.with_line(3).with_key("application.name");
        assert_eq!(e.to_string(), "a/skiff.toml:3: `application.name`: boom");
        let e = e.with_position(3, 9).with_hint("do this");
        assert_eq!(
            e.to_string(),
            "a/skiff.toml:3:9: `application.name`: boom\n  hint: do this"
        );
    }

    #[test]
    fn io_errors_name_the_file() {
        let err = std::io::Error::from(std::io::ErrorKind::NotFound);
        let e = ManifestError::io(Path::new("/x/skiff.toml"), &err);
        assert_eq!(e.to_string(), "/x/skiff.toml: file not found");
    }
}
