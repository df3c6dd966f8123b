//! Bucket names for containers: `<prefix>_<escaped container>`.
//!
//! A bucket name may only hold `[A-Za-z0-9_-]`. The container's name is
//! escaped byte by byte: ASCII letters, digits and `-` stay as they are,
//! every other byte (`_` included) becomes `_XX`, its value in upper-case
//! hex. So in an escaped name every `_` starts an escape and is followed by
//! two hex digits, and escaping is injective: `photos` is `photos`,
//! `my_photos` is `my_5Fphotos`, `2024/jan` is `2024_2Fjan`.
//!
//! A bucket's stream (`OBJ_<bucket>`) is a directory on the server's disk,
//! so a name is at most [`MAX_BUCKET_LEN`] bytes. A longer one is shortened:
//! the escaped name cut (never inside an escape) to leave room for `__` and
//! the SHA-256 of the container's name in hex. An escaped name never holds
//! `__`, so a shortened name is never another container's full one.

use sha2::{Digest as _, Sha256};
use std::fmt::Write as _;

/// The longest bucket name made: `OBJ_` and it fit a 255-byte file name.
pub(crate) const MAX_BUCKET_LEN: usize = 250;

/// The longest `bucket_prefix`, leaving every container's bucket room for
/// a part of its name and the digest.
pub const MAX_PREFIX_LEN: usize = 100;

/// `__` and 64 hex digits: what ends a shortened name.
const DIGEST_SUFFIX_LEN: usize = 2 + 64;

/// Whether `c` may stand in a bucket name.
fn bucket_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

/// Why `prefix` cannot be a bucket prefix, if it cannot.
pub(crate) fn check_prefix(prefix: &str) -> Result<(), String> {
    if prefix.is_empty() {
        return Err("must not be empty".to_string());
    }
    if !prefix.chars().all(bucket_char) {
        return Err(format!(
            "`{prefix}` cannot start a bucket name: use letters, digits, `-` and `_`"
        ));
    }
    if prefix.len() > MAX_PREFIX_LEN {
        return Err(format!(
            "`{prefix}` is {} characters long; the limit is {MAX_PREFIX_LEN}",
            prefix.len()
        ));
    }
    Ok(())
}

/// `skiff-<namespace>-<label>` (`skiff-<label>` without a namespace), every
/// character a bucket name may not hold as `_`.
pub(crate) fn default_prefix(namespace: Option<&str>, label: &str) -> String {
    let name = match namespace {
        Some(namespace) => format!("skiff-{namespace}-{label}"),
        None => format!("skiff-{label}"),
    };
    name.chars()
        .map(|c| if bucket_char(c) { c } else { '_' })
        .collect()
}

/// `container` escaped into bucket-name characters (see the module docs).
pub(crate) fn escape(container: &str) -> String {
    let mut out = String::with_capacity(container.len());
    for b in container.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "_{b:02X}");
        }
    }
    out
}

/// The bucket of `container` in a store with bucket prefix `prefix` (at
/// most [`MAX_PREFIX_LEN`] long).
pub(crate) fn bucket_name(prefix: &str, container: &str) -> String {
    let escaped = escape(container);
    let full = format!("{prefix}_{escaped}");
    if full.len() <= MAX_BUCKET_LEN {
        return full;
    }
    let room = MAX_BUCKET_LEN.saturating_sub(prefix.len() + 1 + DIGEST_SUFFIX_LEN);
    let mut cut = room.min(escaped.len());
    // Every character is ASCII; back off to the start of an escape cut in
    // two.
    if let Some(last) = escaped[..cut].rfind('_')
        && last + 3 > cut
    {
        cut = last;
    }
    let digest = hex::encode(Sha256::digest(container.as_bytes()));
    format!("{prefix}_{}__{digest}", &escaped[..cut])
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    /// [`escape`] undone.
    fn unescape(escaped: &str) -> Option<Vec<u8>> {
        let bytes = escaped.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'_' {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                if hex.to_uppercase() != hex {
                    return None;
                }
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        Some(out)
    }

    fn names() -> Vec<String> {
        let mut names: Vec<String> = [
            "photos",
            "my_photos",
            "my_5Fphotos",
            "my-photos",
            "2024/jan",
            "2024_2Fjan",
            "_",
            "__",
            "_5F",
            "-",
            ".",
            "..",
            "../up",
            "ü/ber",
            "with space",
            "nul\0byte",
            "Case",
            "case",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for n in [83, 84, 85, 148, 149, 150, 300, 1024] {
            names.push("x".repeat(n));
            names.push(format!("{}y", "x".repeat(n)));
            names.push("ü".repeat(n));
            names.push(format!("{}_", "a".repeat(n)));
        }
        names
    }

    #[test]
    fn escaping_is_injective_and_stays_in_bucket_characters() {
        let names = names();
        let mut seen = HashSet::new();
        for name in &names {
            let escaped = escape(name);
            assert!(escaped.chars().all(bucket_char), "{escaped}");
            assert!(!escaped.contains("__"), "{escaped}");
            assert_eq!(unescape(&escaped).as_deref(), Some(name.as_bytes()));
            assert!(seen.insert(escaped), "{name:?}");
        }
        assert_eq!(escape("photos"), "photos");
        assert_eq!(escape("my_photos"), "my_5Fphotos");
        assert_eq!(escape("2024/jan"), "2024_2Fjan");
        assert_eq!(escape("ü"), "_C3_BC");
    }

    #[test]
    fn bucket_names_are_distinct_and_short_enough() {
        let prefixes = ["p", &"q".repeat(MAX_PREFIX_LEN)];
        for prefix in prefixes {
            let mut seen = HashSet::new();
            for name in names() {
                let bucket = bucket_name(prefix, &name);
                assert!(bucket.len() <= MAX_BUCKET_LEN, "{bucket}");
                assert!(bucket.chars().all(bucket_char), "{bucket}");
                assert!(bucket.starts_with(&format!("{prefix}_")), "{bucket}");
                let rest = &bucket[prefix.len() + 1..];
                match rest.split_once("__") {
                    // Shortened: a part of the escaped name, then the digest.
                    Some((part, digest)) => {
                        assert_eq!(digest.len(), 64, "{bucket}");
                        assert!(escape(&name).starts_with(part), "{bucket}");
                        assert!(unescape(part).is_some(), "cut inside an escape: {bucket}");
                        assert!(format!("{prefix}_{}", escape(&name)).len() > MAX_BUCKET_LEN);
                    }
                    None => assert_eq!(rest, escape(&name)),
                }
                assert!(seen.insert(bucket), "{name:?}");
            }
        }
        assert_eq!(
            bucket_name("skiff-app-media", "photos"),
            "skiff-app-media_photos"
        );
    }

    #[test]
    fn prefixes() {
        assert_eq!(default_prefix(Some("app"), "media"), "skiff-app-media");
        assert_eq!(default_prefix(Some("my.app"), "a b"), "skiff-my_app-a_b");
        assert_eq!(default_prefix(None, "media"), "skiff-media");
        assert_eq!(check_prefix("skiff-app_1"), Ok(()));
        assert!(check_prefix("").is_err());
        assert!(check_prefix("a.b").unwrap_err().contains("letters, digits"));
        assert!(
            check_prefix(&"x".repeat(101))
                .unwrap_err()
                .contains("limit is 100")
        );
    }
}
