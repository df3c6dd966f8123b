//! Registry references: `registry/repository[:tag][@sha256:digest]`.

use oci_client::Reference;

use crate::Error;

/// Parses `text` as a registry reference (`127.0.0.1:5000/hello:v1`,
/// `ghcr.io/org/app@sha256:…`). A reference without a registry means Docker Hub,
/// without a tag or digest means `:latest`, as with Docker.
pub fn parse_reference(text: &str) -> Result<Reference, Error> {
    let invalid = |reason: String| Error::InvalidReference {
        reference: text.to_string(),
        reason,
    };
    if text.trim().is_empty() {
        return Err(invalid("it is empty".into()));
    }
    let reference: Reference = text.parse().map_err(|e| invalid(format!("{e}")))?;
    if let Some(digest) = reference.digest() {
        match digest.strip_prefix("sha256:") {
            Some(hex) if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) => {}
            _ => {
                return Err(invalid(format!(
                    "digest `{digest}` is not `sha256:` followed by 64 hex digits"
                )));
            }
        }
    }
    Ok(reference)
}

/// Whether `text` reads as a reference that names its registry explicitly
/// (`localhost:5000/app`, `ghcr.io/org/app:v1`): the first path segment is a
/// host (has a `.` or a `:` port, or is `localhost`) and more follows. `skiff up
/// PATH` uses this to tell a registry reference from a local path that does not
/// exist, so a mistyped directory is not looked up on Docker Hub.
pub fn looks_like_remote_reference(text: &str) -> bool {
    let Some((host, rest)) = text.split_once('/') else {
        return false;
    };
    let is_host = host == "localhost" || host.contains('.') || host.contains(':');
    is_host
        && !rest.is_empty()
        && !host.starts_with('.')
        && !text.starts_with('/')
        && parse_reference(text).is_ok()
}

/// The reference as shown to users: `registry/repository:tag` or `…@digest`.
pub(crate) fn display(reference: &Reference) -> String {
    reference.whole()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_tags_and_digests() {
        let r = parse_reference("127.0.0.1:5000/app/hello:v1").unwrap();
        assert_eq!(r.registry(), "127.0.0.1:5000");
        assert_eq!(r.repository(), "app/hello");
        assert_eq!(r.tag(), Some("v1"));
        let d = format!("localhost:5000/hello@sha256:{}", "a".repeat(64));
        assert_eq!(
            parse_reference(&d).unwrap().digest().unwrap(),
            format!("sha256:{}", "a".repeat(64))
        );
        let err = parse_reference("localhost:5000/Hello").unwrap_err();
        assert!(err.to_string().contains("`localhost:5000/Hello`"), "{err}");
    }

    #[test]
    fn remote_references_name_a_host() {
        assert!(looks_like_remote_reference("localhost:5000/app"));
        assert!(looks_like_remote_reference("ghcr.io/org/app:v1"));
        assert!(looks_like_remote_reference("127.0.0.1:5000/app:v1"));
        assert!(!looks_like_remote_reference("examples/hello"));
        assert!(!looks_like_remote_reference("./app"));
        assert!(!looks_like_remote_reference("/abs/app"));
        assert!(!looks_like_remote_reference("app.toml"));
        assert!(!looks_like_remote_reference("../dir/app"));
    }
}
